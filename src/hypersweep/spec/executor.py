"""The sweep file's ``executor:`` key: where trials run.

``executor: local`` (the default: processes on this machine) or
``executor: {ray: {address: auto}}`` (a Ray cluster; ``address`` is ``auto``, the
cluster this machine joined with ``ray start``, or the head's ``HOST:PORT``; optional
``namespace``).

>>> parse_executor({"ray": {"address": "127.0.0.1:6380"}}).address
'127.0.0.1:6380'
>>> parse_executor(None).kind
'local'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hypersweep._validate import did_you_mean, fail, short

__all__ = ["EXECUTOR_KINDS", "RAY_KEYS", "ExecutorSpec", "parse_executor"]

EXECUTOR_KINDS = ("local", "ray")
RAY_KEYS = ("address", "namespace")
_ADDRESS = re.compile(r"^(auto|(ray://)?[A-Za-z0-9_.\-]+:\d{1,5})$")


@dataclass(frozen=True)
class ExecutorSpec:
    """Where trials run: ``kind`` ``"local"`` or ``"ray"`` (then ``address`` and
    ``namespace``)."""

    kind: str = "local"
    address: str = "auto"
    namespace: str | None = None

    def to_dict(self) -> Any:
        if self.kind == "local":
            return "local"
        ray: dict[str, Any] = {"address": self.address}
        if self.namespace is not None:
            ray["namespace"] = self.namespace
        return {"ray": ray}


def parse_executor(value: Any, path: str = "executor") -> ExecutorSpec:
    """An :class:`ExecutorSpec` from the sweep-file value (``None``: local).

    Raises:
        SpecError: one line naming the key and the fix.
    """
    if value is None or value == "local":
        return ExecutorSpec()
    if value == "ray":
        return ExecutorSpec("ray")
    if isinstance(value, str):
        raise fail(
            path,
            f"unknown executor {short(value)}{did_you_mean(value, EXECUTOR_KINDS)}",
            "use local or {ray: {address: auto}}",
        )
    if not isinstance(value, Mapping) or len(value) != 1:
        raise fail(path, f"expected local or {{ray: {{address: auto}}}}, got {short(value)}")
    ((kind, opts),) = value.items()
    if kind == "local" and opts in (None, {}):
        return ExecutorSpec()
    if kind != "ray":
        raise fail(
            f"{path}.{kind}",
            f"unknown executor{did_you_mean(str(kind), EXECUTOR_KINDS)}",
            "use local or ray",
        )
    opts = {} if opts is None else opts
    if not isinstance(opts, Mapping):
        raise fail(
            f"{path}.ray", f"expected a mapping such as {{address: auto}}, got {short(opts)}"
        )
    for k in opts:
        if k not in RAY_KEYS:
            raise fail(
                f"{path}.ray.{k}",
                f"unknown key{did_you_mean(str(k), RAY_KEYS)}",
                "use address or namespace",
            )
    address = opts.get("address", "auto")
    if not isinstance(address, str) or not _ADDRESS.match(address.strip()):
        raise fail(
            f"{path}.ray.address",
            f"expected auto or HOST:PORT, got {short(address)}",
            "e.g. address: 127.0.0.1:6379",
        )
    ns = opts.get("namespace")
    if ns is not None and (not isinstance(ns, str) or not ns.strip()):
        raise fail(f"{path}.ray.namespace", f"expected a non-empty string, got {short(ns)}")
    return ExecutorSpec("ray", address.strip(), ns)
