"""Record what this trial received (argv, protocol environment, params file); print loss=1."""

import json
import os
import sys

seen = {
    "argv": sys.argv[1:],
    "env": {k: v for k, v in os.environ.items() if k.startswith("HYPERSWEEP_")},
    "cwd": os.getcwd(),
    "extra": os.environ.get("EXTRA_VAR"),
}
path = os.environ.get("HYPERSWEEP_PARAMS_FILE")
if path:
    with open(path, encoding="utf-8") as f:
        seen["params_file"] = json.load(f)
with open(os.path.join(os.environ["HYPERSWEEP_RUN_DIR"], "seen.json"), "w", encoding="utf-8") as f:
    json.dump(seen, f)
print("loss=1")
