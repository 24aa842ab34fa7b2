"""A stand-in for examples/digits/train.py that takes its options and prints its metric at
once: ``val_accuracy`` from the parameters, after ``--sleep`` seconds (default 0.05; the
environment's FAST_TRAIN_SLEEP, when set, overrides it without changing the command)."""

import argparse
import math
import os
import time

p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=1)
p.add_argument("--lr", type=float, required=True)
p.add_argument("--hidden", type=int, required=True)
p.add_argument("--alpha", type=float, required=True)
p.add_argument("--batch_size", type=int, required=True)
p.add_argument("--activation", required=True)
p.add_argument("--sleep", type=float, default=0.05)
a = p.parse_args()
time.sleep(float(os.environ.get("FAST_TRAIN_SLEEP", a.sleep)))
acc = 1 / (1 + abs(math.log10(a.lr) + 2.5)) * (1 - a.alpha) * (0.9 + a.hidden / 1280)
print(f"epoch=0 val_accuracy={acc:.6f}", flush=True)
