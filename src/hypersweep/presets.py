"""Presets: a sampler and an early-stopping policy that cooperate, built from one config.

Some methods are a *pair*: BOHB (Falkner, Klein & Hutter, "BOHB: robust and efficient
hyperparameter optimization at scale", ICML 2018) is Hyperband's brackets (a policy)
with a TPE model fit on the largest budget level that has enough observations (a
sampler). Both must see the same budget levels -- ``min_resource * eta^k`` up to
``max_resource`` -- or the model is fit on levels the policy never stops at. A preset
takes those numbers once and builds both::

    sampler, policy = hs.presets.bohb(max_resource=27)
    study = hs.Study("s", space=..., objective="loss", sampler=sampler, policy=policy)

Example:
    >>> p = bohb(min_resource=1, max_resource=27, reduction_factor=3, seed=0)
    >>> s = p.sampler
    >>> (s.name, s.min_resource, s.max_resource, s.reduction_factor)
    ('bohb', 1.0, 27.0, 3.0)
    >>> c = p.policy.config()
    >>> (c["policy"], c["min_resource"], c["max_resource"], c["reduction_factor"])
    ('hyperband', 1, 27, 3)
"""

from __future__ import annotations

from typing import Any, NamedTuple

from hypersweep.samplers import make_sampler
from hypersweep.samplers.base import Sampler
from hypersweep.stopping import make_policy
from hypersweep.stopping.base import Policy

__all__ = ["Preset", "bohb"]


class Preset(NamedTuple):
    """A sampler and the policy it cooperates with (unpacks as ``sampler, policy``)."""

    sampler: Sampler
    policy: Policy


def bohb(
    max_resource: float,
    min_resource: float = 1,
    reduction_factor: float = 3,
    *,
    resource: str = "step",
    metric: str | None = None,
    goal: str | None = None,
    seed: int | None = None,
    **sampler_options: Any,
) -> Preset:
    """BOHB: the ``bohb`` sampler and the ``hyperband`` policy on the same budget levels.

    Args:
        max_resource: the most steps a trial may use (the last budget level).
        min_resource: the first budget level.
        reduction_factor: Hyperband's eta, the ratio between levels.
        resource: what the budget counts (the policy's ``resource``).
        metric: the metric the policy judges (default: the study's first objective).
        goal: that metric's goal (default: the objective's).
        seed: the sampler's seed (default: the study's).
        sampler_options: the sampler's other options (``min_points``,
            ``random_fraction``, ``n_startup``).

    Raises:
        SpecError: a refused number or an unknown option, naming it.
    """
    levels = {
        "min_resource": min_resource,
        "max_resource": max_resource,
        "reduction_factor": reduction_factor,
    }
    policy = make_policy(
        {"policy": "hyperband", **levels, "resource": resource, "metric": metric, "goal": goal}
    )
    assert policy is not None
    sampler = make_sampler({"name": "bohb", **levels, "seed": seed, **sampler_options})
    return Preset(sampler, policy)
