"""Print the file named by $EMIT_FILE verbatim (in pieces, to exercise partial lines),
then exit with $EMIT_EXIT (default 0)."""

import os
import sys
import time

with open(os.environ["EMIT_FILE"], encoding="utf-8") as f:
    text = f.read()
pause = float(os.environ.get("EMIT_PAUSE", "0"))
for i in range(0, len(text), 7):
    sys.stdout.write(text[i : i + 7])
    sys.stdout.flush()
    if pause:
        time.sleep(pause)
sys.exit(int(os.environ.get("EMIT_EXIT", "0")))
