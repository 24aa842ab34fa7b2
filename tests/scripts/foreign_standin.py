"""Stand-in for the training script of an Azure ML or W&B sweep file.

Records what it received (argv, working directory, HYPERSWEEP_PARAMS) in
``$HYPERSWEEP_RUN_DIR/standin.json`` and reports the metrics named in ``STANDIN_METRICS``
(comma-separated) for ``STANDIN_STEPS`` steps as JSON lines of the metrics file, so names
such as ``Validation/Accuracy`` work. Values fall with the step (a minimize-friendly curve);
with ``STANDIN_SPREAD`` set, trials differ by a factor taken from their argv, and with
``STANDIN_SLEEP`` (seconds a step) the script stops when asked (STOP file or SIGINT) and
records how many steps it reported.
"""

import json
import os
import signal
import sys
import time
import zlib

run_dir = os.environ["HYPERSWEEP_RUN_DIR"]
seen = {
    "argv": sys.argv[1:],
    "program": os.path.basename(sys.argv[0]),
    "cwd": os.getcwd(),
    "params": json.loads(os.environ.get("HYPERSWEEP_PARAMS", "{}")),
}
names = [n for n in os.environ.get("STANDIN_METRICS", "loss").split(",") if n]
steps = int(os.environ.get("STANDIN_STEPS", "1"))
pause = float(os.environ.get("STANDIN_SLEEP", "0"))
spread = 1.0
if os.environ.get("STANDIN_SPREAD"):
    spread = 1.0 + zlib.crc32(" ".join(sys.argv[1:]).encode()) % 5
stop_file = os.environ.get("HYPERSWEEP_STOP_FILE", "")
# The stop file and SIGINT come together: SIGINT only raises a flag, so a script that saw
# the file first is not interrupted while it records (and the record is written whole).
interrupted: list[int] = []
signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(signum))
done = 0
with open(os.environ["HYPERSWEEP_METRICS_FILE"], "a", encoding="utf-8") as out:
    for step in range(steps):
        if interrupted or (stop_file and os.path.exists(stop_file)):
            break
        value = spread / (step + 1)
        out.write(json.dumps({"step": step, **{n: value for n in names}}) + "\n")
        out.flush()
        done += 1
        time.sleep(pause)
seen["steps"] = done
record = os.path.join(run_dir, "standin.json")
with open(record + ".tmp", "w", encoding="utf-8") as f:
    json.dump(seen, f)
os.replace(record + ".tmp", record)
