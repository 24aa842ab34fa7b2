"""Early-stopping policies (see :mod:`hypersweep.stopping.base`).

Every policy is registered once in :data:`REGISTRY` (name -> ``module:Class``, imported
lazily) and built from the sweep file's ``early_stopping`` mapping by :func:`make_policy`::

    early_stopping: {policy: median, delay: 5, interval: 1}

Common options of every policy: ``metric`` (default: the study's first objective),
``goal`` (default: that objective's goal), ``interval`` (judge every k-th report) and
``delay`` (judge nothing before step d). See each policy for its own options.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypersweep._registry import Registry
from hypersweep._validate import fail
from hypersweep.stopping.base import Decision, Policy

__all__ = ["REGISTRY", "Decision", "Policy", "make_policy", "policy_class"]

#: Names users bring from Azure sweep jobs and other libraries -> hypersweep's option.
_KNOWN_AS = {
    "evaluation_interval": "interval",
    "delay_evaluation": "delay",
    "truncation_percentage": "percentage",
    "percentile": "percentage",
    "exclude_finished_jobs": "exclude_finished",
    "eta": "reduction_factor",
    "min_steps": "min_resource",
    "max_steps": "max_resource",
    "min_t": "min_resource",
    "max_t": "max_resource",
    "min_iter": "min_resource",
    "max_iter": "max_resource",
}

REGISTRY = Registry(
    "policy",
    "early_stopping",
    "policy",
    {
        "median": "hypersweep.stopping.median:MedianPolicy",
        "bandit": "hypersweep.stopping.bandit:BanditPolicy",
        "truncation": "hypersweep.stopping.truncation:TruncationPolicy",
        "threshold": "hypersweep.stopping.threshold:ThresholdPolicy",
        "asha": "hypersweep.stopping.asha:ASHAPolicy",
        "hyperband": "hypersweep.stopping.hyperband:HyperbandPolicy",
        "pbt": "hypersweep.stopping.pbt:PBTPolicy",
    },
    aliases=_KNOWN_AS,
)


def policy_class(name: str) -> type[Policy]:
    """The class registered under ``name``.

    Raises:
        SpecError: no policy has that name (the message lists the known ones).
    """
    cls: type[Policy] = REGISTRY.load(name)
    return cls


def make_policy(spec: str | Mapping[str, Any] | Policy | None) -> Policy | None:
    """Build a policy from a name, a sweep-file mapping ``{policy: median, delay: 5, ...}``,
    or return a :class:`Policy` instance unchanged. ``None`` means no early stopping.

    Raises:
        SpecError: an unknown policy or option (with a did-you-mean hint), a missing
            required option, or a refused value (naming the option).

    Example:
        >>> make_policy({"policy": "bandit", "slack_factor": 0.2, "delay": 5})
        BanditPolicy(slack_factor=0.2, interval=1, delay=5)
    """
    if spec is None or isinstance(spec, Policy):
        return spec
    if isinstance(spec, str):
        spec = {"policy": spec}
    if not isinstance(spec, Mapping):
        raise fail(
            "early_stopping",
            f"expected a policy name or a mapping such as "
            f"{{policy: median, delay: 5}}, got {type(spec).__name__}",
        )
    opts = dict(spec)
    if "policy" not in opts:
        raise fail(
            "early_stopping.policy",
            f"missing; one of {', '.join(REGISTRY)}, e.g. {{policy: median, delay: 5}}",
        )
    policy: Policy = REGISTRY.build(opts.pop("policy"), opts)
    return policy
