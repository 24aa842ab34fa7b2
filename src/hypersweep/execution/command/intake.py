"""The metric intake of a command trial: its new output parsed into reports, within a
read budget and a report rate (see "Metric intake" in :mod:`hypersweep.execution.command`)."""

from __future__ import annotations

import json
import logging
import math
import time

from hypersweep._validate import did_you_mean
from hypersweep.execution.base import Report
from hypersweep.execution.command.capture import json_step, parse_number
from hypersweep.execution.command.proc import REPORT_BURST, REPORT_RATE, Proc, notify
from hypersweep.metrics import LineParser, MetricsConfig, Point
from hypersweep.sdk import check_step

__all__ = [
    "FILE_INTERVAL",
    "MAX_NAMES",
    "READ_PER_POLL",
    "REDUCE",
    "REPORT_BURST",
    "REPORT_RATE",
    "MetricIntake",
]

log = logging.getLogger("hypersweep")

REDUCE = ("last", "min", "max")
#: Bytes read per poll from each output file of a trial (``stdout.log``, ``stderr.log``,
#: ``metrics.jsonl``); the rest waits for the next poll, so a trial that floods its output
#: never holds the loop.
READ_PER_POLL = 1 << 20
#: ... and for at most this many seconds of parsing, in pieces of :data:`READ_PIECE` bytes.
READ_SECONDS = 0.05
READ_PIECE = 1 << 16
#: Seconds between reads of a running trial's tracker files (MLflow, W&B, TensorBoard).
FILE_INTERVAL = 0.25
#: Metric names a trial may report besides the declared ones; later new names are dropped.
MAX_NAMES = 200


class MetricIntake:
    """The reading half of :class:`~hypersweep.execution.command.CommandExecutor`: it
    parses each trial's new output into ``p.reports`` (returned by ``poll``)."""

    metrics: tuple[str, ...]
    reduce: str
    read_per_poll: int
    report_rate: float
    report_burst: int
    metrics_config: MetricsConfig
    _parser: LineParser
    _closing: bool

    def _begin_stop(self, p: Proc, kind: str, grace: float | None = None) -> None:
        raise NotImplementedError

    def _read(self, p: Proc, final: bool = False) -> bool:
        """Parse the trial's new output, in pieces, for at most :data:`READ_SECONDS` and
        ``read_per_poll`` bytes, then pass the poll's reports on (:meth:`_flush`).
        Returns True while output is still waiting. Once the trial was asked to stop,
        what it writes is not counted, so it is skipped unread."""
        texts = [p.stdout, *([p.stderr] if p.stderr is not None else [])]
        if p.stop_kind is not None:
            p.metrics_file.skip()
            for tail in texts:
                tail.skip()
            p.batch.clear()
            return False
        cfg = self.metrics_config
        if not cfg.reads("stderr"):
            texts = texts[:1]
        if not cfg.reads("stdout"):
            texts = texts[1:]
        files = [p.metrics_file, *texts] if cfg.reads("jsonl") else texts
        end = time.monotonic() + READ_SECONDS
        budget = self.read_per_poll
        while True:
            piece = min(READ_PIECE, budget)
            budget -= piece
            if cfg.reads("jsonl"):
                self._read_metrics_file(p, p.metrics_file.lines(final, piece))
            for tail in texts:
                for raw in tail.lines(final, piece):
                    self._parse_text(p, raw)
            more = any(f.more for f in files)
            if not more or budget <= 0 or p.stop_kind is not None or time.monotonic() >= end:
                break
        now = time.monotonic()
        if p.sources and p.stop_kind is None and (final or now >= p.sources_at):
            p.sources_at = now + FILE_INTERVAL
            for source in p.sources:
                self._read_source(p, source.poll(final and not more))
        if p.stop_kind is None:
            self._flush(p, last=p.exited and not more)
        return more and p.stop_kind is None

    def _read_source(self, p: Proc, points: list[Point]) -> None:
        """A tracker's new points, one report per step (in the order they came)."""
        if not points:
            return
        p.structured = True
        group: dict[int | None, dict[str, float | str]] = {}
        for name, value, step in points:
            if step is None or (group and step not in group):
                for s, values in group.items():
                    self._record(p, s, values)
                group = {}
            if step is None:
                self._record(p, None, {name: value})
            else:
                group.setdefault(step, {})[name] = value
        for s, values in group.items():
            self._record(p, s, values)

    def _read_metrics_file(self, p: Proc, lines: list[bytes]) -> None:
        for raw in lines:
            line = raw.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            if not isinstance(obj, dict):
                log.warning(
                    "trial %d: metrics.jsonl: ignored a line that is not a JSON object: %.80r",
                    p.number,
                    line,
                )
                continue
            p.structured = True
            step = json_step(obj.pop("step", None))
            self._record(p, step, {str(k): parse_number(v) for k, v in obj.items()})

    def _parse_text(self, p: Proc, raw: bytes) -> None:
        """A stdout or stderr line: its patterns, and (unless the SDK or a tracker
        reported under ``source: auto``) its pairs and JSON (see :class:`LineParser`)."""
        line = raw.decode("utf-8", errors="replace").strip()
        if not line:
            return
        pairs = not (p.structured and self.metrics_config.auto)
        step, found = self._parser.parse(line, pairs=pairs)
        if found:
            self._record(p, step, found)

    def missing_metric(self, p: Proc, name: str, seen: list[str]) -> str:
        """The error of a trial that ended without reporting ``name`` (one line)."""
        read = ", ".join(self.metrics_config.sources)
        if not seen:
            return (
                f"metric {name!r} was not reported: the trial reported no metric (read: "
                f"{read}); print {name}=<value>, log it with MLflow, W&B or TensorBoard, or "
                "give metrics.patterns"
            )
        shown = ", ".join(seen[:20]) + (f" (+{len(seen) - 20} more)" if len(seen) > 20 else "")
        low = name.lower()
        near = [s for s in seen if low in s.lower() or s.lower() in low]  # acc, val_acc
        hint = did_you_mean(name, near or seen, cutoff=0.1 if near else 0.5)
        return (
            f"metric {name!r} was not reported{hint}; the trial "
            f"reported: {shown}; name one of them in objective.metric, or capture "
            f"{name!r} with metrics.patterns"
        )

    def _record(self, p: Proc, step: int | None, values: dict[str, float | str]) -> None:
        """One report: validate, aggregate, add it to the poll's batch (see :meth:`_flush`)."""
        if p.stop_kind is not None:
            return  # reports after a stop request are not counted
        step = p.last_step = check_step(step, p.last_step)
        numeric: dict[str, float] = {}
        for k, v in values.items():
            if k not in self.metrics and k not in p.names:
                if len(p.names) >= MAX_NAMES:
                    if len(p.names) == MAX_NAMES:
                        p.names.add("")  # warned
                        log.warning(
                            "trial %d: more than %d metric names; new names are ignored "
                            "(first ignored: %r)",
                            p.number,
                            MAX_NAMES,
                            k,
                        )
                    continue
                p.names.add(k)
            if isinstance(v, str):
                if k in self.metrics and p.invalid is None:
                    p.invalid = f"metric {k!r} is not a number: {v!r} (step {step})"
                continue
            if k in self.metrics and not math.isfinite(v) and p.invalid is None:
                p.invalid = f"metric {k!r} is {v!r} (step {step})"
            numeric[k] = v
        if numeric:
            p.received += 1
            p.batch.append((step, numeric))
        if p.invalid is not None:
            self._flush(p, last=True)
            self._begin_stop(p, "invalid")

    def _flush(self, p: Proc, last: bool = False) -> None:
        """Pass the poll's reports on (``p.reports``, returned by :meth:`poll`), one per
        step, within the trial's report rate (:data:`REPORT_RATE`, bursts of
        :data:`REPORT_BURST`). Over the rate, the newest steps are passed on and the older ones are
        counted as dropped (their values still count for the trial's final value).
        ``last``: the trial's output is read to its end; its last report always goes."""
        if not p.batch:
            return
        batch, p.batch = p.batch, []
        merged: dict[int, dict[str, float]] = {}
        final_at: dict[int, int] = {}  # step -> index of its last report in the batch
        for i, (step, values) in enumerate(batch):
            if step in merged:
                p.coalesced += 1
                merged[step].update(values)
            else:
                merged[step] = dict(values)
            final_at[step] = i
        forward = not self._closing
        send: set[int] = set()
        if forward:
            now = time.monotonic()
            p.tokens = min(
                float(self.report_burst), p.tokens + (now - p.tokens_at) * self.report_rate
            )
            p.tokens_at = now
            steps = sorted(merged)
            allowed = max(int(p.tokens), 1 if last else 0)
            if allowed < len(steps):
                p.dropped += len(steps) - allowed
                steps = steps[len(steps) - allowed :] if allowed else []
                if not p.warned:
                    p.warned = True
                    log.warning(
                        "trial %d: more than %g reports per second; storing at most that "
                        "many (the others still count for its final value; see "
                        "system_attrs 'intake')",
                        p.number,
                        self.report_rate,
                    )
                    notify(
                        p.run_dir,
                        f"more than {self.report_rate:g} reports per second:"
                        f" hypersweep stores at most {self.report_rate:g} per second "
                        "(the newest steps; every value still counts for the final "
                        "value); report less often",
                    )
            send = set(steps)
        for i, (step, values) in enumerate(batch):
            for k, v in values.items():
                self._aggregate(p, k, v)
            if step not in send or final_at[step] != i:
                continue
            p.tokens -= 1
            p.stored += 1
            report = Report(p.number, step, merged[step])
            p.reports.append(report)
            p.marks.append((report, dict(p.agg), p.stored))

    def _aggregate(self, p: Proc, k: str, v: float) -> None:
        old = p.agg.get(k)
        if old is None or self.reduce == "last" or (math.isnan(old) and not math.isnan(v)):
            p.agg[k] = v
        elif not math.isnan(v):
            p.agg[k] = min(old, v) if self.reduce == "min" else max(old, v)

    # ------------------------------------------------------------------------------------
