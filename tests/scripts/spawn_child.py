"""Start a child process that ignores SIGINT and sleeps; write its pid to child.pid.

``--then=exit``: exit at once (leaving the child behind); ``--then=wait`` (default):
sleep until stopped.
"""

import os
import subprocess
import sys
import time

then = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--then=")), "wait")
child = subprocess.Popen(
    [
        sys.executable,
        "-c",
        "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(120)",
    ]
)
with open(os.path.join(os.environ["HYPERSWEEP_RUN_DIR"], "child.pid"), "w") as f:
    f.write(str(child.pid))
print("loss=1", flush=True)
if then == "wait":
    for _ in range(1200):
        time.sleep(0.1)
