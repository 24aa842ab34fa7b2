"""A real local Ray cluster on 127.0.0.1 for tests: a head node and extra worker nodes
started with ``ray start --block`` as child processes of this one (so ending them ends
exactly the nodes started here), kept small (few CPUs, a small object store).

    with RayCluster(num_cpus=2, num_gpus=2, resources={"GPU_like": 4}) as cluster:
        node = cluster.add_node(num_cpus=1, resources={"side": 1})
        ...
        cluster.kill_node(node)        # SIGKILL the node's whole process group
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

__all__ = ["RayCluster", "free_port"]

#: bytes of object store per node (Ray's minimum is ~75 MB)
OBJECT_STORE = 80 * 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray_bin() -> str:
    here = Path(sys.executable).with_name("ray")
    return str(here) if here.exists() else (shutil.which("ray") or "ray")


class RayCluster:
    """A head node (started on enter) plus nodes added with :meth:`add_node`.

    Attributes:
        address: ``127.0.0.1:PORT`` of the head (what ``executor.ray.address`` takes).
    """

    def __init__(
        self,
        num_cpus: float = 2,
        num_gpus: float = 0,
        resources: Mapping[str, float] | None = None,
        start_timeout: float = 180.0,
    ) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.start_timeout = start_timeout
        # a short folder: Ray's socket paths must stay under ~107 characters
        self.temp = tempfile.mkdtemp(prefix="hsray", dir="/tmp")
        self._head_args = [
            *self._node_args(num_cpus, num_gpus, resources),
            "--head",
            f"--port={self.port}",
            f"--temp-dir={self.temp}",
            "--include-dashboard=false",
        ]
        self.nodes: list[subprocess.Popen[bytes]] = []

    @staticmethod
    def _node_args(cpus: float, gpus: float, resources: Mapping[str, float] | None) -> list[str]:
        args = [
            "start",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--num-cpus={int(cpus)}",
            f"--object-store-memory={OBJECT_STORE}",
            "--disable-usage-stats",
        ]
        if gpus:
            args.append(f"--num-gpus={int(gpus)}")
        if resources:
            args.append(f"--resources={json.dumps(dict(resources))}")
        return args

    def _spawn(self, args: list[str]) -> subprocess.Popen[bytes]:
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        log = open(os.path.join(self.temp, f"node{len(self.nodes)}.log"), "wb")  # noqa: SIM115
        p = subprocess.Popen(
            [_ray_bin(), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group: kill_node ends all of it
        )
        log.close()
        self.nodes.append(p)
        return p

    def __enter__(self) -> RayCluster:
        self._spawn(self._head_args)
        self.wait_nodes(1)
        return self

    def add_node(
        self,
        num_cpus: float = 1,
        num_gpus: float = 0,
        resources: Mapping[str, float] | None = None,
    ) -> subprocess.Popen[bytes]:
        args = [*self._node_args(num_cpus, num_gpus, resources), f"--address={self.address}"]
        p = self._spawn(args)
        self.wait_nodes(sum(q.poll() is None for q in self.nodes))
        return p

    def _alive(self) -> int:
        """How many nodes the cluster counts alive (from this process when it is connected
        to the cluster, else from a short-lived one)."""
        import ray

        if ray.is_initialized():
            return sum(1 for n in ray.nodes() if n["Alive"])
        code = (
            "import ray; ray.init(address=" + repr(self.address) + ", log_to_driver=False); "
            "print(sum(1 for n in ray.nodes() if n['Alive']))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
        )
        lines = out.stdout.strip().splitlines()
        return int(lines[-1]) if out.returncode == 0 and lines else 0

    def wait_nodes(self, n: int) -> None:
        """Wait until ``n`` nodes are alive (the head's log is in the error if not)."""
        end = time.monotonic() + self.start_timeout
        while time.monotonic() < end:
            if self.nodes[-1].poll() is not None:  # the node just started exited
                break
            if self._alive() >= n:
                return
            time.sleep(1.0)
        logs = "\n".join(
            Path(self.temp, f).read_text(errors="replace")[-2000:]
            for f in sorted(os.listdir(self.temp))
            if f.endswith(".log")
        )
        raise RuntimeError(f"the Ray cluster did not reach {n} nodes:\n{logs}")

    def kill_node(self, node: subprocess.Popen[bytes]) -> None:
        """SIGKILL a node's whole process group (its raylet, store and workers)."""
        try:
            os.killpg(node.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        node.wait(30)

    def __exit__(self, *exc: object) -> None:
        for p in reversed(self.nodes):  # workers first, then the head
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)  # ray start --block stops its processes
        for p in reversed(self.nodes):
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                self.kill_node(p)
        shutil.rmtree(self.temp, ignore_errors=True)
