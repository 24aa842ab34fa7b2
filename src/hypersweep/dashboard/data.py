"""What the dashboard shows, computed on the server from the storage (read-only).

:class:`Catalog` opens every study of one storage as a read-only
:class:`~hypersweep.study.Study` and keeps it synced incrementally (the study's
:class:`~hypersweep.samplers.base.History` holds the numpy arrays). Every chart is
built from those arrays and ships a bounded number of points, whatever the size of the
study (:data:`MAX_POINTS`): the best-so-far line as its change points, the trial points
as the best trials plus each bin's extremes plus a seeded uniform sample. Only the
trials a response shows are decoded into snapshots. The cache can be dropped at any
time and rebuilt from the storage: the dashboard keeps nothing the storage does not.
"""

from __future__ import annotations

import json
import re
import threading
import time
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from hypersweep.dashboard.shaping import axis, compare, finite, first_sorted, sample_rows
from hypersweep.storage import Storage, StudyRecord
from hypersweep.study import Study
from hypersweep.trial import Trial, TrialState

__all__ = ["MAX_POINTS", "Catalog", "StudyData"]

MAX_POINTS = 2000  #: trial points one chart ships at most
MAX_CURVES = 60  #: intermediate curves one chart ships at most
STATES = [s.value for s in TrialState]
_CODE = {s.value: i for i, s in enumerate(TrialState)}
_HUGE = 2**62
ACTIVITY_TTL = 10.0  #: seconds a study's last activity is reused while nothing changed


class StudyData:
    """One study as the dashboard reads it: a read-only :class:`Study` and derived views.

    Every method syncs first (one cheap indexed read when nothing changed) and holds the
    study's lock, so the threads of the server never see a half-applied sync.
    """

    def __init__(self, storage: Storage, name: str, bulk: Storage | None = None) -> None:
        self.storage = storage
        self.lock = threading.RLock()
        self._id = storage.get_study(name).id  # raises StudyNotFound
        # the arrays load through ``bulk`` (a twin of ``storage``): a 100k-trial study's
        # first sync takes seconds, and the summary's aggregate reads must not queue
        # behind it on one connection
        self.study = Study.load(name, bulk or storage)
        self.name = name
        self._params: dict[str, list[Any]] = {}  # name -> value per trial (None: inactive)
        self._params_n = 0
        self._curves: dict[int, dict[int, dict[str, float]]] = {}  # finished trials' reports
        self._memos: dict[str, tuple[int, Any]] = {}
        self._activity: tuple[int, float, float | None] | None = None
        self._counts: tuple[int, dict[TrialState, int]] | None = None
        self._warm_lock = threading.Lock()
        self._warming: threading.Thread | None = None
        self.synced_at = 0.0

    # --- basics ----------------------------------------------------------------------
    def sync(self) -> None:
        with self.lock:
            self.study.sync()
            self.synced_at = time.time()

    @property
    def metrics(self) -> list[str]:
        return [o.metric for o in self.study.objectives]

    def _values(self) -> np.ndarray:
        """``(n, M)`` objective values as reported (not signed), NaN where none."""
        h = self.study.history
        signs = np.array([o.sign for o in self.study.objectives])
        return h.Y * signs

    def _done(self) -> np.ndarray:
        """Rows finished with values (COMPLETED, or STOPPED with a value)."""
        h = self.study.history
        st = h.state
        ok = (st == _CODE["COMPLETED"]) | (st == _CODE["STOPPED"])
        return ok & np.isfinite(h.Y).all(axis=1)

    def trial(self, number: int) -> Trial:
        return self.study.history.trials[number]

    def param_names(self) -> list[str]:
        """The space's parameters (fixed ones left out: one value tells nothing); a name
        shared by branches once (its values come from whichever branch a trial took)."""
        return list(dict.fromkeys(c.name for c in self.study.space.columns))

    def param_columns(self) -> dict[str, list[Any]]:
        """Each parameter's value per trial (``None`` where inactive), kept incrementally:
        a trial's parameters never change, so only new trials are read."""
        h = self.study.history
        while self._params_n < h.n:
            i = self._params_n
            t = h.trials[i]
            params = t.params if t is not None else {}
            for k in params:
                if k not in self._params:
                    self._params[k] = [None] * i
            for k, col in self._params.items():
                col.append(params.get(k))
            self._params_n += 1
        return self._params

    # --- the views -------------------------------------------------------------------
    def warm(self) -> None:
        """Load the study's arrays in a background thread (a large study's first read
        takes seconds; the summary does not wait for it)."""
        with self._warm_lock:
            if self._warming is None:
                self._warming = threading.Thread(target=self.sync, daemon=True)
                self._warming.start()

    def counts(self) -> dict[TrialState, int]:
        """The storage's trial counts by state, re-read only when the watermark moved
        (every state change moves it)."""
        wm = self.storage.sync(self._id, _HUGE).watermark
        if self._counts is None or self._counts[0] != wm:
            self._counts = (wm, self.storage.count_trials(self._id))
        return self._counts[1]

    def last_activity(self) -> float | None:
        """The storage's last activity, re-read when the watermark moved or after
        :data:`ACTIVITY_TTL` seconds (heartbeats do not move the watermark)."""
        wm = self.storage.sync(self._id, _HUGE).watermark
        got = self._activity
        if got is None or got[0] != wm or time.time() - got[1] > ACTIVITY_TTL:
            got = self._activity = (wm, time.time(), self.storage.last_activity(self._id))
        return got[2]

    def summary(self) -> dict[str, Any]:
        """Counts, best, running trials and the study's attributes, from the storage's
        aggregate reads only (flat in the study's size; the arrays are not needed, and
        are loaded meanwhile for the charts)."""
        rec = self.storage.get_study(self.name)
        attrs = rec.attrs
        counts = self.counts()
        if attrs.get("constraints"):  # feasibility: the study's arrays know it
            with self.lock:
                self.sync()
                best_trials = self.study.best_trials
        else:
            self.warm()
            best_trials = self.storage.best_trials(self._id)
        running = self.storage.running_trials(self._id)
        return finite(
            {
                "name": self.name,
                "objectives": [o.to_dict() for o in rec.objectives],
                "space": rec.space,
                "params": self.param_names(),
                "trials": sum(counts.values()),
                "states": {s: counts.get(TrialState(s), 0) for s in STATES},
                "best": [self._row(t) for t in best_trials[:50]],
                "running": [_running(t) for t in running[:100]],
                "n_running": len(running),
                "constraints": attrs.get("constraints") or [],
                "stop_requested": attrs.get("stop_requested"),
                "stop_reason": attrs.get("stop_reason"),
                "sweep": _public_sweep(attrs.get("sweep")),
                "sampler": attrs.get("sampler"),
                "last_activity": self.last_activity(),
                "multi_objective": len(rec.objectives) > 1,
            }
        )

    def _memo(self, kind: str, make: Any) -> Any:
        """``make()`` once per version of the study's arrays (polls between changes, and
        several browser tabs, cost nothing)."""
        with self.lock:
            self.sync()
            v = self.study.history.version
            hit = self._memos.get(kind)
            if hit is not None and hit[0] == v:
                return hit[1]
            out = make()
            self._memos[kind] = (v, out)
            return out

    def history(self) -> dict[str, Any]:
        """Every finished trial's value (downsampled) and the best-so-far line (its change
        points: exact, however many trials), feasible and infeasible apart."""
        return self._memo("history", self._history)

    def _history(self) -> dict[str, Any]:
        h = self.study.history
        vals = self._values()
        done = np.nonzero(self._done())[0]
        feas = h.feasible
        obj = self.study.objectives[0]
        out: dict[str, Any] = {"metric": obj.metric, "goal": obj.goal, "total": int(done.size)}
        y = vals[done, 0] if done.size else np.empty(0)
        signed = obj.sign * y
        ok = feas[done] if done.size else np.empty(0, dtype=bool)
        shown = sample_rows(done, signed, MAX_POINTS)
        f = feas[shown]
        out["feasible"] = {"x": shown[f].tolist(), "y": vals[shown[f], 0].tolist()}
        out["infeasible"] = {"x": shown[~f].tolist(), "y": vals[shown[~f], 0].tolist()}
        # best so far among feasible rows: keep only the points where it improves
        best_x: list[int] = []
        best_y: list[float] = []
        if ok.any():
            run = np.minimum.accumulate(np.where(ok, signed, np.inf))
            change = np.nonzero(np.diff(np.concatenate([[np.inf], run])) < 0)[0]
            best_x = done[change].tolist()
            best_y = (obj.sign * run[change]).tolist()
            if h.n - 1 > best_x[-1]:  # the line runs on to the latest trial
                best_x.append(h.n - 1)
                best_y.append(best_y[-1])
        out["best"] = {"x": best_x, "y": best_y}
        out["shown"] = int(shown.size)
        return out  # finite: done rows have finite values

    def curves(self, metric: str | None = None) -> dict[str, Any]:
        """Intermediate reports of every running trial (up to :data:`MAX_CURVES`), then
        the best finished ones and a sample of the rest; each curve is one trial's
        ``metric`` by step."""
        with self.lock:
            self.sync()
            h = self.study.history
            metric = metric or self.metrics[0]
            running = np.nonzero(h.state == _CODE["RUNNING"])[0][:MAX_CURVES]
            done = np.nonzero(self._done())[0]
            room = max(0, MAX_CURVES - running.size)
            signed = h.Y[done, 0] if done.size else np.empty(0)
            finished = sample_rows(done, signed, room) if room else np.empty(0, dtype=np.int64)
            out = []
            names: set[str] = set()
            for i in list(running) + list(finished):
                reps = self._reports(int(i))
                for m in reps.values():
                    names.update(m)
                steps = sorted(s for s, m in reps.items() if metric in m)
                if not steps:
                    continue
                t = h.trials[int(i)]
                out.append(
                    {
                        "number": int(i),
                        "state": t.state.value,
                        "x": steps,
                        "y": [reps[s][metric] for s in steps],
                    }
                )
            n_with = int(h.n)
            return finite(
                {"metric": metric, "metrics": sorted(names), "curves": out, "total": n_with}
            )

    def _reports(self, number: int) -> dict[int, dict[str, float]]:
        """A trial's reports, read from the storage (finished trials' are kept: final)."""
        if number in self._curves:
            return self._curves[number]
        t = self.storage.get_trial(self._id, number)
        if t.state.is_finished:
            if len(self._curves) > 4 * MAX_CURVES:
                self._curves.clear()
            self._curves[number] = t.reports
        return t.reports

    def points(self, limit: int = MAX_POINTS) -> dict[str, Any]:
        """Finished trials as columns for parallel coordinates and slice plots: each
        parameter (numbers, or a category index with its labels) and each objective."""

        def make() -> dict[str, Any]:
            done = np.nonzero(self._done())[0]
            h = self.study.history
            rows = sample_rows(done, h.Y[done, 0] if done.size else None, limit)
            return self._columns(rows, total=int(done.size))  # finite: done rows

        return self._memo(f"points{limit}", make)

    def _columns(self, rows: np.ndarray, total: int) -> dict[str, Any]:
        vals = self._values()
        trials = [self.study.history.trials[int(i)] for i in rows]
        params: dict[str, Any] = {}
        logs = {c.name: bool(getattr(c.param, "log", False)) for c in self.study.space.columns}
        for name in self.param_names():
            col = [t.params.get(name) for t in trials]
            params[name] = {**axis(col), "log": logs.get(name, False)}
        return {
            "numbers": rows.tolist(),
            "params": params,
            "values": {m: vals[rows, j].tolist() for j, m in enumerate(self.metrics)},
            "feasible": self.study.history.feasible[rows].tolist(),
            "total": total,
            "shown": int(rows.size),
        }

    def pareto(self) -> dict[str, Any]:
        """The Pareto front (exact) and a sample of the other finished trials."""
        return self._memo("pareto", self._pareto)

    def _pareto(self) -> dict[str, Any]:
        front = [t.number for t in self.study.best_trials]
        done = np.nonzero(self._done())[0]
        h = self.study.history
        vals = self._values()
        others = np.setdiff1d(done, np.array(front, dtype=np.int64))
        rest = sample_rows(others, h.Y[others, 0] if others.size else None, MAX_POINTS)
        fr = np.array(front, dtype=np.int64)
        return {
            "metrics": self.metrics,
            "goals": [o.goal for o in self.study.objectives],
            "front": {"numbers": front, "values": vals[fr].tolist() if front else []},
            "others": {"numbers": rest.tolist(), "values": vals[rest].tolist()},
            "total": int(done.size),
        }

    # --- the table -------------------------------------------------------------------
    def row(self, number: int) -> dict[str, Any]:
        return self._row(self.trial(number))

    def _row(self, t: Trial) -> dict[str, Any]:
        return finite(
            {
                "number": t.number,
                "state": t.state.value,
                "values": dict(zip(self.metrics, t.values or ())),
                "params": t.params,
                "duration": t.duration,
                "started_at": t.started_at,
                "finished_at": t.finished_at,
                "feasible": bool(self.study.feasible(t)) if t.values is not None else None,
                "error": (t.error or "")[:200] or None,
                "attempt": t.attempt,
            }
        )

    def table(
        self,
        *,
        sort: str = "number",
        desc: bool = False,
        states: Iterable[str] = (),
        q: str = "",
        page: int = 0,
        size: int = 50,
    ) -> dict[str, Any]:
        """One page of trials, sorted and filtered on the server (numpy over every
        trial; only the page's trials are decoded).

        ``sort``: ``number``, ``state``, ``duration``, ``value`` / ``value:<metric>``
        or ``param:<name>``. ``states``: keep only these. ``q``: space-separated terms,
        each ``name<op>value`` (ops ``= != < <= > >=``) on a parameter or objective, or
        plain text matched in the parameter values."""
        size = max(1, min(int(size), 500))
        with self.lock:
            self.sync()
            h = self.study.history
            n = h.n
            keep = np.ones(n, dtype=bool)
            wanted = [_CODE[s] for s in states if s in _CODE]
            if wanted:
                keep &= np.isin(h.state, wanted)
            for term in q.split():
                keep &= self._match(term)
            rows = np.nonzero(keep)[0]
            key = self._sort_key(sort)
            total = int(rows.size)
            if key is not None:
                rows = first_sorted(rows, key[rows], desc, (page + 1) * size)
            elif desc:
                rows = rows[::-1]
            page_rows = rows[page * size : (page + 1) * size]
            return {
                "total": total,
                "page": page,
                "size": size,
                "rows": [self.row(int(i)) for i in page_rows],
            }

    def _sort_key(self, sort: str) -> np.ndarray | None:
        h = self.study.history
        if sort == "number":
            return None
        if sort == "state":
            return h.state.astype(float)
        if sort == "duration":
            return np.array(
                [np.nan if (d := t.duration) is None else d for t in self._all_trials()]
            )
        if sort == "value" or sort.startswith("value:"):
            m = sort.partition(":")[2] or self.metrics[0]
            j = self.metrics.index(m) if m in self.metrics else 0
            return self._values()[:, j]
        if sort.startswith("param:"):
            col = self.param_columns().get(sort[6:])
            if col is None:
                return None
            ax = axis(col)
            return np.array([np.nan if v is None else v for v in ax["values"]], dtype=float)
        return None

    def _all_trials(self) -> list[Trial]:
        h = self.study.history
        return [h.trials[i] for i in range(h.n)]

    def _match(self, term: str) -> np.ndarray:
        m = re.fullmatch(r"([^<>=!]+)(<=|>=|!=|=|<|>)(.*)", term)
        h = self.study.history
        if m is None:  # free text in any parameter value
            needle = term.lower()
            hit = np.zeros(h.n, dtype=bool)
            for col in self.param_columns().values():
                hit |= np.array([v is not None and needle in str(v).lower() for v in col])
            return hit
        name, op, text = m.group(1), m.group(2), m.group(3)
        values: list[Any]
        if name in self.metrics:
            values = self._values()[:, self.metrics.index(name)].tolist()
        else:
            values = self.param_columns().get(name, [None] * h.n)
        try:
            ref: Any = float(text)
        except ValueError:
            ref = text
        return np.array([compare(v, op, ref) for v in values], dtype=bool)

    # --- one trial -------------------------------------------------------------------
    def detail(self, number: int) -> dict[str, Any]:
        """Everything about one trial: params, metrics, reports, error, the command that
        reruns it and the tails of its output files where they can be read."""
        from hypersweep.dashboard.logs import output_tails, rerun_line

        with self.lock:
            self.sync()
            if not 0 <= number < self.study.history.n:
                raise KeyError(number)
        t = self.storage.get_trial(self._id, number)
        sweep = self.study.attrs.get("sweep")
        return finite(
            {
                **self.row(number),
                "metrics": t.metrics,
                "reports": [{"step": s, **m} for s, m in sorted(t.reports.items())],
                "error": t.error,
                "worker_id": t.worker_id,
                "heartbeat_at": t.heartbeat_at,
                "user_attrs": t.user_attrs,
                "system_attrs": t.system_attrs,
                "command": rerun_line(sweep, t.params),
                "output": output_tails(sweep, self.name, number),
            }
        )


def _running(t: Trial) -> dict[str, Any]:
    step = t.last_step
    return {
        "number": t.number,
        "params": t.params,
        "started_at": t.started_at,
        "heartbeat_at": t.heartbeat_at,
        "step": step,
        "latest": t.reports[step] if step is not None else {},
        "worker_id": t.worker_id,
    }


def _public_sweep(sweep: Any) -> Any:
    if not isinstance(sweep, Mapping):
        return None
    return {k: sweep.get(k) for k in ("file", "command", "function", "params_as", "workdir")}


class Catalog:
    """Every study of one storage, each opened once and kept synced."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._bulk = storage.twin()  # the studies' arrays sync through it
        self._lock = threading.Lock()
        self._studies: dict[str, StudyData] = {}

    def records(self) -> list[StudyRecord]:
        return self.storage.list_studies()

    def get(self, name: str) -> StudyData:
        with self._lock:
            data = self._studies.get(name)
        if data is None:
            data = StudyData(self.storage, name, self._bulk)  # raises StudyNotFound
            with self._lock:
                data = self._studies.setdefault(name, data)
        return data

    def watermark(self, name: str) -> str:
        """The study's change watermark: one indexed read (no trial is read); it changes
        with every change of a trial, a report or the study's attributes (a stop
        request: the storage's sequence number does not count those)."""
        rec = self._record(name)
        res = self.storage.sync(rec.id, _HUGE)
        attrs = json.dumps(res.attrs, sort_keys=True, default=str).encode()
        return f"{res.watermark}.{zlib.crc32(attrs):08x}"

    def _record(self, name: str) -> StudyRecord:
        return self.storage.get_study(name)

    def overview(self) -> list[dict[str, Any]]:
        """The studies list: each study's state counts, best, running count and last
        activity, from the storage's aggregate reads only (cost flat in study size)."""
        out = []
        for rec in self.records():
            counts = {s.value: n for s, n in self.get(rec.name).counts().items()}
            best = self.storage.best_trials(rec.id)
            running = counts.get("RUNNING", 0)
            attrs = rec.attrs
            if attrs.get("stop_reason"):
                state = "finished"
            elif running:
                state = "running"
            elif attrs.get("stop_requested"):
                state = "stopping"
            else:
                state = "idle"
            out.append(
                finite(
                    {
                        "name": rec.name,
                        "objectives": [o.to_dict() for o in rec.objectives],
                        "state": state,
                        "states": {s: counts.get(s, 0) for s in STATES},
                        "trials": sum(counts.values()),
                        "best": (
                            {"number": best[0].number, "values": list(best[0].values or ())}
                            if len(rec.objectives) == 1 and best
                            else None
                        ),
                        "pareto_size": len(best) if len(rec.objectives) > 1 else None,
                        "running": running,
                        "last_activity": self.get(rec.name).last_activity(),
                        "created_at": rec.created_at,
                    }
                )
            )
        return out
