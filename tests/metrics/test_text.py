"""Metric values in text lines: every name=value pair, percentages, thousands separators,
the ``name value`` form of declared metrics, the sweep's patterns."""

from __future__ import annotations

import pytest

from hypersweep.errors import SpecError
from hypersweep.metrics.text import LineParser, compile_pattern, parse_number


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("93.1%", 93.1),
        ("1,234.5", 1234.5),
        ("1,234,567", 1234567.0),
        ("0.5,", 0.5),
        ("(0.25)", 0.25),
        ("3.", 3.0),
        ("nan", "nan"),  # a float NaN: checked below
        ("1,23", "1,23"),  # not a thousands separator
        ("abc", "abc"),
    ],
)
def test_parse_number(raw: str, want: object) -> None:
    got = parse_number(raw)
    if want == "nan":
        assert isinstance(got, float) and got != got
    else:
        assert got == want


def test_every_pair_is_read_with_its_step() -> None:
    p = LineParser(["val_acc"])
    step, found = p.parse("Epoch 3/10: train_loss=0.51, val_acc: 93.1%, lr=1e-3; n=1,024")
    assert step == 3
    assert found == {"train_loss": 0.51, "val_acc": 93.1, "lr": 0.001, "n": 1024.0}


def test_loss_with_thousands_separator_is_not_cut() -> None:
    assert LineParser(["loss"]).parse("loss: 1,234.5")[1] == {"loss": 1234.5}


def test_name_value_form_for_declared_metrics_only() -> None:
    p = LineParser(["loss"])
    assert p.parse("INFO: epoch 0 = loss 15.3") == (0, {"loss": 15.3})
    assert p.parse("using 4 workers, batch 32") == (None, {})


def test_text_values_are_kept_for_declared_metrics_only() -> None:
    p = LineParser(["acc"])
    assert p.parse("acc=high mode=fast time: 12:30:01") == (None, {"acc": "high"})


def test_step_and_epoch_are_never_metrics() -> None:
    assert LineParser([]).parse("step=4 epoch: 2 loss=0.1") == (4, {"loss": 0.1})


def test_names_stand_alone() -> None:
    assert LineParser(["loss"]).parse("x/val_loss=0.3")[1] == {"x/val_loss": 0.3}
    assert "loss" not in LineParser(["loss"]).parse("val_loss=0.3")[1]


def test_json_objects_and_python_dicts() -> None:
    p = LineParser(["acc"])
    assert p.parse('{"epoch": 2, "acc": 0.9, "tag": "x", "ok": true}') == (2, {"acc": 0.9})
    assert p.parse("{'acc': 0.8, 'loss': 0.2}") == (None, {"acc": 0.8, "loss": 0.2})


def test_patterns_value_and_step_groups() -> None:
    p = LineParser([], {"val_acc": r"acc=([0-9.]+)%", "f1": r"it (?P<step>\d+) f1 (?P<value>\S+)"})
    assert p.parse("val acc=91.5% done")[1]["val_acc"] == 91.5
    assert p.parse("it 7 f1 0.66") == (7, {"f1": 0.66})
    # patterns only: pairs are left alone
    assert p.parse("acc=90% loss=3", pairs=False) == (None, {"val_acc": 90.0})


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("acc=([0-9.]+", "not a regular expression"),
        ("acc=[0-9.]+", "has no group"),
        (3, "expected"),
    ],
)
def test_bad_patterns_name_their_key(pattern: object, message: str) -> None:
    with pytest.raises(SpecError, match=message) as e:
        compile_pattern("val_acc", pattern)
    assert e.value.path == "metrics.patterns.val_acc"
