"""Print ``step=<i> loss=<10 - i>`` every $PAUSE seconds (default 0.05) for 200 steps."""

import os
import time

pause = float(os.environ.get("PAUSE", "0.05"))
for i in range(200):
    print(f"step={i} loss={10 - i}")  # no flush: PYTHONUNBUFFERED does it
    time.sleep(pause)
