"""An MLflow script as Azure's scikit-learn iris example has it (``mlflow.autolog()``, an
SVC on iris), plus a per-epoch learning curve logged with ``mlflow.log_metric``. It knows
nothing of hypersweep: parameters arrive as arguments, metrics go to MLflow only."""

import argparse
import time

import mlflow
from sklearn import datasets
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

parser = argparse.ArgumentParser()
parser.add_argument("--kernel", type=str, default="rbf")
parser.add_argument("--C", type=float, default=1.0)
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--epochs", type=int, default=6)
parser.add_argument("--sleep", type=float, default=0.0)
args = parser.parse_args()

mlflow.autolog(log_models=False, log_datasets=False)
X, y = datasets.load_iris(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)

with mlflow.start_run():
    SVC(kernel=args.kernel, C=args.C).fit(X_train, y_train)  # autolog: training_* metrics
    clf = SGDClassifier(learning_rate="constant", eta0=args.lr, random_state=0)
    for epoch in range(args.epochs):
        clf.partial_fit(X_train, y_train, classes=[0, 1, 2])
        loss = 1.0 / (1.0 + 100 * args.lr * (epoch + 1))  # falls fast for a good lr
        mlflow.log_metric("val_loss", loss, step=epoch)
        mlflow.log_metric("val_accuracy", clf.score(X_test, y_test), step=epoch)
        time.sleep(args.sleep)
