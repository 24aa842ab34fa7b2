"""The sweep-file commands: ``hypersweep run`` and ``hypersweep validate``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from hypersweep._validate import one_line
from hypersweep.errors import HypersweepError, StudyNotFound

if TYPE_CHECKING:
    from hypersweep.study import Study

from hypersweep.cli._common import (
    DEFAULT_STORAGE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    RunFailed,
    UsageError,
    counts_text,
    exact_params,
    interrupts,
    open_storage_at,
    print_best,
    print_err,
    print_out,
    sqlite_path,
)
from hypersweep.execution.command import rerun_command


def cmd_run(args: argparse.Namespace) -> int:
    """``hypersweep run FILE``: create or resume the study and run its trials."""
    from hypersweep.progress import make_progress
    from hypersweep.spec import Overrides, build

    spec = _load_foreign_aware(args.file)
    if spec is None:
        return EXIT_USAGE
    if args.new_name is not None and args.name is not None:
        raise UsageError("--name and --new-name: give one of them")
    for flag, value in (("--name", args.name), ("--new-name", args.new_name)):
        from hypersweep._validate import STUDY_NAME

        if value is not None and not STUDY_NAME.fullmatch(value):
            raise UsageError(
                f"{flag}: {value!r:.80} is not a valid study name; use letters, "
                "digits, '_', '.', '-'"
            )
    if args.new_name is not None:
        _check_new_name(args.new_name, args.storage or spec.storage or DEFAULT_STORAGE)
        args.name = args.new_name
    progress = make_progress(args.progress)
    overrides = Overrides(
        name=args.name,
        storage=args.storage,
        seed=args.seed,
        max_trials=args.max_trials,
        max_concurrent=args.max_concurrent,
        timeout=args.timeout,
        extend_space=args.extend_space,
        gpus=getattr(args, "gpus", None),
    )
    study, runner = build(spec, overrides, progress=progress)
    return execute(study, runner, spec.grace, progress, args)


def execute(study: Study, runner: Any, grace: float, progress: Any, args: Any) -> int:
    """Run a built study's trials here and print the summary: the one code path of
    ``hypersweep run`` and ``hypersweep worker`` (``args``: ``heartbeat``, the
    worker's own ``max_trials`` as ``own_max_trials``)."""
    from hypersweep.progress import RichProgress

    heartbeat = getattr(args, "heartbeat", None)
    if heartbeat is not None:  # other workers' trials are lost after 3 missed beats
        runner.heartbeat_interval, runner.stale_after = heartbeat, 3 * heartbeat
    runner.own_max_trials = getattr(args, "own_max_trials", None)
    study.sync()
    before = study.history.n
    lim = runner.limits
    what = [
        f"{lim.max_trials} trials" if lim.max_trials else "no trial limit",
        f"{lim.max_concurrent} at a time",
    ]
    if lim.timeout:
        from hypersweep.progress import fmt_duration

        what.append(f"timeout {fmt_duration(lim.timeout)}")
    state = f"resuming with {before} trials" if before else "new study"
    print_out(
        f"hypersweep: study {study.name!r} in {study.storage.url} ({state}); {', '.join(what)}"
    )
    interrupted = False
    try:
        with interrupts(grace):
            runner.run()
    except KeyboardInterrupt:
        interrupted = True
    except HypersweepError as e:  # the sweep started but could not go on
        raise RunFailed(str(e)) from e
    finally:
        if isinstance(progress, RichProgress):
            progress.close()
    _summary(study, runner, before)
    if interrupted:
        print_err(
            "interrupted: running trials were ended and re-queued (up to limits.retries "
            "times); run the same command again to resume"
        )
        return EXIT_INTERRUPTED
    if runner.failed_fast:
        raise RunFailed(f"{runner.failed_fast} (logs under .hypersweep/runs/{study.name}/)")
    return _run_status(study, runner)


def _load_foreign_aware(file: str) -> Any:
    """``load(file)``; a foreign file (Azure ML, W&B) prints what was translated and one
    warning per key it cannot honour, or every key that stops it (then ``None``)."""
    from hypersweep.spec import ForeignFileError, load

    try:
        spec = load(file)
    except ForeignFileError as e:
        for p in e.problems:
            print_err(f"error: {p}")
        print_err(f"{file}: cannot run this {e.source} as it is ({len(e.problems)} key(s) above)")
        return None
    for line in spec.translated:
        print_err(line)
    for line in spec.foreign_warnings:
        print_err(f"warning: {line}")
    return spec


def _run_status(study: Study, runner: Any) -> int:
    """``run``'s exit status: a run that completes no trial fails (1), unless it had
    nothing to do for a study that already has results."""
    # trials ended by the stop itself ("interrupted (...)") say nothing about the sweep
    ran = [t for t in runner.finished if not (t.error or "").startswith("interrupted")]
    ok = [t for t in ran if t.state.value in ("COMPLETED", "STOPPED")]
    if ok or (runner.stop_reason or "").startswith("stop requested"):
        return EXIT_OK  # a stop request is the user's decision, like Ctrl-C
    if ran:
        last = next((t for t in reversed(ran) if t.error), None)
        reason = one_line(last.error)[:300] if last is not None and last.error else "unknown"
        raise RunFailed(
            f"all {len(ran)} trials of this run failed (none completed); the "
            f"last one: {reason} (logs under .hypersweep/runs/{study.name}/)"
        )
    if runner.retried:
        raise RunFailed(
            f"no trial of this run completed: {runner.stop_reason}; the "
            f"{len(runner.retried)} trials it ended were re-queued; run the same "
            "command again to resume (or raise --timeout)"
        )
    counts = study.summary()["states"]
    if counts.get("COMPLETED", 0) or counts.get("STOPPED", 0):
        return EXIT_OK  # nothing left to do (limits reached) for a study with results
    raise RunFailed(
        f"no trial ran and the study holds no completed trial "
        f"({counts_text(counts)}): {runner.stop_reason or 'nothing to run'}; "
        f"raise --max-trials, or start over with 'hypersweep delete "
        f"{study.name}'"
    )


def _check_new_name(name: str, url: str) -> None:
    """``--new-name NAME``: NAME must not be a study in the storage yet."""
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return
    storage = open_storage_at(url, read_only=True)
    try:
        storage.get_study(name)
    except StudyNotFound:
        return
    finally:
        storage.close()
    raise UsageError(
        f"--new-name: study {name!r} already exists in {url}; choose another "
        f"name, or resume it with --name {name}"
    )


def _summary(study: Study, runner: Any, before: int) -> None:
    """The end of ``run``: stop reason, counts, best trial and its command line."""
    from hypersweep.progress import fmt_duration

    summary = study.summary()
    n = summary["trials"]
    ran = len(runner.finished)
    print_out(f"stopped: {runner.stop_reason or 'interrupted'}")
    print_out(
        f"trials: {n} in the study ({counts_text(summary['states'])}); {ran} finished "
        f"in this run, {fmt_duration(runner.elapsed)}"
    )
    if len(study.objectives) == 1:
        print_best(study, study.best_trial)
    else:
        front = study.best_trials
        print_out(f"pareto front: {len(front)} trials (hypersweep best {study.name} lists them)")


def cmd_validate(args: argparse.Namespace) -> int:
    """``hypersweep validate FILE``: every error of the file, else its first trial's command."""
    from hypersweep.spec import Overrides, build, check

    spec, errors = check(args.file)
    if spec is None:
        for e in errors:
            print_err(f"error: {e}")
        print_err(f"{args.file}: {len(errors)} error{'s' * (len(errors) != 1)}")
        return EXIT_USAGE
    for shown in (*spec.translated, *(f"warning: {w}" for w in spec.foreign_warnings)):
        print_err(shown)
    storage_url = args.storage or spec.storage or DEFAULT_STORAGE
    study, _ = build(spec, Overrides(storage="memory"))  # nothing written, nothing run
    first = study.ask()
    params = exact_params(first.params)
    print_out(
        f"{args.file}: valid; study {study.name!r} ({len(study.space)} parameters, "
        f"{', '.join(f'{o.goal} {o.metric}' for o in study.objectives)}, sampler "
        f"{study.sampler.name}) in {storage_url}"
    )
    line = rerun_command(spec.sweep_attrs(), first.params, first.seed)
    if line:
        print_out(f"first trial: {line}")
    else:
        print_out(f"first trial: {spec.function}({params})")
    return EXIT_OK
