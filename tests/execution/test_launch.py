"""Command trials in folders of their own (``per_trial``), the ``{trial}``,
``{trial_dir}``, ``{study}``, ``{workdir}`` placeholders, and a missing objective metric
that fails the run fast with the names that were reported."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import hypersweep as hs
from hypersweep.execution.command import CommandExecutor
from hypersweep.execution.command.launch import per_trial_argv
from hypersweep.execution.runner import Runner
from hypersweep.limits import Limits
from hypersweep.trial import TrialState

PY = sys.executable

# writes a fixed path in its working directory, waits until all three trials did, and
# checks that nobody else wrote it
FIXED = """\
import glob, json, os, sys, time
with open("model.txt", "w") as f:
    f.write(sys.argv[1])
shared = os.environ["HYPERSWEEP_WORKDIR"]
open(os.path.join(shared, "started." + sys.argv[1]), "w").close()
end = time.time() + 30
while len(glob.glob(os.path.join(shared, "started.*"))) < 3 and time.time() < end:
    time.sleep(0.05)
same = open("model.txt").read() == sys.argv[1]
print(json.dumps({"loss": 0.0 if same else 1.0, "argv": 1}))
print("ARGV " + json.dumps(sys.argv[1:]) + " CWD " + os.getcwd())
"""


def run(tmp_path: Path, command: list[str], n: int = 3, **kw: object) -> tuple[hs.Study, Runner]:
    study = hs.Study(
        "st", space={"x": hs.Float(0, 1)}, objective="loss", sampler="random", storage="memory"
    )
    ex = CommandExecutor(
        command,
        study_name="st",
        metrics=["loss"],
        runs_dir=tmp_path / "runs",
        workdir=str(tmp_path),
        max_concurrent=n,
        grace=1.0,
        **kw,  # type: ignore[arg-type]
    )
    runner = Runner(study, ex, Limits(max_trials=n, max_concurrent=n))
    runner.run()
    return study, runner


def test_per_trial_folders_let_fixed_paths_run_concurrently(tmp_path: Path) -> None:
    (tmp_path / "fixed.py").write_text(FIXED, encoding="utf-8")
    cmd = [PY, "fixed.py", "{trial}", "--out={trial_dir}/m.pt", "{study}", "{workdir}"]
    study, _ = run(tmp_path, cmd, per_trial=True)
    trials = study.trials()
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 3
    assert all(t.value == 0.0 for t in trials)  # no trial overwrote another's file
    for t in trials:
        run_dir = tmp_path / "runs" / "st" / str(t.number)
        line = (run_dir / "stdout.log").read_text().splitlines()[-1]
        argv = json.loads(line.split("ARGV ", 1)[1].split(" CWD ")[0])
        assert argv[:4] == [str(t.number), f"--out={run_dir}/m.pt", "st", str(tmp_path)]
        assert line.endswith(f"CWD {run_dir / 'work'}")
        assert (run_dir / "work" / "model.txt").read_text() == str(t.number)
    assert not (tmp_path / "model.txt").exists()


def test_a_shared_folder_collides(tmp_path: Path) -> None:
    """The same script without per_trial: the trials overwrite each other's file."""
    (tmp_path / "fixed.py").write_text(FIXED, encoding="utf-8")
    study, _ = run(tmp_path, [PY, "fixed.py", "{trial}"])
    assert sorted(t.value for t in study.trials()) != [0.0, 0.0, 0.0]


def test_per_trial_argv_resolves_the_script_only(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("", encoding="utf-8")
    got, module = per_trial_argv(["python3", "-u", "train.py", "data.csv"], str(tmp_path))
    assert got == ["python3", "-u", str(tmp_path / "train.py"), "data.csv"] and not module
    assert per_trial_argv(["python", "-m", "pkg.train"], str(tmp_path))[1]
    assert per_trial_argv(["./run.sh", "x"], "/w")[0] == ["/w/./run.sh", "x"]


def test_missing_objective_fails_fast_with_the_names_seen(tmp_path: Path) -> None:
    cmd = [PY, "-c", "print('epoch 1 val_los=0.3 accuracy=91%')"]
    study, runner = run(tmp_path, cmd, n=1, required=["loss"])
    (t,) = study.trials()  # one trial, not max_failures of them
    assert t.state == TrialState.FAILED
    assert t.error == (
        "metric 'loss' was not reported (did you mean 'val_los'?); the trial reported: "
        "accuracy, val_los; name one of them in objective.metric, or capture 'loss' with "
        "metrics.patterns"
    )
    assert runner.failed_fast is not None and "did you mean 'val_los'" in runner.failed_fast
    assert t.reports == {1: {"val_los": 0.3, "accuracy": 91.0}}  # kept as reported


def test_missing_objective_with_no_metric_at_all(tmp_path: Path) -> None:
    study, runner = run(tmp_path, [PY, "-c", "print('hello')"], n=1)
    (t,) = study.trials()
    assert "the trial reported no metric (read: jsonl, stdout, stderr, mlflow" in (t.error or "")
    assert runner.failed_fast is not None


def test_explicit_sources_leave_the_others_unread(tmp_path: Path) -> None:
    cmd = [PY, "-c", "import sys; print('loss=1'); print('loss=2', file=sys.stderr)"]
    study, _ = run(tmp_path, cmd, n=1, metrics_config={"source": "stderr"})
    (t,) = study.trials()
    assert t.value == 2.0 and list(t.reports) == [0]
