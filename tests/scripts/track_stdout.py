"""A script that only prints: logging lines on stderr (``INFO: epoch 0 = loss 15.3``),
progress on stdout with percentages and thousands separators. It knows nothing of
hypersweep."""

import argparse
import logging
import sys
import time

logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--epochs", type=int, default=6)
parser.add_argument("--sleep", type=float, default=0.0)
args = parser.parse_args()

for epoch in range(args.epochs):
    loss = 1.0 / (1.0 + 100 * args.lr * (epoch + 1))
    logging.info("epoch %d = loss %.4f", epoch, loss)  # stderr
    print(
        f"Epoch {epoch}/{args.epochs}: accuracy={100 * (1 - loss / 2):.1f}%, "
        f"samples: {1234 * (epoch + 1):,}",
        flush=True,
    )
    sys.stderr.flush()
    time.sleep(args.sleep)
print(f"val acc {100 * (1 - loss / 2):.2f} %")
