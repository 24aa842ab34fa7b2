"""Live progress displays for a running sweep (the runner's ``Progress`` protocol).

* :class:`RichProgress` (a terminal): a progress bar of trials against ``max_trials`` (or
  elapsed time against ``timeout``), elapsed time and ETA, counts by state, the sampler in
  use (what ``auto`` chose and why) and the stopping policy, the best value and its
  parameters so far, the running trials with their current step and latest value, and
  the latest finished trials. It redraws four times a second from a snapshot the
  runner's thread takes, so the clock keeps moving while trials run.
* :class:`PlainProgress` (CI logs, ``| tee``): the sampler and policy when the run starts
  (and again if ``auto`` hands over), one line per finished trial, and one every
  ``interval`` seconds with the running trials::

      sampler: auto -> gp (1 objective, 2 unconditional parameters, ...); stopping: none
      [12/40] trial 11 COMPLETED val_accuracy=0.9533 (3.1s) | best=0.9612 (trial 7) ...
      [12/40] best=0.9612 ... elapsed=1m05s | trial 12 RUNNING step 4 val_accuracy=0.91 (20s)

:func:`make_progress` picks one for a stream. A display never breaks a run: the runner
swallows any exception a display raises.
"""

from __future__ import annotations

import math
import numbers
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TextIO

from hypersweep.trial import Trial, TrialState

if TYPE_CHECKING:
    from hypersweep.execution.runner import Runner

__all__ = ["PlainProgress", "RichProgress", "RunningTrial", "Snapshot", "make_progress"]

#: running trials a display lists (then "and N more")
SHOW_RUNNING = 10


def fmt_value(v: Any) -> str:
    """A short, readable number (``0.9612``, ``1.2e-05``, ``128``)."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):  # numpy's numbers too
        return str(v)
    if isinstance(v, numbers.Integral):
        return str(int(v))
    if not math.isfinite(v):
        return str(v)
    return f"{float(v):.4g}"


def fmt_params(params: Mapping[str, Any]) -> str:
    """``lr=0.0031 hidden=128 act=relu``."""
    return " ".join(f"{k}={fmt_value(v)}" for k, v in params.items())


def fmt_duration(seconds: float | None) -> str:
    """``34s``, ``2m05s``, ``1h02m``."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    s = max(0.0, seconds)
    if s < 10:
        return f"{s:.1f}s"
    if s < 60:
        return f"{s:.0f}s"
    m, sec = divmod(int(round(s)), 60)
    if m < 60:
        return f"{m}m{sec:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def _first_line(text: str | None, width: int = 70) -> str:
    if not text:
        return ""
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    line = lines[-1] if lines else ""
    return line if len(line) <= width else line[: width - 1] + "…"


@dataclass(frozen=True)
class RunningTrial:
    """A running trial as the displays and ``hypersweep status`` show it.

    Attributes:
        number: the trial number.
        step: its last reported step (``None``: no report yet).
        latest: the objective metrics in its latest report (the report's first metrics
            when it holds none of them).
        elapsed: seconds since it started (``None`` when unknown).
    """

    number: int
    step: int | None
    latest: dict[str, float]
    elapsed: float | None

    @classmethod
    def of(
        cls, trial: Trial, metrics: Sequence[str], now: float, started_at: float | None = None
    ) -> RunningTrial:
        """From a trial snapshot (its reports: at least the latest step), the objective
        metric names, and the time now (UNIX seconds); ``started_at`` overrides the
        trial's own start (when its code started)."""
        step = trial.last_step
        report = trial.reports[step] if step is not None else {}
        start = trial.started_at if started_at is None else started_at
        return cls._make(trial.number, step, report, metrics, now, start)

    @classmethod
    def from_row(cls, row: Mapping[str, Any], metrics: Sequence[str], now: float) -> RunningTrial:
        """From a summary's ``running`` row (:func:`hypersweep.storage.base.running_rows`)."""
        return cls._make(
            row["number"], row["step"], row["latest"] or {}, metrics, now, row["started_at"]
        )

    @classmethod
    def _make(
        cls,
        number: int,
        step: int | None,
        report: Mapping[str, float],
        metrics: Sequence[str],
        now: float,
        start: float | None,
    ) -> RunningTrial:
        latest = {m: report[m] for m in metrics if m in report}
        if not latest:
            latest = dict(list(report.items())[:2])
        return cls(number, step, latest, None if start is None else max(0.0, now - start))

    def text(self) -> str:
        """``trial 12 RUNNING step 4 val_accuracy=0.91 (20s)``."""
        took = fmt_duration(self.elapsed)
        if self.step is None:
            return f"trial {self.number} RUNNING no report yet ({took})"
        return f"trial {self.number} RUNNING step {self.step} {fmt_params(self.latest)} ({took})"


def running_texts(
    running: Sequence[RunningTrial], total: int, shown: int = SHOW_RUNNING
) -> list[str]:
    """One text per running trial, ``shown`` at most, then ``and N more running`` for the
    rest of ``total``."""
    out = [r.text() for r in running[:shown]]
    if total > len(out):
        out.append(f"and {total - len(out)} more running")
    return out


@dataclass(frozen=True)
class Snapshot:
    """What a display shows, taken on the runner's thread (safe to read elsewhere).

    Attributes:
        name: the study name.
        metric: the (first) objective metric name.
        multi: more than one objective.
        max_trials: the trial limit, or ``None``.
        timeout: the run's time limit in seconds, or ``None``.
        done: finished trials in the study (COMPLETED, STOPPED, FAILED).
        counts: trials by state name.
        best: ``(number, value, params)`` of the best trial, or ``None``.
        front: size of the Pareto front (multi-objective).
        recent: the latest finished trials, newest first.
        done_at_start: ``done`` when this run started (for the rate and ETA).
        t0: ``time.monotonic()`` when this run started.
        stop_reason: why the run is stopping, once known.
        running: this run's running trials (the first :data:`SHOW_RUNNING`), by number.
        n_running: how many trials this run has running.
        sampler: the sampler in use (:meth:`Sampler.describe
            <hypersweep.samplers.base.Sampler.describe>`), once the run stored it.
        policy: the stopping policy (:meth:`Policy.describe
            <hypersweep.stopping.base.Policy.describe>`), ``None`` when there is none.
    """

    name: str
    metric: str
    multi: bool
    max_trials: int | None
    timeout: float | None
    done: int
    counts: dict[str, int]
    best: tuple[int, float, dict[str, Any]] | None
    front: int
    recent: tuple[Trial, ...]
    done_at_start: int
    t0: float
    stop_reason: str | None = None
    running: tuple[RunningTrial, ...] = ()
    n_running: int = 0
    sampler: str | None = None
    policy: str | None = None
    taken: float = field(default_factory=time.monotonic)

    @classmethod
    def take(
        cls, runner: Runner, done_at_start: int | None = None, recent: tuple[Trial, ...] = ()
    ) -> Snapshot:
        study = runner.study
        h = study.history
        counts = {s.value: n for s, n in h.counts().items()}
        done = counts["COMPLETED"] + counts["STOPPED"] + counts["FAILED"]
        best = None
        front = 0
        if len(study.objectives) == 1:  # infeasible trials: never best
            i = h.best_index()
            t = None if i is None else h.trials[i]
            if t is not None and t.values is not None:
                best = (t.number, float(t.values[0]), dict(t.params))
        else:
            front = len(h.front())
        metrics = [o.metric for o in study.objectives]
        now = runner.clock.time()
        numbers = sorted(runner.running)
        running = []
        for n in numbers[:SHOW_RUNNING]:
            t = h.trials[n] if n < len(h.trials) else None
            if t is not None:
                running.append(RunningTrial.of(t, metrics, now, runner.executor.started_at(n)))
        described = runner.described or {}
        sampler = (described.get("sampler") or {}).get("description")
        policy = (described.get("policy") or {}).get("description")
        return cls(
            name=study.name,
            metric=study.objectives[0].metric,
            multi=len(study.objectives) > 1,
            max_trials=runner.limits.max_trials,
            timeout=runner.limits.timeout,
            done=done,
            counts=counts,
            best=best,
            front=front,
            recent=recent,
            done_at_start=done if done_at_start is None else done_at_start,
            t0=runner._t0,
            stop_reason=runner.stop_reason,
            running=tuple(running),
            n_running=len(numbers),
            sampler=sampler,
            policy=policy,
        )

    def search_text(self) -> str:
        """``sampler: ...; stopping: ...`` (empty before the run stored them)."""
        if self.sampler is None:
            return ""
        return f"sampler: {self.sampler}; stopping: {self.policy or 'none'}"

    def elapsed(self, now: float | None = None) -> float:
        return (time.monotonic() if now is None else now) - self.t0

    def eta(self, now: float | None = None) -> float | None:
        """Seconds until the run ends at the current pace (``None`` when unknown)."""
        el = self.elapsed(now)
        out = None
        if self.max_trials is not None:
            finished_here = self.done - self.done_at_start
            left = max(0, self.max_trials - self.done)
            if left == 0:
                out = 0.0
            elif finished_here > 0:
                out = left * el / finished_here
        if self.timeout is not None:
            rest = max(0.0, self.timeout - el)
            out = rest if out is None else min(out, rest)
        return out

    def counter(self) -> str:
        return f"{self.done}/{self.max_trials}" if self.max_trials else f"{self.done}"

    def best_text(self) -> str:
        if self.multi:
            return f"pareto front: {self.front} trial{'s' * (self.front != 1)}"
        if self.best is None:
            return "best=-"
        return f"best={fmt_value(self.best[1])} (trial {self.best[0]})"


def trial_text(t: Trial, metric: str) -> str:
    """``trial 11 COMPLETED val_accuracy=0.9533 (3.1s)`` or the failure reason."""
    dur = fmt_duration(t.duration)
    if t.state == TrialState.FAILED:
        return f"trial {t.number} FAILED ({dur}): {_first_line(t.error) or 'no reason given'}"
    if t.values is None:
        return f"trial {t.number} {t.state.value} ({dur})"
    vals = " ".join(f"{fmt_value(v)}" for v in t.values)
    label = metric if len(t.values) == 1 else "values"
    return f"trial {t.number} {t.state.value} {label}={vals} ({dur})"


class _Base:
    """Shared bookkeeping: the snapshot at start and the latest finished trials."""

    keep = 5

    def __init__(self) -> None:
        self._done_at_start: int | None = None
        self._recent: list[Trial] = []

    def _snap(self, runner: Runner) -> Snapshot:
        snap = Snapshot.take(runner, self._done_at_start, tuple(reversed(self._recent)))
        if self._done_at_start is None:
            self._done_at_start = snap.done
        return snap

    def _remember(self, trial: Trial) -> None:
        self._recent.append(trial)
        del self._recent[: -self.keep]


class PlainProgress(_Base):
    """Plain lines for logs: one per finished trial, and one every ``interval`` seconds.

    Args:
        stream: where to write (default: standard output at the time of writing).
        interval: seconds between periodic lines while nothing finishes.
    """

    #: running trials a periodic line lists
    show_running = 5

    def __init__(self, stream: TextIO | None = None, interval: float = 10.0) -> None:
        super().__init__()
        self.stream = stream
        self.interval = interval
        self._last = time.monotonic()
        self._search = ""  # the sampler/policy line last written

    def _write(self, line: str) -> None:
        out = self.stream if self.stream is not None else sys.stdout
        out.write(line + "\n")
        out.flush()
        self._last = time.monotonic()

    def _status(self, s: Snapshot) -> str:
        c = s.counts
        parts = [s.best_text(), f"completed={c['COMPLETED']}"]
        if c["STOPPED"]:
            parts.append(f"stopped={c['STOPPED']}")
        parts += [
            f"failed={c['FAILED']}",
            f"running={c['RUNNING']}",
            f"elapsed={fmt_duration(s.elapsed())}",
        ]
        eta = s.eta()
        if eta is not None and s.done > s.done_at_start:
            parts.append(f"eta={fmt_duration(eta)}")
        return " ".join(parts)

    def _search_line(self, s: Snapshot) -> None:
        """Write the sampler and policy when they are first known, and when they change."""
        text = s.search_text()
        if text and text != self._search:
            self._search = text
            self._write(text)

    def start(self, runner: Runner) -> None:
        self._snap(runner)
        self._last = time.monotonic()

    def update(self, runner: Runner) -> None:
        due = time.monotonic() - self._last >= self.interval
        if self._search and not due:
            return
        s = self._snap(runner)
        self._search_line(s)
        if due:
            line = f"[{s.counter()}] {self._status(s)}"
            running = running_texts(s.running, s.n_running, self.show_running)
            if running:
                line += " | " + "; ".join(running)
            self._write(line)

    def trial_finished(self, runner: Runner, trial: Trial) -> None:
        self._remember(trial)
        s = self._snap(runner)
        self._search_line(s)
        self._write(f"[{s.counter()}] {trial_text(trial, s.metric)} | {self._status(s)}")

    def end(self, runner: Runner) -> None:
        pass


class _View:
    """A renderable that rich redraws from the latest snapshot (on its refresh thread)."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    def __rich_console__(self, console: Any, options: Any) -> Any:
        yield self.render(options.max_width)

    def render(self, width: int = 100) -> Any:
        """The display as a rich renderable, ``width`` columns wide at most."""
        from rich import box
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        s = self.snap
        now = time.monotonic()
        el = s.elapsed(now)
        if s.max_trials:
            bar = ProgressBar(total=s.max_trials, completed=min(s.done, s.max_trials), width=36)
            what = f" {s.done}/{s.max_trials} trials"
        elif s.timeout:
            bar = ProgressBar(total=s.timeout, completed=min(el, s.timeout), width=36)
            what = f" {s.done} trials"
        else:
            bar = ProgressBar(total=None, width=36)
            what = f" {s.done} trials"
        eta = s.eta(now)
        clock = f"  {fmt_duration(el)} elapsed"
        if eta is not None and (s.done > s.done_at_start or s.timeout):
            clock += f", ETA {fmt_duration(eta)}"
        head = Table.grid(padding=(0, 1))
        head.add_row(Text(s.name, style="bold"), bar, Text(what + clock))

        c = s.counts
        counts = Text()
        for label, key, style in (
            ("completed", "COMPLETED", "green"),
            ("stopped", "STOPPED", "yellow"),
            ("failed", "FAILED", "red"),
            ("running", "RUNNING", "cyan"),
            ("queued", "QUEUED", "dim"),
        ):
            if key in ("STOPPED", "QUEUED") and not c[key]:
                continue
            counts.append(f"{c[key]} {label}", style=style)
            counts.append("   ")

        if s.multi:
            best = Text(s.best_text())
        elif s.best is None:
            best = Text("best: no completed trial yet", style="dim")
        else:
            best = Text.assemble(
                ("best ", "bold"),
                (f"{s.metric}={fmt_value(s.best[1])}", "bold green"),
                f" (trial {s.best[0]})  ",
                (fmt_params(s.best[2]), "dim"),
            )

        parts: list[Any] = [head, counts]
        if s.sampler is not None:
            search = Table.grid(padding=(0, 1))
            search.add_column(style="bold", no_wrap=True)
            search.add_column(overflow="ellipsis", no_wrap=True, max_width=max(10, width - 10))
            search.add_row("sampler", s.sampler)
            search.add_row("stopping", s.policy or Text("none", style="dim"))
            parts.append(search)
        parts.append(best)
        if s.running:
            run = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False, title_justify="left")
            run.add_column("running", justify="right", min_width=7, no_wrap=True)
            run.add_column("step", justify="right", min_width=4, no_wrap=True)
            run.add_column(
                "latest", overflow="ellipsis", no_wrap=True, max_width=max(10, width - 30)
            )
            run.add_column("for", justify="right", min_width=8, no_wrap=True)
            for r in s.running:
                took = None if r.elapsed is None else r.elapsed + (now - s.taken)
                run.add_row(
                    Text(str(r.number), style="cyan"),
                    "-" if r.step is None else str(r.step),
                    fmt_params(r.latest) if r.latest else Text("no report yet", style="dim"),
                    fmt_duration(took),
                )
            parts.append(run)
            if s.n_running > len(s.running):
                parts.append(Text(f"and {s.n_running - len(s.running)} more running", style="dim"))
        if s.recent:
            table = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False)
            label = s.metric if not s.multi else "values"
            table.add_column("trial", justify="right", min_width=5, no_wrap=True)
            table.add_column("state", min_width=9, no_wrap=True)
            table.add_column(label, justify="right", min_width=max(6, len(label)), no_wrap=True)
            table.add_column("duration", justify="right", min_width=8, no_wrap=True)
            rest = max(10, width - 5 - 9 - max(6, len(label)) - 8 - 10)
            table.add_column("params / error", overflow="ellipsis", no_wrap=True, max_width=rest)
            for t in s.recent:
                style = {"COMPLETED": "green", "STOPPED": "yellow", "FAILED": "red"}.get(
                    t.state.value, ""
                )
                value = " ".join(fmt_value(v) for v in t.values) if t.values else "-"
                extra = (
                    _first_line(t.error) if t.state == TrialState.FAILED else fmt_params(t.params)
                )
                table.add_row(
                    str(t.number),
                    Text(t.state.value, style=style),
                    value,
                    fmt_duration(t.duration),
                    Text(extra, overflow="ellipsis", no_wrap=True),
                )
            parts.append(table)
        if s.stop_reason:
            parts.append(Text(f"stopping: {s.stop_reason}", style="yellow"))
        return Group(*parts)


class RichProgress(_Base):
    """A live terminal display built with rich.

    Args:
        console: a ``rich.console.Console`` (default: one on standard output).
        refresh_per_second: redraws per second.
    """

    def __init__(self, console: Any = None, refresh_per_second: float = 4.0) -> None:
        super().__init__()
        self.console = console
        self.refresh_per_second = refresh_per_second
        self._live: Any = None
        self._view: _View | None = None

    def start(self, runner: Runner) -> None:
        from rich.console import Console
        from rich.live import Live

        if self.console is None:
            self.console = Console()
        self._view = _View(self._snap(runner))
        self._live = Live(
            self._view,
            console=self.console,
            refresh_per_second=self.refresh_per_second,
            transient=False,
            redirect_stdout=True,
            redirect_stderr=True,
        )
        self._live.start()

    def update(self, runner: Runner) -> None:
        if self._view is not None:
            self._view.snap = self._snap(runner)

    def render(self, width: int = 100) -> Any:
        """The current frame as a rich renderable (what the live display draws next)."""
        if self._view is None:
            raise RuntimeError("the display has not started")
        return self._view.render(width)

    def trial_finished(self, runner: Runner, trial: Trial) -> None:
        self._remember(trial)
        self.update(runner)

    def end(self, runner: Runner) -> None:
        if self._live is None:
            return
        try:
            if self._view is not None:  # the final frame; the caller prints the reason
                self._view.snap = replace(self._snap(runner), stop_reason=None)
            self._live.refresh()
        finally:
            self._live.stop()
            self._live = None

    def close(self) -> None:
        """Stop the display if it is still up (after an error or Ctrl-C)."""
        if self._live is not None:
            try:
                self._live.stop()
            finally:
                self._live = None


def make_progress(mode: str = "auto", stream: TextIO | None = None) -> Any:
    """A display for ``stream`` (default standard output).

    Args:
        mode: ``auto`` (rich on a terminal, plain lines otherwise), ``rich``, ``plain`` or
            ``off`` (returns ``None``).
    """
    out = stream if stream is not None else sys.stdout
    if mode == "off":
        return None
    if mode == "auto":
        isatty = getattr(out, "isatty", None)
        mode = "rich" if callable(isatty) and isatty() else "plain"
    if mode == "rich":
        from rich.console import Console

        return RichProgress(Console(file=out) if stream is not None else None)
    return PlainProgress(stream)
