"""hypersweep enqueue / reevaluate / best --robust, {seed} in a command, status cost."""

from __future__ import annotations

import json
import os
import sys
import textwrap

import hypersweep as hs
from hypersweep import cli
from hypersweep._sequence import trial_seed
from hypersweep.trial import TrialState

SCRIPT = """\
import argparse, os, random
p = argparse.ArgumentParser()
p.add_argument("--x", type=float)
p.add_argument("--seed", type=int)
a = p.parse_args()
assert a.seed == int(os.environ["HYPERSWEEP_SEED"])
print(f"loss={(a.x - 1) ** 2 + random.Random(a.seed).gauss(0, 0.5)!r}")
"""


def sweep(tmp_path):
    (tmp_path / "noisy.py").write_text(SCRIPT)
    p = tmp_path / "noisy.yaml"
    p.write_text(
        textwrap.dedent(f"""\
        name: noisy
        command: ["{sys.executable}", "noisy.py", "--x", "{{x}}", "--seed", "{{seed}}"]
        space:
          x: uniform(-1, 3)
        objective: {{metric: loss, goal: minimize}}
        sampler: {{name: random, seed: 4}}
        storage: sqlite:///{tmp_path}/s.db
        limits: {{max_trials: 5, max_concurrent: 2}}
        """)
    )
    return p


def test_seeded_command_reevaluate_and_robust_best(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    f = sweep(tmp_path)
    assert cli.main(["run", str(f), "--progress", "off"]) == 0
    study = hs.Study.load("noisy", storage=f"sqlite:///{tmp_path}/s.db")
    assert all(t.state == TrialState.COMPLETED for t in study.trials())  # seed == env
    capsys.readouterr()
    assert cli.main(["reevaluate", str(f), "--top", "2", "--seeds", "2"]) == 0
    out = capsys.readouterr().out
    assert "queued 4 re-evaluation trials" in out and "±" in out
    study.sync()
    again = [t for t in study.trials() if "reevaluates" in t.system_attrs]
    assert len(again) == 4 and all(t.state == TrialState.COMPLETED for t in again)
    run_dir = tmp_path / ".hypersweep" / "runs" / "noisy" / str(again[0].number)
    assert os.path.isdir(run_dir)
    assert cli.main(["best", str(f), "--robust", "--json"]) == 0
    best = json.loads(capsys.readouterr().out)
    assert best["number"] == study.robust_ranking()[0].number and len(best["values"]) == 3
    assert cli.main(["status", str(f)]) == 0
    assert "trial-seconds" in capsys.readouterr().out
    assert cli.main(["status", str(f), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["trial_seconds"] > 0
    seeds = {t.number: study.trial_seed(t) for t in study.trials()}
    assert seeds[0] == trial_seed(study.seed, 0)


def test_best_robust_without_reevaluations_says_what_to_do(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/s.db"
    s = hs.Study("plain", space={"x": hs.Float(0, 1)}, storage=url, seed=0)
    s.tell(s.ask(), 1.0)
    assert cli.main(["best", "plain", "--robust", "--storage", url]) == 1
    assert "hypersweep reevaluate plain" in capsys.readouterr().err


def test_enqueue_from_a_file_and_from_a_study(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/s.db"
    src = hs.Study("src", space={"x": hs.Float(0, 1)}, storage=url, seed=0)
    for _ in range(5):
        t = src.ask()
        src.tell(t, t.params["x"])
    dst = hs.Study("dst", space={"x": hs.Float(0, 1)}, storage=url, seed=0)
    good = tmp_path / "good.json"
    good.write_text(json.dumps([{"x": 0.25}, {"x": 0.5}]))
    assert cli.main(["enqueue", "dst", str(good), "--storage", url]) == 0
    assert "queued 2 configurations" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"x": 0.25}, {"x": 5}]))
    assert cli.main(["enqueue", "dst", str(bad), "--storage", url]) == 2
    err = capsys.readouterr().err
    assert "bad.json[1]" in err and "x" in err
    assert cli.main(["enqueue", "dst", "--from", "src", "--top", "2", "--storage", url]) == 0
    assert "queued 2 configurations of src" in capsys.readouterr().out
    dst.sync()
    queued = [t.params for t in dst.trials([TrialState.QUEUED])]
    best2 = [t.params for t in sorted(src.trials(), key=lambda t: t.value)[:2]]
    assert queued == [{"x": 0.25}, {"x": 0.5}, *best2]
    assert cli.main(["enqueue", "dst", "--from", "nope", "--storage", url]) == 2
    assert "no study 'nope'" in capsys.readouterr().err
