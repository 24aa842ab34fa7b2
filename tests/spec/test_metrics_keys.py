"""The sweep-file keys of the "scripts as they are" issue: ``metrics: {source, patterns,
logdir}``, ``workdir: per_trial`` and the ``{trial}``-style placeholders."""

from __future__ import annotations

from pathlib import Path

import pytest

from hypersweep.spec import SweepFileError, load_text

BASE = """\
name: s
command: python train.py --lr {lr} --out {trial_dir}/model.pt --tag {study}-{trial}
space: {lr: loguniform(1e-4, 1e-1)}
objective: {metric: val_acc, goal: maximize}
"""


def test_defaults(tmp_path: Path) -> None:
    spec = load_text(BASE, base_dir=tmp_path)  # the trial placeholders pass the check
    assert spec.metrics_config.auto and not spec.per_trial and spec.workdir == tmp_path


def test_metrics_and_per_trial(tmp_path: Path) -> None:
    text = BASE + (
        "workdir: per_trial\n"
        "metrics: {source: [stdout, tensorboard], reduce: max, "
        "patterns: {val_acc: 'acc=([0-9.]+)%'}, logdir: 'tb/{trial}'}\n"
    )
    spec = load_text(text, base_dir=tmp_path)
    assert spec.per_trial and spec.workdir == tmp_path and spec.reduce == "max"
    cfg = spec.metrics_config
    assert cfg.sources == ("stdout", "tensorboard") and not cfg.auto
    assert dict(cfg.patterns) == {"val_acc": "acc=([0-9.]+)%"} and cfg.logdirs == ("tb/{trial}",)
    assert spec.sweep_attrs()["per_trial"] is True


def test_per_trial_with_a_base_folder(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    spec = load_text(BASE + "workdir: {path: src, per_trial: true}\n", base_dir=tmp_path)
    assert spec.per_trial and spec.workdir == tmp_path / "src"


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ("metrics: {source: stdot}\n", "metrics.source: unknown source 'stdot' (did you mean"),
        ("metrics: {patterns: {val_acc: 'acc=[0-9]+'}}\n", "metrics.patterns.val_acc: "),
        ("metrics: {sources: auto}\n", "metrics.sources: unknown key 'sources' (did you mean"),
        ("workdir: {per_trial: yes please}\n", "workdir.per_trial: expected true or false"),
        ("workdir: {path: nowhere, per_trial: true}\n", "workdir.path: directory"),
    ],
)
def test_errors_are_located(tmp_path: Path, extra: str, where: str) -> None:
    with pytest.raises(SweepFileError) as e:
        load_text(BASE + extra, base_dir=tmp_path)
    assert where in str(e.value)


def test_an_unknown_placeholder_still_fails(tmp_path: Path) -> None:
    with pytest.raises(SweepFileError, match=r"placeholder \{trail\} is not a parameter"):
        load_text(BASE.replace("{trial}", "{trail}"), base_dir=tmp_path)
