"""Report through the in-trial SDK: loss = 10 - step, acc = step / 10, for n steps.

Params: n (steps), pause (seconds between steps), nan_at (report loss=NaN at that step).
When told to stop it writes stopped.txt into its run directory and exits 0.
"""

import os
import time

import hypersweep

p = hypersweep.params()
run_dir = os.environ["HYPERSWEEP_RUN_DIR"]
for step in range(int(p.get("n", 3))):
    loss = float("nan") if step == p.get("nan_at") else 10.0 - step
    hypersweep.report(step=step, loss=loss, acc=step / 10)
    print("loss=12345")  # ignored: this trial reports through the SDK
    time.sleep(float(p.get("pause", 0)))
    if hypersweep.should_stop():
        with open(os.path.join(run_dir, "stopped.txt"), "w", encoding="utf-8") as f:
            f.write(f"step {step}\n")
        break
