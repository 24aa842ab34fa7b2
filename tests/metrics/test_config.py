"""The ``metrics:`` key: which sources are read, its checks, the trackers' environment."""

from __future__ import annotations

import pytest

from hypersweep.errors import SpecError
from hypersweep.metrics import SOURCES, MetricsConfig


def test_default_is_auto_with_every_source() -> None:
    cfg = MetricsConfig.parse(None)
    assert cfg.auto and cfg.sources == SOURCES
    env = cfg.env("/r/3")
    assert env["MLFLOW_TRACKING_URI"] == "file:///r/3/mlruns"
    assert env["WANDB_MODE"] == "offline" and env["WANDB_DIR"] == "/r/3"


def test_a_list_of_sources_with_aliases() -> None:
    cfg = MetricsConfig.parse({"source": ["TB", "stdout", "stdout"]})
    assert not cfg.auto and cfg.sources == ("stdout", "tensorboard")
    assert cfg.env("/r") == {}  # neither MLflow nor W&B is pointed anywhere


@pytest.mark.parametrize(
    ("raw", "path", "message"),
    [
        ({"source": "mlfow"}, "metrics.source", "did you mean 'mlflow'"),
        ({"source": ["stdout", 3]}, "metrics.source[1]", "unknown source 3"),
        ({"source": []}, "metrics.source", "expected auto"),
        ({"patterns": ["acc"]}, "metrics.patterns", "expected a mapping"),
        ({"patterns": {"acc": "acc=(\\d"}}, "metrics.patterns.acc", "not a regular expression"),
        ({"source": "mlflow", "patterns": {"a": "(x)"}}, "metrics.patterns", "add stdout"),
        ({"logdir": 3}, "metrics.logdir", "expected a folder"),
    ],
)
def test_errors_name_the_key(raw: dict[str, object], path: str, message: str) -> None:
    with pytest.raises(SpecError, match=message) as e:
        MetricsConfig.parse(raw)
    assert e.value.path == path
