"""The metric intake of a command trial: its new output parsed into reports, within a
read budget and a report rate (see "Metric intake" in :mod:`hypersweep.execution.command`)."""

from __future__ import annotations

import json
import logging
import math
import re
import time

from hypersweep.execution.base import Report
from hypersweep.execution.command.capture import STEP_KEYS, STEP_RE, json_step, parse_number
from hypersweep.execution.command.proc import REPORT_BURST, REPORT_RATE, Proc, notify
from hypersweep.sdk import check_step

__all__ = ["READ_PER_POLL", "REDUCE", "REPORT_BURST", "REPORT_RATE", "MetricIntake"]

log = logging.getLogger("hypersweep")

REDUCE = ("last", "min", "max")
#: Bytes read per poll from each output file of a trial (``stdout.log``, ``metrics.jsonl``);
#: the rest waits for the next poll, so a trial that floods its output never holds the loop.
READ_PER_POLL = 1 << 20
#: ... and for at most this many seconds of parsing, in pieces of :data:`READ_PIECE` bytes.
READ_SECONDS = 0.05
READ_PIECE = 1 << 16


class MetricIntake:
    """The reading half of :class:`~hypersweep.execution.command.CommandExecutor`: it
    parses each trial's new output into ``p.reports`` (returned by ``poll``)."""

    metrics: tuple[str, ...]
    reduce: str
    read_per_poll: int
    report_rate: float
    report_burst: int
    _pair_re: re.Pattern[str]
    _closing: bool

    def _begin_stop(self, p: Proc, kind: str, grace: float | None = None) -> None:
        raise NotImplementedError

    def _read(self, p: Proc, final: bool = False) -> bool:
        """Parse the trial's new output, in pieces, for at most :data:`READ_SECONDS` and
        ``read_per_poll`` bytes, then pass the poll's reports on (:meth:`_flush`).
        Returns True while output is still waiting. Once the trial was asked to stop,
        what it writes is not counted, so it is skipped unread."""
        if p.stop_kind is not None:
            p.metrics_file.skip()
            p.stdout.skip()
            p.batch.clear()
            return False
        end = time.monotonic() + READ_SECONDS
        budget = self.read_per_poll
        while True:
            piece = min(READ_PIECE, budget)
            budget -= piece
            self._read_metrics_file(p, p.metrics_file.lines(final, piece))
            for raw in p.stdout.lines(final, piece):
                if p.sdk_seen:
                    continue  # drain: a trial that uses the SDK is read from its metrics file
                self._parse_stdout(p, raw)
            more = p.metrics_file.more or p.stdout.more
            if not more or budget <= 0 or p.stop_kind is not None or time.monotonic() >= end:
                break
        if p.stop_kind is None:
            self._flush(p, last=p.exited and not more)
        return more and p.stop_kind is None

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
            p.sdk_seen = True
            step = json_step(obj.pop("step", None))
            self._record(p, step, {str(k): parse_number(v) for k, v in obj.items()})

    def _parse_stdout(self, p: Proc, raw: bytes) -> None:
        line = raw.decode("utf-8", errors="replace").strip()
        if not line:
            return
        found: dict[str, float | str] = {}
        step: int | None = None
        if line.startswith("{") and line.endswith("}"):
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            if isinstance(obj, dict):
                for m in self.metrics:
                    if m in obj:
                        found[m] = parse_number(obj[m])
                for k in STEP_KEYS:
                    if step is None and k in obj:
                        step = json_step(obj[k])
                if found:
                    self._record(p, step, found)
                return
        for pair in self._pair_re.finditer(line):
            found[pair.group(2)] = parse_number(pair.group(3))
        if not found:
            return
        s = STEP_RE.search(line)
        if s is not None:
            step = int(s.group(2))
        self._record(p, step, found)

    def _record(self, p: Proc, step: int | None, values: dict[str, float | str]) -> None:
        """One report: validate, aggregate, add it to the poll's batch (see :meth:`_flush`)."""
        if p.stop_kind is not None:
            return  # reports after a stop request are not counted
        step = p.last_step = check_step(step, p.last_step)
        numeric: dict[str, float] = {}
        for k, v in values.items():
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
