"""A TensorBoard training loop: a ``SummaryWriter`` (tensorboardX's, the API of
``torch.utils.tensorboard``) writing scalars under ``runs/`` of the working directory,
one per epoch. It knows nothing of hypersweep."""

import argparse
import time

from tensorboardX import SummaryWriter

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--epochs", type=int, default=6)
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--logdir", default="runs/exp")
args = parser.parse_args()

writer = SummaryWriter(args.logdir)
for epoch in range(args.epochs):
    loss = 1.0 / (1.0 + 100 * args.lr * (epoch + 1))
    writer.add_scalar("Loss/train", loss * 1.1, epoch)
    writer.add_scalar("Loss/val", loss, epoch)
    writer.add_scalar("lr", args.lr, epoch)
    writer.flush()
    time.sleep(args.sleep)
writer.close()
