"""Name -> implementation tables, imported lazily: the samplers' and the policies' registry.

A :class:`Registry` maps a sweep-file name to ``"module:Class"``; the module is imported
only when the name is used, so listing the known names (``hypersweep samplers``, an
error message) imports nothing. :meth:`Registry.build` turns a sweep-file mapping into an
instance, refusing unknown names and options with one line that names the key, offers
a did-you-mean, and lists what is known.

Example:
    >>> table = {"random": "hypersweep.samplers.random:RandomSampler"}
    >>> r = Registry("sampler", "sampler", "name", table)
    >>> r.build("random", {"seed": 3})
    RandomSampler(seed=3)
    >>> r.load("randon")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hypersweep.errors.SpecError: sampler.name: unknown sampler 'randon' (did you mean 'random'?)...
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Collection, Mapping
from typing import Any

from hypersweep._validate import did_you_mean, fail
from hypersweep.errors import HypersweepError

__all__ = ["Registry", "describe_config"]


class Registry(dict[str, str]):
    """Names -> ``"module:Class"`` of one kind of component (a dict: adding an entry is
    one line, ``REGISTRY["name"] = "module:Class"``).

    Args:
        kind: what the entries are, for messages ("sampler", "policy").
        section: the sweep-file key of the component ("sampler", "early_stopping").
        field: the key under ``section`` that holds the name ("name", "policy").
        entries: the initial table.
        aliases: names users bring from other tools -> ours (names and options alike),
            offered as the did-you-mean.
    """

    def __init__(
        self,
        kind: str,
        section: str,
        field: str,
        entries: Mapping[str, str],
        aliases: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(entries)
        self.kind, self.section, self.field = kind, section, field
        self.aliases = dict(aliases or {})

    def load(self, name: Any) -> type:
        """The class registered under ``name`` (its module imported now).

        Raises:
            SpecError: no entry has that name (the message lists the known ones).
        """
        if not isinstance(name, str) or name not in self:
            hint = did_you_mean(name, self, aliases=self.aliases) if isinstance(name, str) else ""
            raise fail(
                f"{self.section}.{self.field}",
                f"unknown {self.kind} {name!r}{hint}; known: {', '.join(self)}",
            )
        module, attr = self[name].split(":")
        cls: type = getattr(importlib.import_module(module), attr)
        return cls

    def build(self, name: Any, options: Mapping[str, Any]) -> Any:
        """An instance of ``name`` built with ``options`` (the sweep file's other keys).

        Raises:
            SpecError: an unknown name or option (with a did-you-mean), or a value the
                constructor refuses (naming the option where it does).
        """
        cls = self.load(name)
        params = inspect.signature(cls).parameters
        accepted = [
            p for p, v in params.items() if v.kind in (v.KEYWORD_ONLY, v.POSITIONAL_OR_KEYWORD)
        ]
        for k in options:
            if k not in accepted:
                raise fail(
                    f"{self.section}.{k}",
                    f"{name} has no option {k!r}"
                    f"{did_you_mean(str(k), accepted, aliases=self.aliases)}; options: "
                    f"{', '.join(accepted) or 'none'}",
                )
        try:
            return cls(**options)
        except HypersweepError:  # already names the option
            raise
        except (TypeError, ValueError) as e:
            raise fail(self.section, str(e)) from None


def describe_config(name: str, config: Mapping[str, Any], skip: Collection[str] = ()) -> str:
    """``name (key=value, ...)``: a component's settings on one line, for people
    (``hypersweep status``, the live display); keys in ``skip`` are left out.

    Example:
        >>> describe_config("asha", {"policy": "asha", "metric": "loss", "eta": 3}, ["policy"])
        'asha (metric=loss, eta=3)'
        >>> describe_config("random", {"name": "random"}, ["name"])
        'random'
    """
    parts = []
    for k, v in config.items():
        if k in skip:
            continue
        if isinstance(v, float):
            text = f"{v:g}"
        elif isinstance(v, (str, int)) and not isinstance(v, bool):
            text = str(v)
        else:
            text = json.dumps(v, default=str, separators=(",", ":"))
        parts.append(f"{k}={text}")
    return f"{name} ({', '.join(parts)})" if parts else name
