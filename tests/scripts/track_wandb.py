"""A W&B training loop as wandb/sweeps' ``train.py`` has it: ``wandb.init`` with the
arguments as config, ``wandb.log`` once per epoch, a summary value at the end. It knows
nothing of hypersweep."""

import argparse
import math
import time

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--learning_rate", type=float, default=0.01)
parser.add_argument("--epochs", type=int, default=6)
parser.add_argument("--sleep", type=float, default=0.0)
args = parser.parse_args()

run = wandb.init(project="hypersweep-test", config=vars(args))
config = wandb.config
best = math.inf
for epoch in range(config.epochs):
    loss = 1.0 / (1.0 + 100 * config.learning_rate * (epoch + 1))
    acc = 1.0 - loss / 2
    best = min(best, loss)
    wandb.log({"epoch": epoch, "loss": loss, "val": {"acc": acc}})
    time.sleep(config.sleep)
run.summary["best_loss"] = best
run.finish()
