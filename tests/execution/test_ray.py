"""The Ray executor against a real local Ray cluster (started here on 127.0.0.1, small:
two CPUs, two fake GPUs and a custom resource): the executor contract for function and
command trials, per-trial resources, a sweep file with ``executor: {ray: ...}``, the
digits example with fractional GPUs declared, and a killed worker node whose trial the
runner re-queues."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray", reason="the Ray executor needs ray: pip install -e '.[dev]'")

import hypersweep as hs  # noqa: E402
from hypersweep.execution.ray import RayExecutor  # noqa: E402
from hypersweep.execution.runner import Runner  # noqa: E402
from hypersweep.limits import Limits  # noqa: E402
from hypersweep.resources import Resources  # noqa: E402
from hypersweep.testing.contract_trials import function_trial  # noqa: E402
from hypersweep.testing.executors import ExecutorContract  # noqa: E402
from hypersweep.testing.ray_cluster import RayCluster  # noqa: E402
from hypersweep.trial import Trial, TrialState  # noqa: E402

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
Make = Any


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    with RayCluster(num_cpus=2, num_gpus=2, resources={"GPU_like": 4}) as c:
        ray.init(address=c.address, log_to_driver=False)
        try:
            yield c
        finally:
            ray.shutdown()


class TestRayFunction(ExecutorContract):
    limit = 180.0

    @pytest.fixture
    def make(self, cluster: RayCluster) -> Make:
        def make(trial_timeout: float | None = None, max_concurrent: int = 1, grace: float = 0.5):
            return RayExecutor.for_function(
                function_trial,
                trial_timeout=trial_timeout,
                grace=grace,
                address=cluster.address,
                max_concurrent=max_concurrent,
            )

        return make


class TestRayCommand(ExecutorContract):
    limit = 180.0

    @pytest.fixture
    def make(self, cluster: RayCluster, tmp_path: Path) -> Make:
        def make(trial_timeout: float | None = None, max_concurrent: int = 1, grace: float = 0.5):
            return RayExecutor.for_command(
                [sys.executable, "-m", "hypersweep.testing.contract_trials"],
                command_options={
                    "study_name": "contract",
                    "metrics": ["loss"],
                    "params_as": "env",
                    "trial_timeout": trial_timeout,
                    "grace": grace,
                    "runs_dir": str(tmp_path / "runs"),
                },
                address=cluster.address,
                max_concurrent=max_concurrent,
                resources={"cpus": 0.5},
            )

        return make


def _drive(ex: RayExecutor, until: set[int], limit: float = 180.0) -> list[Any]:
    events: list[Any] = []
    done: set[int] = set()
    end = time.monotonic() + limit
    while not until <= done:
        assert time.monotonic() < end, events
        for ev in ex.poll(0.5):
            events.append(ev)
            if not hasattr(ev, "step"):
                done.add(ev.number)
    return events


GPU_PROBE = [
    sys.executable,
    "-c",
    "import os; print('gpu=' + os.environ['CUDA_VISIBLE_DEVICES']); "
    "print('custom=' + os.environ.get('HS_X', '0'))",
]


def test_fractional_gpus_pack_two_trials_per_device_and_each_gets_its_device(
    cluster: RayCluster, tmp_path: Path
) -> None:
    """gpus: 0.5 and a custom resource: Ray places the trials, sets CUDA_VISIBLE_DEVICES
    for each (a fake GPU id on this CPU-only cluster), and the command reads it."""
    ex = RayExecutor.for_command(
        GPU_PROBE,
        command_options={"study_name": "gpu", "metrics": ["gpu"], "runs_dir": str(tmp_path)},
        address=cluster.address,
        max_concurrent=3,
        resources=Resources(cpus=0.5, gpus=0.5, custom={"GPU_like": 1}),
    )
    try:
        ex.open()
        for n in range(3):
            ex.start(Trial(n, TrialState.RUNNING, {}))
        outs = [e for e in _drive(ex, {0, 1, 2}) if not hasattr(e, "step")]
    finally:
        ex.close()
    assert [o.status for o in outs] == ["completed"] * 3, outs
    devices = {o.result["gpu"] if isinstance(o.result, dict) else o.result for o in outs}
    assert devices <= {0.0, 1.0}


def test_a_trial_asking_for_more_than_the_cluster_has_waits_for_it(
    cluster: RayCluster, tmp_path: Path
) -> None:
    """A trial that needs a resource no node has is never run (Ray keeps it pending):
    it is not started with less than it declared."""
    ex = RayExecutor.for_command(
        GPU_PROBE,
        command_options={"study_name": "gpu", "metrics": ["gpu"], "runs_dir": str(tmp_path)},
        address=cluster.address,
        resources=Resources(cpus=0.5, custom={"GPU_like": 5}),  # the cluster has 4
    )
    try:
        ex.open()
        ex.start(Trial(0, TrialState.RUNNING, {}))
        end = time.monotonic() + 5.0
        while time.monotonic() < end:
            assert ex.poll(0.5) == []
        assert ex.running == {0}
    finally:
        ex.close()
    assert ex.running == set()


def test_a_sweep_file_with_executor_ray_runs_its_trials_on_the_cluster(
    cluster: RayCluster, tmp_path: Path
) -> None:
    (tmp_path / "sweep.yaml").write_text(
        textwrap.dedent(
            f"""\
            name: on-ray
            command: {sys.executable} -m hypersweep.testing.contract_trials
            params_as: env
            space:
              behaviour: report
              dir: {tmp_path}
              x: uniform(0, 1)
            objective: {{metric: loss, goal: minimize}}
            limits: {{max_trials: 3, max_concurrent: 2}}
            executor: {{ray: {{address: "{cluster.address}"}}}}
            storage: sqlite:///{tmp_path / "s.db"}
            """
        )
    )
    out = subprocess.run(
        [sys.executable, "-m", "hypersweep", "run", str(tmp_path / "sweep.yaml")],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    study = hs.Study("on-ray", storage=f"sqlite:///{tmp_path / 's.db'}")
    trials = study.trials()
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 3
    assert all(t.values == (0.25,) for t in trials)
    assert all(len(t.reports) == 3 for t in trials)


def test_the_digits_example_completes_on_the_cluster_with_fractional_gpus(
    cluster: RayCluster, tmp_path: Path
) -> None:
    pytest.importorskip("sklearn")
    from hypersweep.spec import load

    spec = load(ROOT / "examples" / "digits" / "sweep.yaml")
    command = spec.command if isinstance(spec.command, str) else list(spec.command or ())
    command = command.replace("--epochs 20", "--epochs 3")
    ex = RayExecutor.for_command(
        command,
        command_options={
            "study_name": "digits-ray",
            "metrics": ["val_accuracy"],
            "workdir": str(spec.workdir),
            "env": dict(spec.env),
            "trial_timeout": 300,
            "runs_dir": str(tmp_path / "runs"),
        },
        address=cluster.address,
        max_concurrent=2,
        resources=Resources(cpus=1, gpus=0.5),
    )
    study = hs.Study(
        "digits-ray",
        spec.space,
        list(spec.objectives),
        sampler={"name": "random", "seed": 0},
        storage=f"sqlite:///{tmp_path / 'd.db'}",
    )
    Runner(study, ex, Limits(max_trials=2, max_concurrent=2)).run()
    trials = study.trials()
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 2, [t.error for t in trials]
    assert all(0.5 < t.values[0] <= 1.0 for t in trials)


# ------------------------------------------------------------------------------------------
# a worker node dies: its trial is lost, and the runner re-queues it
# ------------------------------------------------------------------------------------------
SLOW_ONCE = textwrap.dedent(
    """\
    import os, sys, time
    mark = sys.argv[1]
    if os.path.exists(mark):
        print("loss=0.5", flush=True)
        sys.exit(0)
    open(mark, "w").write(str(os.getpid()))
    time.sleep(600)
    """
)


def test_a_killed_worker_node_loses_its_trial_and_the_runner_requeues_it(
    cluster: RayCluster, tmp_path: Path
) -> None:
    script = tmp_path / "slow_once.py"
    script.write_text(SLOW_ONCE)
    mark = tmp_path / "started.pid"
    # only the added nodes have the "side" resource the trial needs: each attempt runs there
    first = cluster.add_node(num_cpus=1, resources={"side": 1})
    ex = RayExecutor.for_command(
        [sys.executable, str(script), str(mark)],
        command_options={
            "study_name": "node-death",
            "metrics": ["loss"],
            "runs_dir": str(tmp_path / "runs"),
        },
        address=cluster.address,
        resources=Resources(cpus=0.5, custom={"side": 1}),
    )
    study = hs.Study("node-death", {"x": hs.Float(0, 1)}, "loss", storage="memory")
    # retries=2: the trial process dies with its node (parent-death signal), and the actor
    # may report that before Ray knows the node is gone; a retry can then still be placed
    # on the dying node, and only the next one on the new node
    runner = Runner(study, ex, Limits(max_trials=1, retries=2))
    th = threading.Thread(target=runner.run, daemon=True)
    th.start()
    end = time.monotonic() + 240
    while not (mark.exists() and mark.read_text()):
        assert time.monotonic() < end, "the first attempt never started"
        time.sleep(0.2)
    orphan = int(mark.read_text())
    cluster.kill_node(first)
    try:
        os.kill(orphan, signal.SIGKILL)  # the trial process the dead node left behind
    except ProcessLookupError:
        pass
    cluster.add_node(num_cpus=1, resources={"side": 1})
    th.join(300)
    assert not th.is_alive(), "the runner never finished"
    (t,) = study.trials()
    assert t.state == TrialState.COMPLETED and t.values == (0.5,), (t.error, t.system_attrs)
    assert t.attempt in (2, 3)
    lost = t.system_attrs["attempts"]
    assert lost and all("ray" in str(a) or "SIGKILL" in str(a) for a in lost), lost
