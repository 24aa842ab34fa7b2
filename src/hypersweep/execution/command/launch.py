"""Before a command trial starts: the checks of its program and script, its working
directory (shared, or a fresh folder per trial), and the placeholders every command may
use besides its parameters (see :mod:`hypersweep.execution.command`)."""

from __future__ import annotations

import math
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from typing import Any

from hypersweep.errors import HypersweepError
from hypersweep.execution.command.template import (
    TRIAL_PLACEHOLDERS,
    format_value,
    parse_template,
)

__all__ = [
    "PER_TRIAL",
    "check_options",
    "check_program",
    "check_script",
    "fill",
    "per_trial_argv",
    "protocol_env",
    "trial_context",
]

#: ``workdir: per_trial``: each trial runs in ``<its run folder>/work/``.
PER_TRIAL = "per_trial"
_PYTHON = re.compile(r"python[\d.]*")
#: Programs whose first argument is a script file.
_INTERPRETERS = re.compile(r"(python[\d.]*|pypy[\d.]*|bash|sh|zsh|Rscript|node|julia|ruby|perl)")


def check_program(program: str, workdir: str | None, env: Mapping[str, str]) -> None:
    """Refuse a program that cannot be found (every trial would fail alike)."""
    if "{" in program:
        return
    path = (env.get("PATH") or os.environ.get("PATH")) or os.defpath
    if os.sep in program:
        full = os.path.join(workdir or os.getcwd(), program)
        ok = os.path.isfile(full) and os.access(full, os.X_OK)
    else:
        ok = shutil.which(program, path=path) is not None
    if not ok:
        where = f" in {workdir!r}" if os.sep in program else " on the PATH"
        raise HypersweepError(f"command: program {program!r} not found{where} (or not executable)")


def check_options(
    max_concurrent: Any,
    trial_timeout: Any,
    grace: Any,
    report_rate: Any,
    report_burst: Any,
    read_per_poll: Any,
) -> None:
    """The executor's numeric options checked (one line naming the option)."""
    if (
        isinstance(max_concurrent, bool)
        or not isinstance(max_concurrent, int)
        or max_concurrent < 1
    ):
        raise HypersweepError(
            f"max_concurrent: must be a positive integer, got {max_concurrent!r}"
        )
    if trial_timeout is not None and not (
        isinstance(trial_timeout, (int, float)) and trial_timeout > 0
    ):
        raise HypersweepError(
            f"trial_timeout: must be a positive number of seconds, got {trial_timeout!r}"
        )
    if not isinstance(grace, (int, float)) or isinstance(grace, bool) or not grace >= 0:
        raise HypersweepError(f"grace: must be >= 0 seconds, got {grace!r}")
    for key, v, low in (
        ("report_rate", report_rate, 0),
        ("report_burst", report_burst, 1),
        ("read_per_poll", read_per_poll, 1),
    ):
        if (
            isinstance(v, bool)
            or not isinstance(v, (int, float))
            or not (math.isfinite(v) and v >= low)
            or (key != "report_rate" and v != int(v))
        ):
            raise HypersweepError(f"{key}: must be a number >= {low}, got {v!r}")


def check_script(argv: Sequence[str], workdir: str | None) -> None:
    """``python missing.py ...`` would fail every trial alike: refuse it now."""
    if not _PYTHON.fullmatch(os.path.basename(argv[0])) or len(argv) < 2:
        return
    script = argv[1]
    if script.startswith("-") or "{" in script or not script.endswith(".py"):
        return
    full = os.path.join(workdir or os.getcwd(), os.path.expanduser(script))
    if not os.path.isfile(full):
        raise HypersweepError(
            f"command: script {script!r} not found in {workdir or os.getcwd()!r}; "
            "fix the path (relative to workdir, the sweep file's folder by default)"
        )


def trial_context(number: int, run_dir: str, study: str, workdir: str) -> dict[str, str]:
    """The values of :data:`~hypersweep.execution.command.template.TRIAL_PLACEHOLDERS`."""
    return {"trial": str(number), "trial_dir": run_dir, "study": study, "workdir": workdir}


def fill(text: str, params: Mapping[str, Any], context: Mapping[str, str]) -> str:
    """``text`` with its ``{placeholders}`` replaced (parameters, then the trial's own).

    Example:
        >>> fill("logs/{study}-{trial}/{lr}", {"lr": 0.1}, {"trial": "3", "study": "s"})
        'logs/s-3/0.1'
    """
    out = []
    for is_ph, part in parse_template(text):
        if not is_ph:
            out.append(part)
        elif part in params:
            out.append(format_value(params[part]))
        elif part in context:
            out.append(context[part])
        else:
            known = ", ".join([*params, *TRIAL_PLACEHOLDERS])
            raise HypersweepError(f"placeholder {{{part}}} is none of: {known}")
    return "".join(out)


def per_trial_argv(argv: list[str], workdir: str) -> tuple[list[str], bool]:
    """The argv of a trial that runs in its own folder: a relative program path and an
    interpreter's script (``python train.py``) are made absolute (against ``workdir``,
    where they are). Returns it and whether it runs a Python module (``python -m pkg``),
    which needs ``workdir`` on ``PYTHONPATH`` (it was the current directory)."""
    out = list(argv)
    if os.sep in out[0] and not os.path.isabs(out[0]):
        out[0] = os.path.join(workdir, out[0])
    module = False
    if _INTERPRETERS.fullmatch(os.path.basename(out[0])) and len(out) > 1:
        i = 1
        while i < len(out) and out[i].startswith("-") and out[i] != "-m":
            i += 1  # interpreter options (python -u train.py)
        if i < len(out) and out[i] == "-m":
            module = True
        elif i < len(out) and not os.path.isabs(out[i]):
            candidate = os.path.join(workdir, os.path.expanduser(out[i]))
            if os.path.isfile(candidate):
                out[i] = candidate
    return out, module


def protocol_env(
    run_dir: str,
    number: int,
    study: str,
    base: str,
    seed: int | None,
    restore: str | None,
    budget: float | None,
) -> dict[str, str]:
    """The ``HYPERSWEEP_*`` variables of one trial's protocol (the SDK reads them): its
    files in ``run_dir``, number, study, seed, checkpoint folders and budget."""
    join = os.path.join
    env = {
        "HYPERSWEEP_WORKDIR": base,
        "HYPERSWEEP_METRICS_FILE": join(run_dir, "metrics.jsonl"),
        "HYPERSWEEP_STOP_FILE": join(run_dir, "STOP"),
        "HYPERSWEEP_NOTICE_FILE": join(run_dir, "NOTICE"),  # what we tell the trial
        "HYPERSWEEP_TRIAL": str(number),
        "HYPERSWEEP_STUDY": study,
        "HYPERSWEEP_RUN_DIR": run_dir,
        "HYPERSWEEP_CHECKPOINT_DIR": join(run_dir, "checkpoint"),
    }
    if seed is not None:
        env["HYPERSWEEP_SEED"] = str(seed)
    if restore is not None:
        env["HYPERSWEEP_RESTORE_FROM"] = restore
    if budget is not None:
        env["HYPERSWEEP_BUDGET"] = format_value(budget)
    return env
