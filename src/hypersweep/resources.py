"""What one trial needs to run (CPUs, GPUs, custom resources) and the GPU devices a worker
hands out.

A study declares its trials' needs once (``resources: {gpus: 1, cpus: 2}`` in the sweep
file, ``resources=`` in Python). A worker holds a :class:`GpuPool` over the devices it may
use (``--gpus 0,1``; by default the devices visible to the process) and gives each trial
its own devices through ``CUDA_VISIBLE_DEVICES``. A fractional ``gpus`` shares a device:
``gpus: 0.5`` packs two trials onto each device, ``0.25`` four. A whole number of GPUs
(``1``, ``2``, ...) takes that many devices to itself. When ``max_concurrent`` is not set,
it follows from the resources (:func:`concurrency`).

Example:
    >>> r = Resources.parse({"gpus": 0.5, "cpus": 2}, "resources")
    >>> pool = GpuPool(["0", "1"])
    >>> [pool.acquire(r.gpus) for _ in range(5)]
    [['0'], ['0'], ['1'], ['1'], None]
    >>> cuda_visible_devices(["0"])
    '0'
    >>> concurrency(r, ["0", "1"], cpus=8)
    4
    >>> Resources.parse({"gpus": -1}, "resources")
    Traceback (most recent call last):
    ...
    hypersweep.errors.SpecError: resources.gpus: must be a finite number >= 0, got -1
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from hypersweep._validate import check_number, did_you_mean, fail, short, unwrap

__all__ = [
    "CUDA_VAR",
    "GpuPool",
    "Resources",
    "concurrency",
    "cuda_visible_devices",
    "fit_concurrency",
    "parse_devices",
    "visible_devices",
]

#: The variable a trial reads its devices from.
CUDA_VAR = "CUDA_VISIBLE_DEVICES"

#: GPU shares are counted in these units (1/1000 of a device) so that 3 x 1/3 fits exactly.
_UNITS = 1000

_KEYS = ("cpus", "gpus", "custom")
log = logging.getLogger("hypersweep")


def _units(gpus: float) -> int:
    return round(gpus * _UNITS)


def _checked(
    cpus: Any, gpus: Any, custom: Any, path: str
) -> tuple[float, float, dict[str, float]]:
    """The checked fields of a :class:`Resources` (errors name ``path``'s keys)."""
    c = check_number(f"{path}.cpus", cpus, ge=0)
    g = check_number(f"{path}.gpus", gpus, ge=0)
    if g > 1 and g != int(g):
        raise fail(
            f"{path}.gpus",
            f"below 1 is a share of one device, above 1 a whole number of devices, got {g:g}",
            "use e.g. 0.5 or 2",
        )
    if 0 < g < 1 and _units(g) == 0:
        raise fail(f"{path}.gpus", f"too small a share of a device: {g:g}")
    if not isinstance(custom, Mapping):
        raise fail(f"{path}.custom", f"must be a mapping name: amount, got {short(custom)}")
    out = {}
    for k, v in custom.items():
        if not isinstance(k, str) or not k:
            raise fail(f"{path}.custom", f"names are non-empty strings, got {short(k)}")
        out[k] = check_number(f"{path}.custom.{k}", unwrap(v), ge=0)
    return c, g, out


@dataclass(frozen=True)
class Resources:
    """What one trial needs.

    Attributes:
        cpus: CPU cores (may be fractional; ``0`` for none).
        gpus: GPU devices: a fraction in (0, 1) shares one device, a whole number takes
            that many devices; ``0`` for none.
        custom: other named resources (e.g. for a Ray cluster), name -> amount.
    """

    cpus: float = 1.0
    gpus: float = 0.0
    custom: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        cpus, gpus, custom = _checked(self.cpus, self.gpus, self.custom, "resources")
        object.__setattr__(self, "cpus", cpus)
        object.__setattr__(self, "gpus", gpus)
        object.__setattr__(self, "custom", MappingProxyType(custom))

    def __hash__(self) -> int:
        return hash((self.cpus, self.gpus, tuple(sorted(self.custom.items()))))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Resources):
            return NotImplemented
        return (self.cpus, self.gpus, dict(self.custom)) == (
            other.cpus,
            other.gpus,
            dict(other.custom),
        )

    def __repr__(self) -> str:
        extra = f", custom={dict(self.custom)!r}" if self.custom else ""
        return f"Resources(cpus={self.cpus:g}, gpus={self.gpus:g}{extra})"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (what :meth:`parse` reads back)."""
        out: dict[str, Any] = {"cpus": self.cpus, "gpus": self.gpus}
        if self.custom:
            out["custom"] = dict(self.custom)
        return out

    @classmethod
    def parse(cls, value: Any, path: str = "resources") -> Resources:
        """A :class:`Resources` from a sweep-file value (a mapping with ``cpus``,
        ``gpus``, ``custom``), a :class:`Resources`, or ``None`` (the defaults).

        Raises:
            SpecError: one line naming the key (``resources.gpus: ...``).
        """
        if value is None:
            return cls()
        if isinstance(value, Resources):
            return value
        if not isinstance(value, Mapping):
            raise fail(path, f"must be a mapping like {{gpus: 1, cpus: 2}}, got {short(value)}")
        for k in value:
            if k not in _KEYS:
                raise fail(
                    f"{path}.{k}",
                    f"unknown key{did_you_mean(str(k), _KEYS)}",
                    "use cpus, gpus or custom",
                )
        cpus, gpus, custom = _checked(
            unwrap(value.get("cpus", 1.0)),
            unwrap(value.get("gpus", 0.0)),
            value.get("custom") or {},
            path,
        )
        return cls(cpus=cpus, gpus=gpus, custom=custom)


def parse_devices(text: str, path: str = "--gpus") -> list[str]:
    """Device ids from ``"0,1,2"`` (``""`` or ``"none"``: no devices).

    >>> parse_devices("0, 1,GPU-5f2a")
    ['0', '1', 'GPU-5f2a']
    """
    if text.strip().lower() in ("", "none"):
        return []
    out = [d.strip() for d in text.split(",")]
    if any(not d for d in out):
        raise fail(path, f"an empty device id in {text!r}", "list devices like 0,1,2")
    if len(set(out)) != len(out):
        raise fail(path, f"a device is listed twice in {text!r}")
    return out


def visible_devices(env: Mapping[str, str] | None = None) -> list[str]:
    """The GPU devices this process may use: ``CUDA_VISIBLE_DEVICES`` when set, else the
    devices ``nvidia-smi -L`` lists (when it is installed), else none."""
    env = os.environ if env is None else env
    if CUDA_VAR in env:
        val = env[CUDA_VAR].strip()
        if val in ("", "-1", "none", "NoDevFiles"):
            return []
        return [d.strip() for d in val.split(",") if d.strip()]
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run(
            [exe, "-L"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def cuda_visible_devices(devices: Sequence[str]) -> str:
    """The ``CUDA_VISIBLE_DEVICES`` value for a trial given ``devices`` (``""``: none)."""
    return ",".join(devices)


def concurrency(resources: Resources, devices: Sequence[str], cpus: float | None = None) -> int:
    """How many trials fit at once on ``devices`` and ``cpus`` cores (default: this
    machine's); at least 1 when the trial needs no GPU, 0 when the GPUs it needs are not
    there."""
    n = math.inf
    if resources.gpus > 0:
        n = GpuPool(devices).capacity(resources.gpus)
    if resources.cpus > 0:
        have = float(os.cpu_count() or 1) if cpus is None else cpus
        n = min(n, max(1, math.floor(have / resources.cpus + 1e-9)))
    if math.isinf(n):
        return max(1, int(os.cpu_count() or 1))
    return int(n)


def fit_concurrency(
    resources: Resources, devices: Sequence[str], max_concurrent: int | None = None
) -> int:
    """How many trials to run at once: what fits (:func:`concurrency`), capped at
    ``max_concurrent`` when it is given (with a warning when it does not fit).

    Raises:
        SpecError: the trials need GPUs and ``devices`` has none (or too few).
    """
    n = concurrency(resources, devices)
    if n < 1:
        have = f"{len(devices)} ({','.join(devices)})" if devices else "none"
        raise fail(
            "resources.gpus",
            f"each trial needs {resources.gpus:g} GPU but this process has {have}",
            "pass the devices with --gpus 0,1 (or set CUDA_VISIBLE_DEVICES), or lower "
            "resources.gpus",
        )
    if max_concurrent is None:
        return n
    if n < max_concurrent:
        log.warning(
            "limits.max_concurrent %d: only %d trials fit on this worker's resources "
            "(%s, devices %s); running %d at a time",
            max_concurrent,
            n,
            resources,
            ",".join(devices) or "none",
            n,
        )
    return min(n, max_concurrent)


class GpuPool:
    """Hands out GPU devices to trials (thread-safe).

    ``acquire(gpus)`` returns the devices of one trial (``[]`` when it needs none) or
    ``None`` when they are not free now; ``release(devices, gpus)`` gives them back.
    A fractional share goes to the fullest device it fits on, so shares pack (two 0.5
    trials on one device before the next device is used) and whole devices stay free
    for trials that need them.
    """

    def __init__(self, devices: Sequence[str]) -> None:
        devs = [str(d) for d in devices]
        if len(set(devs)) != len(devs):
            raise fail("--gpus", f"a device is listed twice: {','.join(devs)}")
        self.devices: tuple[str, ...] = tuple(devs)
        self._used = dict.fromkeys(devs, 0)  # units in use per device
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"GpuPool({list(self.devices)!r})"

    def capacity(self, gpus: float) -> int:
        """How many trials needing ``gpus`` each fit on the whole (empty) pool."""
        if gpus <= 0:
            return 10**9
        if gpus >= 1:
            return len(self.devices) // int(gpus)
        return len(self.devices) * (_UNITS // _units(gpus))

    def free(self) -> dict[str, float]:
        """Free share per device."""
        with self._lock:
            return {d: (_UNITS - u) / _UNITS for d, u in self._used.items()}

    def acquire(self, gpus: float) -> list[str] | None:
        if gpus <= 0:
            return []
        with self._lock:
            if gpus >= 1:
                idle = [d for d in self.devices if self._used[d] == 0]
                if len(idle) < int(gpus):
                    return None
                got = idle[: int(gpus)]
                for d in got:
                    self._used[d] = _UNITS
                return got
            need = _units(gpus)
            fits = [d for d in self.devices if _UNITS - self._used[d] >= need]
            if not fits:
                return None
            best = max(fits, key=lambda d: self._used[d])  # the fullest that fits: packs
            self._used[best] += need
            return [best]

    def release(self, devices: Sequence[str], gpus: float) -> None:
        if gpus <= 0:
            return
        need = _UNITS if gpus >= 1 else _units(gpus)
        with self._lock:
            for d in devices:
                if d not in self._used:
                    raise ValueError(f"device {d!r} is not in this pool")
                self._used[d] = max(0, self._used[d] - need)
