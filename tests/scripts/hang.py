"""Sleep for a long time. ``--ignore=int`` / ``--ignore=int,term`` ignores those signals."""

import os
import signal
import sys
import time

ignore = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--ignore=")), "")
if "int" in ignore.split(","):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
if "term" in ignore.split(","):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
with open(os.path.join(os.environ["HYPERSWEEP_RUN_DIR"], "ready"), "w") as f:
    f.write(str(os.getpid()))
for _ in range(600):
    time.sleep(0.1)
