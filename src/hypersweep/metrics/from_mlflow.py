"""Metrics from an MLflow file store (``MLFLOW_TRACKING_URI=file:<run folder>/mlruns``),
read as they are logged, without importing mlflow.

The file store keeps one file per metric of a run,
``<store>/<experiment id>/<run id>/metrics/<name>`` (a ``/`` in the name is a sub-folder),
one line per logged value: ``<timestamp ms> <value> <step>``. Every run of the store is
read (a script may start several); nested runs (``mlflow.parentRunId`` tag, e.g. the
candidates of an autologged ``GridSearchCV``) are skipped: their metrics would overwrite
the parent's. A value logged again at a step not past that metric's last (``log_metric``
without ``step`` logs at 0) counts as the next step.
"""

from __future__ import annotations

import os
from urllib.parse import unquote, urlparse

from hypersweep.metrics.base import MAX_SCAN, Point, StepOrder, walk_files
from hypersweep.metrics.tail import Tail

__all__ = ["MlflowSource", "store_path"]

#: Bytes read per poll from one metric file.
READ_LIMIT = 1 << 20


def store_path(uri: str) -> str | None:
    """The folder of a local file-store tracking URI (``file:///x``, ``file:x``, a plain
    path), or ``None`` for a server or database URI.

    Example:
        >>> store_path("file:///tmp/run/mlruns"), store_path("sqlite:///m.db")
        ('/tmp/run/mlruns', None)
    """
    if "://" not in uri and not uri.startswith("file:"):
        return uri or None
    parsed = urlparse(uri)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        return None
    return unquote(parsed.path) or None


class MlflowSource:
    """The metrics of the runs of one MLflow file store."""

    name = "mlflow"

    def __init__(self, store: str) -> None:
        self.store = store
        self.tails: dict[str, tuple[str, Tail]] = {}  # file -> (metric name, its tail)
        self.nested: set[str] = set()  # run folders skipped
        self.order = StepOrder()

    def _scan(self) -> None:
        try:
            experiments = [e.path for e in os.scandir(self.store) if e.is_dir()]
        except OSError:
            return
        budget = MAX_SCAN
        for exp in experiments:
            if os.path.basename(exp).startswith("."):  # .trash
                continue
            try:
                runs = [r.path for r in os.scandir(exp) if r.is_dir()]
            except OSError:
                continue
            for run in runs:
                metrics = os.path.join(run, "metrics")
                if run in self.nested or not os.path.isdir(metrics):
                    continue
                if os.path.exists(os.path.join(run, "tags", "mlflow.parentRunId")):
                    self.nested.add(run)
                    continue
                for d, names in walk_files(metrics, budget):
                    budget -= len(names) + 1
                    for n in names:
                        path = os.path.join(d, n)
                        if path not in self.tails:
                            rel = os.path.relpath(path, metrics).replace(os.sep, "/")
                            self.tails[path] = (rel, Tail(path))

    def poll(self, final: bool = False) -> list[Point]:
        self._scan()
        rows: list[tuple[float, int, str, float]] = []
        for name, tail in self.tails.values():
            lines = tail.lines(final, READ_LIMIT)
            while final and tail.more:  # the trial has ended: read to the end
                lines += tail.lines(final, READ_LIMIT)
            for raw in lines:
                parts = raw.split()
                if len(parts) < 2:
                    continue
                try:
                    stamp, value = float(parts[0]), float(parts[1])
                    step = int(parts[2]) if len(parts) > 2 else 0
                except ValueError:
                    continue
                rows.append((stamp, step, name, value))
        rows.sort(key=lambda r: (r[0], r[1]))  # as logged
        return [
            (name, value, self.order.step(name, max(step, 0))) for _, step, name, value in rows
        ]

    def close(self) -> None:
        for _, tail in self.tails.values():
            tail.close()
