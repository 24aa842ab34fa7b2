"""Train a small neural network on the digits data set, one epoch at a time.

An ordinary training script: it knows nothing about hypersweep. It takes its
hyperparameters as command-line options and prints the validation accuracy after every
epoch::

    $ python train.py --lr 0.003 --hidden 64 --epochs 3
    epoch=0 val_accuracy=0.9111 train_loss=1.1736
    epoch=1 val_accuracy=0.9533 train_loss=0.2808
    epoch=2 val_accuracy=0.9689 train_loss=0.1518

hypersweep sweeps it through ``sweep.yaml`` and reads ``val_accuracy`` from those lines.
The data set (1,797 8x8 images of handwritten digits) ships with scikit-learn: nothing is
downloaded.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler


def load_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A fixed, stratified 75/25 train/validation split, standardized on the training part."""
    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=0.25, random_state=seed, stratify=y
    )
    scaler = StandardScaler().fit(x_train)
    return scaler.transform(x_train), scaler.transform(x_val), y_train, y_val


def make_model(
    lr: float, hidden: int, alpha: float, batch_size: int, activation: str, seed: int = 0
) -> MLPClassifier:
    """One hidden layer; ``partial_fit`` trains it for one epoch per call."""
    return MLPClassifier(
        hidden_layer_sizes=(hidden,),
        activation=activation,
        solver="adam",
        learning_rate_init=lr,
        alpha=alpha,
        batch_size=batch_size,
        random_state=seed,
    )


def train_epochs(args: argparse.Namespace):
    """Yield ``(epoch, val_accuracy, train_loss)`` after each epoch."""
    x_train, x_val, y_train, y_val = load_data(args.seed)
    model = make_model(
        args.lr, args.hidden, args.alpha, args.batch_size, args.activation, args.seed
    )
    classes = np.unique(y_train)
    for epoch in range(args.epochs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a huge learning rate may overflow: let it show
            model.partial_fit(x_train, y_train, classes=classes)
        yield epoch, float(model.score(x_val, y_val)), float(model.loss_)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--hidden", type=int, default=64, help="units in the hidden layer")
    p.add_argument("--alpha", type=float, default=1e-4, help="L2 penalty")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--activation", choices=("relu", "tanh", "logistic"), default="relu")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main() -> None:
    args = parse_args()
    for epoch, acc, loss in train_epochs(args):
        print(f"epoch={epoch} val_accuracy={acc:.4f} train_loss={loss:.4f}", flush=True)


if __name__ == "__main__":
    main()
