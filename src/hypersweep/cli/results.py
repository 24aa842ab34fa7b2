"""The read-only commands: ``hypersweep status``, ``best``, ``export`` and ``ls``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hypersweep.storage import Storage, StudyRecord
    from hypersweep.trial import Trial

from hypersweep._validate import one_line
from hypersweep.cli._common import (
    DEFAULT_STORAGE,
    EXIT_FAILED,
    EXIT_OK,
    RunFailed,
    View,
    counts_text,
    exact_params,
    open_record,
    open_storage_at,
    outside_space_trials,
    print_best,
    print_out,
    sqlite_path,
    target,
    trial_dict,
    value_text,
)


def _results(
    storage: Storage,
    rec: StudyRecord,
) -> tuple[View, Callable[[], list[Trial]], Callable[[], dict[str, Any]], list[int]]:
    """What ``status`` and ``best`` print from: a view of the study, its best trials, its
    summary and its trials from an earlier space. Read from the storage's aggregates, so
    the cost stays flat; a study with constraints reads its history instead (feasibility
    needs every finished trial's constraint metrics)."""
    outside = outside_space_trials(storage, rec)
    if not rec.attrs.get("constraints"):
        return (
            View.of_record(storage, rec),
            lambda: storage.best_trials(rec.id),
            lambda: _status(storage, rec, outside),
            outside,
        )
    from hypersweep.study import Study

    study = Study.load(rec.name, storage=storage)

    def best() -> list[Trial]:
        if len(study.objectives) > 1:
            return study.best_trials
        t = study.best_trial
        return [] if t is None else [t]

    return View.of_study(study), best, study.summary, study.outside_space()


def _status(storage: Storage, rec: StudyRecord, outside: list[int]) -> dict[str, Any]:
    """What ``status --json`` prints (the content of :meth:`Study.summary`), from the
    storage's aggregates."""
    from hypersweep.storage.base import running_rows
    from hypersweep.trial import TrialState

    counts = storage.count_trials(rec.id)
    out: dict[str, Any] = {
        "name": rec.name,
        "trials": sum(counts.values()),
        "states": {s.value: int(counts.get(s, 0)) for s in TrialState},
        "objectives": [o.to_dict() for o in rec.objectives],
    }
    if len(rec.objectives) == 1:
        best = storage.best_trials(rec.id)
        out["best"] = (
            None
            if not best
            else {"number": best[0].number, "value": best[0].value, "params": best[0].params}
        )
    out["outside_space"] = len(outside)  # from an earlier space
    out["trial_seconds"] = storage.trial_seconds(rec.id)
    out["stop_reason"] = rec.attrs.get("stop_reason")
    out["sampler"] = rec.attrs.get("sampler")
    out["policy"] = rec.attrs.get("policy")
    out["running"] = running_rows(storage, rec.id) if out["states"]["RUNNING"] else []
    return out


def cmd_status(args: argparse.Namespace) -> int:
    """``hypersweep status NAME``: counts by state, best so far, the sampler and stopping
    policy in use, the running trials' current step and latest value, stop reason."""
    import time

    from hypersweep.progress import RunningTrial, running_texts
    from hypersweep.trial import TrialState

    name, url = target(args)
    storage, rec = open_record(name, url)
    view, best_trials, summarize, outside = _results(storage, rec)
    summary = summarize()
    if args.json:
        summary["storage"] = url
        print_out(json.dumps(summary, indent=2, default=str))
        return EXIT_OK
    objs = ", ".join(f"{o.goal} {o.metric}" for o in rec.objectives)
    print_out(f"study:     {rec.name}  ({url})")
    print_out(f"objective: {objs}")
    print_out(f"trials:    {summary['trials']} ({counts_text(summary['states'])})")
    print_out(f"cost:      {summary['trial_seconds']:.1f} trial-seconds (finished + running)")
    if view.constraints:
        cons = ", ".join(c.describe() for c in view.constraints)
        print_out(
            f"feasible:  {summary['feasible']} of {summary['feasible'] + summary['infeasible']}"
            f" finished trials meet {cons}"
        )
    if len(rec.objectives) == 1:
        b = summary["best"]
        if b is None:
            print_out(
                "best:      no feasible completed trial yet"
                if view.constraints
                else "best:      no completed trial yet"
            )
        else:
            note = "  (from an earlier search space)" if b["number"] in outside else ""
            print_out(
                f"best:      {value_text(b['value'])} (trial {b['number']})  "
                f"{exact_params(b['params'])}{note}"
            )
    else:
        print_out(f"pareto:    {len(best_trials())} trials on the front")
    if outside:
        print_out(
            f"space:     {len(outside)} trial{'s' * (len(outside) != 1)} from an earlier "
            "search space (counted and shown; not used by the sampler)"
        )
    n_running = summary["states"].get("RUNNING", 0)
    sampler, policy = summary.get("sampler"), summary.get("policy")
    now = time.time()
    metrics = [o.metric for o in rec.objectives]
    running = [RunningTrial.from_row(r, metrics, now) for r in summary["running"]]
    if isinstance(sampler, dict) and sampler.get("description"):  # stored by a run
        print_out(f"sampler:   {sampler['description']}")
        print_out(
            "stopping:  "
            + (policy["description"] if isinstance(policy, dict) else "none (no early stopping)")
        )
    if rec.attrs.get("stop_requested") and n_running:
        print_out(f"state:     stop requested ({rec.attrs['stop_requested']})")
    elif n_running:
        print_out(f"state:     running ({n_running} trial{'s' * (n_running != 1)})")
    elif summary.get("stop_reason"):
        print_out(f"stopped:   {summary['stop_reason']}")
    for line in running_texts(running, n_running, len(running)):
        print_out(f"  {line}")
    t = storage.last_trial(rec.id, TrialState.FAILED)
    if t is not None:
        print_out(f"last failure: trial {t.number}: {one_line(t.error or '')[:200]}")
    return EXIT_OK


def cmd_best(args: argparse.Namespace) -> int:
    """``hypersweep best NAME``: the best trial (or Pareto front) and how to rerun it."""
    if getattr(args, "robust", False):  # by the re-evaluated mean (cli/reevaluate.py)
        from hypersweep.cli.reevaluate import robust_best

        return robust_best(args)
    name, url = target(args)
    storage, rec = open_record(name, url)
    view, best_trials, _, _ = _results(storage, rec)
    if len(rec.objectives) == 1:
        best = best_trials()
        t = best[0] if best else None
        if args.json:
            print_out(json.dumps(None if t is None else trial_dict(view, t), indent=2))
            return EXIT_OK if t is not None else EXIT_FAILED
        if t is None:
            what = "feasible completed" if view.constraints else "completed"
            raise RunFailed(f"study {name!r} has no {what} trial yet")
        print_best(view, t)
        return EXIT_OK
    front = best_trials()
    if args.json:
        print_out(json.dumps([trial_dict(view, t) for t in front], indent=2))
        return EXIT_OK if front else EXIT_FAILED
    if not front:
        raise RunFailed(f"study {name!r} has no completed trial yet")
    print_out(f"pareto front of {rec.name}: {len(front)} trials")
    for t in front:
        print_best(view, t, label="")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    """``hypersweep export NAME --csv FILE | --json FILE``."""
    from hypersweep.study import Study

    name, url = target(args)
    storage, rec = open_record(name, url)
    study = Study.load(name, storage=storage)
    path, fmt = (args.csv, "csv") if args.csv else (args.json, "json")
    try:
        out = study.export(path, format=fmt)
    except OSError as e:
        raise RunFailed(f"cannot write {path!r}: {e.strerror or e}") from None
    n = sum(storage.count_trials(rec.id).values())
    print_out(f"wrote {n} trials of {study.name!r} to {out}")
    return EXIT_OK


def cmd_ls(args: argparse.Namespace) -> int:
    """``hypersweep ls``: every study with its trial counts and best value."""
    from hypersweep.trial import TrialState

    url = args.storage or DEFAULT_STORAGE
    path = sqlite_path(url)
    if path is not None and not path.exists():
        print_out(f"no studies in {url} (the file does not exist yet)")
        return EXIT_OK
    storage = open_storage_at(url, read_only=True)
    studies = storage.list_studies()
    if not studies:
        print_out(f"no studies in {url}")
        return EXIT_OK
    rows = [("NAME", "TRIALS", "COMPLETED", "FAILED", "RUNNING", "BEST", "OBJECTIVE")]
    for rec in studies:
        counts = storage.count_trials(rec.id)
        total = sum(counts.values())
        best = "-"
        if len(rec.objectives) == 1:
            top = storage.best_trials(rec.id)
            if top:
                best = value_text(top[0].value)
        objective = ", ".join(f"{o.goal} {o.metric}" for o in rec.objectives)
        rows.append(
            (
                rec.name,
                str(total),
                str(counts.get(TrialState.COMPLETED, 0)),
                str(counts.get(TrialState.FAILED, 0)),
                str(counts.get(TrialState.RUNNING, 0)),
                best,
                objective,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print_out("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return EXIT_OK
