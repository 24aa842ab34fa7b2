"""A changed space under an existing study name is an explicit choice (issue 17 point 6):
refused by default with one line; ``--new-name`` runs under another name; ``--extend-space``
/ ``extend_space=True`` extends it, and every earlier trial stays counted and shown (never
hidden from ``best``/``status``), while trials that do not fit the new space stay out of
the sampler's model."""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

import pytest

import hypersweep as hs
from hypersweep.errors import SpecError

HERE = Path(__file__).resolve().parents[1]
PY = sys.executable


def sweep(tmp_path: Path, space: str, max_trials: int) -> Path:
    shutil.copy(HERE / "sweeps" / "quad.py", tmp_path / "quad.py")
    p = tmp_path / "sweep.yaml"
    body = "".join(f"  {line}\n" for line in space.splitlines())
    p.write_text(
        "name: quad\n"
        f'command: ["{PY}", "quad.py", "--steps", "1"]\n'
        f"space:\n{body}"
        "objective: {metric: loss, goal: minimize}\n"
        "sampler: {name: random, seed: 1}\n"
        f"storage: sqlite:///{tmp_path / 's.db'}\n"
        f"limits: {{max_trials: {max_trials}, max_concurrent: 2}}\n",
        encoding="utf-8",
    )
    return p


class Result:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def cli(tmp_path: Path, *args: str, monkeypatch: pytest.MonkeyPatch) -> Result:
    """The ``hypersweep`` command, in this process (its trials are real processes)."""
    import contextlib
    import io

    from hypersweep import cli as cli_mod

    monkeypatch.chdir(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli_mod.main(list(args))
    return Result(rc, out.getvalue(), err.getvalue())


def test_cli_refuses_then_new_name_or_extend_space(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def run(*args: str) -> Result:
        return cli(tmp_path, *args, monkeypatch=monkeypatch)

    url = f"sqlite:///{tmp_path / 's.db'}"
    # x near 1: losses close to 0; the extended space adds y >= 1 (losses >= 1)
    f = sweep(tmp_path, "x: uniform(0.99, 1.01)", 3)
    assert run("run", str(f), "--progress", "off").returncode == 0
    f = sweep(tmp_path, "x: uniform(0.99, 1.01)\ny: choice(1, 2)", 6)

    r = run("run", str(f), "--progress", "off")
    assert r.returncode == 2
    [line] = r.stderr.strip().splitlines()
    assert "study 'quad' in " in line and "has a different search space (added y)" in line
    assert "--new-name NAME" in line and "--extend-space" in line
    study = hs.Study.load("quad", storage=url)
    assert len(study.trials()) == 3 and set(study.space.to_spec()) == {"x"}  # untouched

    r = run("run", str(f), "--new-name", "quad-y", "--max-trials", "2", "--progress", "off")
    assert r.returncode == 0, r.stderr
    assert len(hs.Study.load("quad-y", storage=url).trials()) == 2
    r = run("run", str(f), "--new-name", "quad-y", "--progress", "off")
    assert r.returncode == 2
    assert r.stderr.strip() == (
        f"error: --new-name: study 'quad-y' already exists in {url}; "
        "choose another name, or resume it with --name quad-y"
    )

    r = run("run", str(f), "--extend-space", "--progress", "off")
    assert r.returncode == 0, r.stderr
    study = hs.Study.load("quad", storage=url)
    trials = study.trials()
    assert len(trials) == 6  # max_trials counts the earlier trials
    assert [set(t.params) for t in trials] == [{"x"}] * 3 + [{"x", "y"}] * 3
    assert study.outside_space() == [0, 1, 2]
    old_best = min(trials[:3], key=lambda t: t.value)
    assert old_best.value < 0.001 and all(t.value >= 1 for t in trials[3:])
    assert study.best_trial.number == old_best.number  # never hidden

    r = run("status", "quad", "--storage", url)
    assert r.returncode == 0, r.stderr
    assert f"(trial {old_best.number})" in r.stdout
    assert "(from an earlier search space)" in r.stdout
    assert "3 trials from an earlier search space" in r.stdout
    assert "6 (6 completed, 0 failed)" in r.stdout
    r = run("best", "quad", "--storage", url, "--json")
    assert json.loads(r.stdout)["number"] == old_best.number
    r = run("export", "quad", "--storage", url, "--csv", "out.csv")
    with open(tmp_path / "out.csv", encoding="utf-8") as fh:
        assert len(list(csv.DictReader(fh))) == 6


def test_python_api_refuses_and_extends(postgres_url: str) -> None:
    space = {"x": hs.Float(0, 1)}
    s = hs.Study("py", space=space, storage=postgres_url, sampler="tpe", seed=0)
    for v in (0.001, 0.5, 0.7):
        s.enqueue({"x": v})
        s.tell(s.ask(), v)
    wider = {"x": hs.Float(0, 1), "lr": hs.Float(1e-4, 1e-1, log=True)}
    with pytest.raises(SpecError) as info:
        hs.Study("py", space=wider, storage=postgres_url)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("space: study 'py' in ")
    assert "(added lr)" in str(info.value)
    same = hs.Study("py", space=space, storage=postgres_url)  # the same space resumes
    assert len(same.trials()) == 3

    ext = hs.Study(
        "py", space=wider, storage=postgres_url, sampler="tpe", seed=0, extend_space=True
    )
    assert hs.Study.load("py", postgres_url).space.to_spec() == ext.space.to_spec()
    assert ext.outside_space() == [0, 1, 2]
    assert not ext.history.valid.any()  # out of the sampler's model: no made-up lr
    for _ in range(12):
        t = ext.ask()
        assert set(t.params) == {"x", "lr"}
        ext.tell(t, 1.0 + t.params["x"])
    assert ext.best_trial.number == 0 and ext.best_value == 0.001
    assert ext.summary()["outside_space"] == 3
    assert ext.summary()["best"]["number"] == 0
    narrower = {"x": hs.Float(0.4, 1), "lr": hs.Float(1e-4, 1e-1, log=True)}
    n = hs.Study("py", space=narrower, storage=postgres_url, extend_space=True)
    assert n.outside_space()[:3] == [0, 1, 2]  # x=0.001 and the earlier ones without lr
    assert n.best_trial.number == 0
