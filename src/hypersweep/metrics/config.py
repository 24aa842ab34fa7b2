"""Which sources a command trial's metrics are read from (the ``metrics:`` key of a sweep
file), the environment that points each tracker at the trial's run folder, and the
readers opened for one trial."""

from __future__ import annotations

import os
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypersweep._validate import did_you_mean, fail
from hypersweep.metrics.base import Source
from hypersweep.metrics.text import compile_pattern

__all__ = ["FILE_SOURCES", "SOURCES", "TEXT_SOURCES", "MetricsConfig"]

#: Every source, in the order they are read.
SOURCES = ("jsonl", "stdout", "stderr", "mlflow", "wandb", "tensorboard")
TEXT_SOURCES = ("stdout", "stderr")
#: The trackers' files: read every :data:`FILE_INTERVAL` seconds while the trial runs.
FILE_SOURCES = ("mlflow", "wandb", "tensorboard")
#: Seconds between W&B's writes of a running run's transaction log (its default is 15).
WANDB_FLUSH = "0.5"
ALIASES = {"json": "jsonl", "sdk": "jsonl", "tb": "tensorboard", "w&b": "wandb"}


@dataclass(frozen=True)
class MetricsConfig:
    """Where a command trial's metrics come from.

    Attributes:
        sources: the sources read (see :data:`SOURCES`).
        auto: ``source: auto`` (the default): every source, with stdout and stderr as a
            fallback: once a trial reports through the SDK or a tracker, its text lines
            are no longer parsed for ``name=value`` pairs (patterns still are). A list of
            sources reads each of them all the time.
        patterns: metric name -> regular expression (its first group or group ``value``
            is the value; group ``step`` the step) applied to stdout and stderr lines.
        logdirs: more folders searched for TensorBoard event files (relative to the
            trial's working directory; ``{trial}``, ``{trial_dir}``, ``{study}`` are
            replaced), beside the trial's run folder, which is always searched.

    Example:
        >>> MetricsConfig.parse({"source": ["stdout", "mlflow"]}).sources
        ('stdout', 'mlflow')
    """

    sources: tuple[str, ...] = SOURCES
    auto: bool = True
    patterns: Mapping[str, str] = field(default_factory=lambda: types.MappingProxyType({}))
    logdirs: tuple[str, ...] = ()

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None, path: str = "metrics") -> MetricsConfig:
        """The configuration of the ``source``, ``patterns`` and ``logdir`` keys of
        ``raw`` (other keys are not looked at).

        Raises:
            SpecError: located at the offending key, with the fix.
        """
        raw = raw or {}
        src = raw.get("source", "auto")
        auto = src == "auto"
        sources: tuple[str, ...] = SOURCES
        if not auto:
            items = [src] if isinstance(src, str) else src
            if not isinstance(items, (list, tuple)) or not items:
                raise fail(
                    f"{path}.source",
                    f"expected auto, a source or a list of sources, got {src!r}",
                    f"sources: {', '.join(SOURCES)}",
                )
            chosen = []
            for i, s in enumerate(items):
                where = f"{path}.source" if isinstance(src, str) else f"{path}.source[{i}]"
                name = ALIASES.get(str(s).lower(), str(s).lower()) if isinstance(s, str) else s
                if name not in SOURCES:
                    raise fail(
                        where,
                        f"unknown source {s!r}{did_you_mean(str(s), [*SOURCES, 'auto'])}",
                        f"sources: auto, {', '.join(SOURCES)}",
                    )
                if name not in chosen:
                    chosen.append(name)
            sources = tuple(s for s in SOURCES if s in chosen)
        pats = raw.get("patterns") or {}
        if not isinstance(pats, Mapping):
            raise fail(
                f"{path}.patterns",
                f"expected a mapping of metric name to regular expression, got {pats!r}",
                "e.g. patterns: {val_acc: 'acc=([0-9.]+)%'}",
            )
        for name, pattern in pats.items():
            if not isinstance(name, str) or not name or name == "step":
                raise fail(f"{path}.patterns", f"{name!r} cannot be a metric name")
            compile_pattern(name, pattern, f"{path}.patterns")
        if pats and not any(s in TEXT_SOURCES for s in sources):
            raise fail(
                f"{path}.patterns",
                "patterns apply to stdout and stderr, which metrics.source leaves out",
                "add stdout (or stderr) to metrics.source",
            )
        logdir = raw.get("logdir")
        dirs = [] if logdir is None else [logdir] if isinstance(logdir, str) else logdir
        if not isinstance(dirs, (list, tuple)) or not all(isinstance(d, str) and d for d in dirs):
            raise fail(f"{path}.logdir", f"expected a folder or a list of folders, got {logdir!r}")
        return cls(sources, auto, types.MappingProxyType(dict(pats)), tuple(dirs))

    def reads(self, source: str) -> bool:
        return source in self.sources

    # ---------------------------------------------------------------------------------
    def env(self, run_dir: str) -> dict[str, str]:
        """The variables that point the trackers this configuration reads at ``run_dir``:
        ``MLFLOW_TRACKING_URI`` (a file store ``<run_dir>/mlruns``, with
        ``MLFLOW_ALLOW_FILE_STORE=true``, which MLflow 3 asks for), ``WANDB_MODE=offline``
        and ``WANDB_DIR=<run_dir>`` (nothing is sent anywhere; the run's log is written
        every :data:`WANDB_FLUSH` seconds). A sweep's ``env:`` overrides them."""
        env: dict[str, str] = {}
        if self.reads("mlflow"):
            env["MLFLOW_TRACKING_URI"] = "file://" + os.path.join(run_dir, "mlruns")
            env["MLFLOW_ALLOW_FILE_STORE"] = "true"  # MLflow 3.x refuses file stores otherwise
        if self.reads("wandb"):
            env["WANDB_MODE"] = "offline"
            env["WANDB_DIR"] = run_dir
            # wandb-core writes the run's .wandb file every 15 s by default
            env["WANDB__TRANSACTION_LOG_FLUSH_INTERVAL"] = WANDB_FLUSH
        return env

    def open(
        self,
        run_dir: str,
        cwd: str,
        env: Mapping[str, str],
        logdirs: Sequence[str] = (),
        since: float | None = None,
    ) -> list[Source]:
        """The readers of one trial's tracker files (``env``: the trial's environment;
        ``logdirs``: :attr:`logdirs` with their placeholders replaced; ``since``: when
        the trial started: event files not written since are an earlier attempt's)."""
        out: list[Source] = []
        if self.reads("mlflow"):
            from hypersweep.metrics.from_mlflow import MlflowSource, store_path

            store = store_path(env.get("MLFLOW_TRACKING_URI", "") or "mlruns")
            if store is not None:
                out.append(MlflowSource(os.path.join(cwd, store)))
        if self.reads("wandb"):
            from hypersweep.metrics.from_wandb import WandbSource

            out.append(WandbSource(os.path.join(cwd, env.get("WANDB_DIR") or ".", "wandb")))
        if self.reads("tensorboard"):
            from hypersweep.metrics.from_tensorboard import TensorBoardSource

            roots = [run_dir, *(os.path.join(cwd, d) for d in logdirs)]
            out.append(TensorBoardSource(roots, since))
        return out
