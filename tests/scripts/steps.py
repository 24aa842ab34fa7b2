"""Print ``step=<i> loss=<10 - i>`` every $PAUSE seconds (default 0.05) for $STEPS steps
(default 200)."""

import os
import time

pause = float(os.environ.get("PAUSE", "0.05"))
for i in range(int(os.environ.get("STEPS", "200"))):
    print(f"step={i} loss={10 - i}")  # no flush: PYTHONUNBUFFERED does it
    time.sleep(pause)
