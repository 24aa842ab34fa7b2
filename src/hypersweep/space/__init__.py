"""Search spaces: parameter types, the :class:`Space` over them, and the sweep-file parser.

Parameter types
    :class:`Float`, :class:`Int`, :class:`Normal`, :class:`Choice` (a list of JSON scalars, or
    a dict of option name -> sub-space: a *conditional group*), :class:`Bool`, :class:`Fixed`.

The unit-cube encoding (what samplers work on)
    A space with conditional groups is flattened into ``D`` *columns*, one per non-fixed
    parameter anywhere in the tree, in depth-first order (a group's choice column comes
    before its sub-parameters). A configuration is a row ``u`` of ``D`` floats:

    * ``Float`` without step: ``(x - low) / (high - low)``, or the same on ``log(x)``.
    * ``Int`` and stepped ``Float``: the ``n`` admissible values are ``n`` equal bins of
      ``[0, 1]`` (linear scale) and a value encodes to its bin centre; on log scale the bins
      are equal in ``log`` over ``[low - step/2, high + step/2]``. Decoding rounds, so every
      point of the cube maps to an admissible value, uniformly.
    * ``Normal``: the normal CDF of ``(x - mu) / sigma`` (of ``log x`` when ``log=True``),
      so a uniform ``u`` decodes to a normally distributed value.
    * ``Choice`` / ``Bool`` with ``n`` options: option ``i`` encodes to ``(i + 0.5) / n``;
      decoding takes ``floor(u * n)``. :attr:`Space.n_options` gives ``n`` per column (0 for
      numeric columns) so a sampler can one-hot or model categories as it likes.
    * A parameter that is not active in a configuration (its group's option was not chosen)
      encodes to ``NaN``. :meth:`Space.active_mask` recomputes activity from the choice
      columns, top down. Decoding reads ``NaN`` in an active column as 0.5 (the middle).
    * ``Fixed`` parameters have no column; decoding adds them.

    Round trip: ``decode(encode(p)) == p`` exactly for every discrete parameter (ints with
    up to 2**50 values, steps, choices, bools, fixed values) and for every continuous value
    that ``decode`` produces. A continuous value typed in by hand (an enqueued
    configuration) is stored as given; its encoding is exact up to floating-point rounding
    (relative error < 1e-12).

The sweep-file forms (``parse_space``)
    Compact strings such as ``loguniform(1e-5, 1e-1)``, ``qnormal(10, 3, 1)``,
    ``randint(1, 5)``, ``choice(16, 32, 64)``, ``int(32, 512, log=true)`` are parsed by a
    small tokenizer (never evaluated); the long dict form ``{type: int, low: 32, high: 512}``;
    ``{choice: {adam: {...}, sgd: {...}}}`` for conditional groups; a YAML list as a choice;
    and any other plain value as a fixed parameter. ``loguniform(low, high)`` takes the
    bounds themselves (not their logarithms, unlike Hyperopt and Azure); ``randint`` excludes
    its upper bound (as in numpy, Hyperopt and Azure) while ``int(low, high)`` includes it.
"""

from __future__ import annotations

from hypersweep.space.beta import Beta
from hypersweep.space.choice import Bool, Choice, Fixed
from hypersweep.space.grid import Grid as Grid
from hypersweep.space.nested import Delivery, Group
from hypersweep.space.params import Float, Int, Normal, Param
from hypersweep.space.parse import parse_param, parse_space
from hypersweep.space.space import Column as Column
from hypersweep.space.space import Space

__all__ = [
    "Beta",
    "Bool",
    "Choice",
    "Delivery",
    "Fixed",
    "Float",
    "Group",
    "Int",
    "Normal",
    "Param",
    "Space",
    "parse_param",
    "parse_space",
]
