"""Stand-in for the training script of an Azure ML or W&B sweep file.

Records what it received (argv, working directory, HYPERSWEEP_PARAMS) in
``$HYPERSWEEP_RUN_DIR/standin.json`` and reports the metrics named in ``STANDIN_METRICS``
(comma-separated) for ``STANDIN_STEPS`` steps as JSON lines of the metrics file, so names
such as ``Validation/Accuracy`` work. Values fall with the step (a minimize-friendly curve).
"""

import json
import os
import sys

run_dir = os.environ["HYPERSWEEP_RUN_DIR"]
seen = {
    "argv": sys.argv[1:],
    "program": os.path.basename(sys.argv[0]),
    "cwd": os.getcwd(),
    "params": json.loads(os.environ.get("HYPERSWEEP_PARAMS", "{}")),
}
with open(os.path.join(run_dir, "standin.json"), "w", encoding="utf-8") as f:
    json.dump(seen, f)
names = [n for n in os.environ.get("STANDIN_METRICS", "loss").split(",") if n]
steps = int(os.environ.get("STANDIN_STEPS", "1"))
with open(os.environ["HYPERSWEEP_METRICS_FILE"], "a", encoding="utf-8") as out:
    for step in range(steps):
        out.write(json.dumps({"step": step, **{n: 1.0 / (step + 1) for n in names}}) + "\n")
        out.flush()
