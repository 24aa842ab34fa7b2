"""Throughput on PostgreSQL as worker processes are added, hypersweep against Optuna's RDB
storage in the same run (issue 15 point 7), and a simulated fleet of 1,000 workers.

Each of N worker processes opens the study and loops ask -> trivial objective -> tell for
``--seconds`` (all start together, after their imports and first sync). Printed per
(library, sampler, N): trials/s, p50 / p99 ask latency, database time per trial and
errors. Database time is the server's own account: the growth of ``active_time`` in
``pg_stat_database`` (milliseconds backends spent running statements, waits for the WAL
flush at commit included) of a fresh database per run, divided by the trials;
``pg_stat_statements`` is not needed. Database CPU time is the CPU the server's backend
processes of that database used (``/proc``: the server must run on this machine); the
simulation also prints that of the server's background processes (WAL writer,
checkpointer, background writer: shared by every database of the server). The
top wait event (sampled from ``pg_stat_activity`` every 50 ms) shows what workers wait on.

``--simulate 1000``: that many workers, multiplexed over a few processes (``--sim-procs``)
on a simulated clock: every worker is its own hypersweep Study (its own sync state and
worker id; the workers of a process share one connection pool, as a 1,000-machine fleet
behind a pooler would), each trial lasts ``--sim-trial`` simulated seconds and each
worker heartbeats every ``--sim-heartbeat`` simulated seconds, so the database sees the
statements of a fleet with ~1,000 trials RUNNING at once. Printed: the coordination cost
(database time per trial) and wall time.

    python benchmarks/workers.py                       # N = 1,4,8,16,32,64; random, tpe
    python benchmarks/workers.py --workers 1,4 --seconds 3 --samplers random --no-optuna
    python benchmarks/workers.py --workers '' --simulate 1000
"""

from __future__ import annotations

import argparse
import heapq
import json
import multiprocessing as mp
import os
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from hypersweep.testing.processes import fresh_postgres_db

PG = os.environ.get("HYPERSWEEP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def objective(x: float, y: float) -> float:
    return (x - 0.3) ** 2 + (y + 0.1) ** 2


# ------------------------------------------------------------------------------------------
# one worker process
# ------------------------------------------------------------------------------------------
def _worker(
    lib: str, url: str, study: str, sampler: str, seed: int, go: Any, stop_at: Any, out: Any
) -> None:
    asks: list[float] = []
    done = 0
    errors: list[str] = []
    try:
        if lib == "hypersweep":
            import hypersweep as hs

            s = hs.Study(
                study,
                space={"x": hs.Float(-1, 1), "y": hs.Float(-1, 1)},
                storage=url,
                sampler={"name": sampler, "seed": seed},
            )

            def ask() -> Any:
                return s.ask()

            def tell(t: Any) -> None:
                s.tell(t, objective(t.params["x"], t.params["y"]))
        else:
            import optuna

            optuna.logging.set_verbosity(optuna.logging.WARNING)
            smp = (
                optuna.samplers.RandomSampler(seed=seed)
                if sampler == "random"
                else optuna.samplers.TPESampler(seed=seed)
            )
            st = optuna.load_study(
                study_name=study, storage=optuna.storages.RDBStorage(url), sampler=smp
            )

            def ask() -> Any:
                t = st.ask()
                t.suggest_float("x", -1, 1)
                t.suggest_float("y", -1, 1)
                return t

            def tell(t: Any) -> None:
                st.tell(t, objective(t.params["x"], t.params["y"]))
    except Exception as e:  # the open failed: counted, never hidden
        out.put((0, [], [f"open: {type(e).__name__}: {e}"]))
        return
    try:  # one trial before the window: lazy imports and first-ask set-up are not timed
        tell(ask())
    except Exception as e:
        errors.append(f"warm-up: {type(e).__name__}: {e}")
    out.put(("ready", None, None))
    go.wait()
    end = stop_at.value
    cpu0 = time.process_time()  # this process's CPU (all its threads) in the window
    while time.time() < end:
        t0 = time.perf_counter()
        try:
            t = ask()
        except Exception as e:
            errors.append(f"ask: {type(e).__name__}: {e}")
            continue
        asks.append(time.perf_counter() - t0)
        try:
            tell(t)
        except Exception as e:
            errors.append(f"tell: {type(e).__name__}: {e}")
            continue
        if time.time() <= end:
            done += 1
    out.put((done, asks, errors, time.process_time() - cpu0))


# ------------------------------------------------------------------------------------------
# database-side accounting
# ------------------------------------------------------------------------------------------
def _admin(url: str) -> sa.Engine:
    return sa.create_engine(
        url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )


def active_ms(url: str) -> float:
    """Milliseconds backends have spent running statements in this URL's database."""
    eng = _admin(url)
    try:
        with eng.connect() as c:
            c.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
            v = c.exec_driver_sql(
                "SELECT active_time FROM pg_stat_database WHERE datname = current_database()"
            ).scalar()
        return float(v or 0.0)
    finally:
        eng.dispose()


def _cpu_ticks(pid: int) -> int | None:
    """utime + stime of a local process, in clock ticks (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


class WaitSampler:
    """Samples the wait events of the database's other backends every 50 ms, and (the
    server being local) the CPU time each backend process used meanwhile; also that of
    the server's background processes (WAL writer, checkpointer, background writer),
    which serve every database of the server: the WAL writer flushes what asynchronous
    commits leave unflushed, work that a synchronous commit does in its backend."""

    def __init__(self, url: str) -> None:
        self.first: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self.bg_first: dict[int, int] = {}
        self.bg_last: dict[int, int] = {}
        self.counts: Counter[str] = Counter()
        self._stop = threading.Event()
        self._eng = _admin(url)
        self._th = threading.Thread(target=self._run, daemon=True)
        self._th.start()

    def _run(self) -> None:
        q = (
            "SELECT pid, state, wait_event_type, wait_event, datname IS NULL "
            "FROM pg_stat_activity WHERE (datname = current_database() "
            "AND pid <> pg_backend_pid()) OR datname IS NULL"
        )
        with self._eng.connect() as c:
            while True:
                for pid, state, typ, ev, background in c.exec_driver_sql(q):
                    ticks = _cpu_ticks(pid)
                    if background:
                        if ticks is not None:
                            self.bg_first.setdefault(pid, ticks)
                            self.bg_last[pid] = ticks
                        continue
                    if ticks is not None:
                        self.first.setdefault(pid, ticks)
                        self.last[pid] = ticks
                    if state == "active":
                        self.counts[f"{typ}:{ev}" if typ else "CPU"] += 1
                if self._stop.wait(0.05):
                    return

    def cpu_ms(self) -> float:
        """CPU milliseconds the database's backends used while sampled."""
        hz = os.sysconf("SC_CLK_TCK")
        return 1e3 * sum(self.last[p] - self.first[p] for p in self.last) / hz

    def background_cpu_ms(self) -> float:
        """CPU milliseconds the server's background processes used while sampled."""
        hz = os.sysconf("SC_CLK_TCK")
        return 1e3 * sum(self.bg_last[p] - self.bg_first[p] for p in self.bg_last) / hz

    def top(self) -> str:
        self._stop.set()
        self._th.join(5)
        self._eng.dispose()
        total = sum(self.counts.values())
        if not total:
            return "-"
        ev, n = self.counts.most_common(1)[0]
        return f"{ev} {100 * n / total:.0f}%"


# ------------------------------------------------------------------------------------------
# one (library, sampler, N) measurement
# ------------------------------------------------------------------------------------------
def _prepare(lib: str, url: str, study: str) -> None:
    if lib == "hypersweep":
        import hypersweep as hs

        hs.Study(study, space={"x": hs.Float(-1, 1), "y": hs.Float(-1, 1)}, storage=url)
    else:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        optuna.create_study(study_name=study, storage=optuna.storages.RDBStorage(url))


def measure(lib: str, sampler: str, n: int, seconds: float) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    with fresh_postgres_db(PG) as url:
        study = f"w_{uuid.uuid4().hex[:8]}"
        _prepare(lib, url, study)
        q = ctx.Queue()
        go = ctx.Event()
        stop_at = ctx.Value("d", 0.0)
        ps = [
            ctx.Process(target=_worker, args=(lib, url, study, sampler, i, go, stop_at, q))
            for i in range(n)
        ]
        for p in ps:
            p.start()
        results = []
        ready = 0
        while ready + len(results) < n:
            msg = q.get(timeout=600)
            if msg[0] == "ready":
                ready += 1
            else:
                results.append(msg)  # failed to open
        before = active_ms(url)
        waits = WaitSampler(url)
        stop_at.value = time.time() + seconds
        go.set()
        results += [q.get(timeout=seconds + 600) for _ in range(ready)]
        top = waits.top()
        cpu = waits.cpu_ms()
        for p in ps:
            p.join(60)
        time.sleep(0.5)  # the exited backends' session stats reach pg_stat_database
        db_ms = active_ms(url) - before
    done = sum(r[0] for r in results)
    asks = sorted(a for r in results for a in r[1])
    errors = [e for r in results for e in r[2]]
    worker_cpu_s = sum(r[3] for r in results if len(r) > 3)
    return {
        "lib": lib,
        "sampler": sampler,
        "workers": n,
        "trials": done,
        "trials_per_s": done / seconds,
        "ask_p50_ms": 1e3 * statistics.median(asks) if asks else None,
        "ask_p99_ms": 1e3 * asks[min(len(asks) - 1, int(0.99 * len(asks)))] if asks else None,
        "db_ms_per_trial": db_ms / done if done else None,
        "db_cpu_ms_per_trial": cpu / done if done else None,
        # the workers' own CPU (the client library, the sampler, the objective)
        "worker_cpu_ms_per_trial": 1e3 * worker_cpu_s / done if done else None,
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:3],
        "top_wait": top,
    }


# ------------------------------------------------------------------------------------------
# the 1,000-worker simulation
# ------------------------------------------------------------------------------------------
def _sim_proc(
    url: str,
    study: str,
    workers: int,
    trials: int,
    trial_s: float,
    hb_s: float,
    sampler: str,
    out: Any,
) -> None:
    import hypersweep as hs
    from hypersweep.storage import open_storage

    errors: list[str] = []
    done = 0
    storage = open_storage(url)  # one pool for this process's simulated workers
    space = {"x": hs.Float(-1, 1), "y": hs.Float(-1, 1)}
    fleet = [
        hs.Study(study, space=space, storage=storage, sampler={"name": sampler, "seed": i})
        for i in range(workers)
    ]
    # (simulated time, kind, worker): every worker starts a trial at t ~ U(0, trial_s)
    events: list[tuple[float, int, int]] = []
    running: dict[int, Any] = {}
    step = trial_s / max(1, workers)
    for w in range(workers):
        events.append((w * step, 0, w))  # 0: ask
    heapq.heapify(events)
    asked = 0
    while events:
        now, kind, w = heapq.heappop(events)
        s = fleet[w]
        try:
            if kind == 0:
                if asked >= trials:
                    continue
                asked += 1
                t = s.ask()
                running[w] = t
                heapq.heappush(events, (now + trial_s, 2, w))
                for k in range(1, int(trial_s // hb_s) + 1):
                    if k * hb_s < trial_s:
                        heapq.heappush(events, (now + k * hb_s, 1, w))
            elif kind == 1 and w in running:
                s.heartbeat([running[w]])
            elif kind == 2:
                t = running.pop(w)
                s.tell(t, objective(t.params["x"], t.params["y"]))
                done += 1
                heapq.heappush(events, (now, 0, w))
        except Exception as e:
            errors.append(f"{type(e).__name__}: {e}")
    out.put((done, errors))


def simulate(
    workers: int, procs: int, trials: int, trial_s: float, hb_s: float, sampler: str = "random"
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    with fresh_postgres_db(PG) as url:
        study = f"sim_{uuid.uuid4().hex[:8]}"
        _prepare("hypersweep", url, study)
        before = active_ms(url)
        waits = WaitSampler(url)
        q = ctx.Queue()
        per = [workers // procs + (i < workers % procs) for i in range(procs)]
        quota = [trials // procs + (i < trials % procs) for i in range(procs)]
        t0 = time.perf_counter()
        ps = [
            ctx.Process(
                target=_sim_proc,
                args=(url, study, per[i], quota[i], trial_s, hb_s, sampler, q),
            )
            for i in range(procs)
        ]
        for p in ps:
            p.start()
        results = [q.get(timeout=3600) for _ in ps]
        wall = time.perf_counter() - t0
        top = waits.top()  # before the workers exit: their backends' CPU time is read
        cpu = waits.cpu_ms()
        bg_cpu = waits.background_cpu_ms()
        for p in ps:
            p.join(60)
        time.sleep(0.5)
        db_ms = active_ms(url) - before
    done = sum(r[0] for r in results)
    errors = [e for r in results for e in r[1]]
    return {
        "simulated_workers": workers,
        "sampler": sampler,
        "processes": procs,
        "trials": done,
        "heartbeats_per_trial": int(trial_s // hb_s),
        "db_ms_per_trial": db_ms / done if done else None,
        "db_cpu_ms_per_trial": cpu / done if done else None,
        "server_background_cpu_ms_per_trial": bg_cpu / done if done else None,
        "wall_s": wall,
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:3],
        "top_wait": top,
    }


# ------------------------------------------------------------------------------------------
def _fmt(v: Any, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def table(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| library | sampler | workers | trials/s | ask p50 ms | ask p99 ms | db ms/trial "
        "| db CPU ms/trial | worker CPU ms/trial | errors | top wait event |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['lib']} | {r['sampler']} | {r['workers']} | {r['trials_per_s']:.1f} "
            f"| {_fmt(r['ask_p50_ms'])} | {_fmt(r['ask_p99_ms'])} "
            f"| {_fmt(r['db_ms_per_trial'], '.2f')} | {_fmt(r['db_cpu_ms_per_trial'], '.2f')} "
            f"| {_fmt(r.get('worker_cpu_ms_per_trial'), '.2f')} "
            f"| {r['errors']} | {r['top_wait']} |"
        )
    return "\n".join(lines)


def ratios(rows: Sequence[dict[str, Any]]) -> list[str]:
    """hypersweep / Optuna throughput per (sampler, N), and 32 vs 4 workers."""
    by = {(r["lib"], r["sampler"], r["workers"]): r["trials_per_s"] for r in rows}
    out = []
    for (lib, smp, n), v in sorted(by.items()):
        if lib != "hypersweep":
            continue
        o = by.get(("optuna", smp, n))
        if o:
            out.append(f"{smp}, {n} workers: hypersweep / optuna = {v / o:.1f}x")
    for smp in sorted({s for _, s, _ in by}):
        a, b = by.get(("hypersweep", smp, 4)), by.get(("hypersweep", smp, 32))
        if a and b:
            out.append(f"{smp}: hypersweep 32 workers / 4 workers = {b / a:.2f}")
    return out


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", default="1,4,8,16,32,64", help="comma-separated N")
    ap.add_argument("--samplers", default="random,tpe")
    ap.add_argument("--seconds", type=float, default=10.0, help="measured window per run")
    ap.add_argument("--no-optuna", action="store_true")
    ap.add_argument("--simulate", type=int, default=0, help="simulated workers (e.g. 1000)")
    ap.add_argument("--sim-procs", type=int, default=8)
    ap.add_argument("--sim-trials", type=int, default=3000)
    ap.add_argument("--sim-trial", type=float, default=60.0, help="simulated s per trial")
    ap.add_argument("--sim-heartbeat", type=float, default=10.0)
    ap.add_argument(
        "--sim-sampler",
        default="random",
        help="random: each ask reads the study's head only; tpe: each ask syncs the trials",
    )
    ap.add_argument("--json", default=None, help="also write the rows to this file")
    a = ap.parse_args(argv)
    print(f"load before: {os.getloadavg()}", flush=True)
    rows = []
    libs = ["hypersweep"] + ([] if a.no_optuna else ["optuna"])
    for smp in [s for s in a.samplers.split(",") if s]:
        for n in [int(x) for x in a.workers.split(",") if x]:
            for lib in libs:
                r = measure(lib, smp, n, a.seconds)
                rows.append(r)
                print(json.dumps(r), flush=True)
    if rows:
        print(table(rows))
        for line in ratios(rows):
            print(line)
    sim = None
    if a.simulate:
        sim = simulate(
            a.simulate, a.sim_procs, a.sim_trials, a.sim_trial, a.sim_heartbeat, a.sim_sampler
        )
        print(json.dumps(sim), flush=True)
    print(f"load after: {os.getloadavg()}", flush=True)
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({"rows": rows, "simulation": sim}, f, indent=1)


if __name__ == "__main__":
    main()
