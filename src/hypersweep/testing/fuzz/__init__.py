"""Fuzzing the input surface: sweep files and Python space specs.

Two generators build hostile but plausible input from any source of choices (a
:class:`random.Random` for long runs in ``benchmarks/fuzz.py``, or Hypothesis's ``data``
for the test suite, so failures shrink), and two checkers run it through hypersweep:

* :func:`sweep_text` + :func:`check_sweep_text`: a sweep file (valid and broken compact
  forms, long forms, groups, aliases, odd numbers and strings, text mutations) through
  :func:`hypersweep.spec.load_text`; an accepted file's space is then sampled.
* :func:`python_case` + :func:`check_python_case`: parameter constructors, ``Space``,
  ``Space.validate``, ``Study(...)``, ``enqueue``, ``ask``/``tell``.

A checker returns ``"ok"`` (accepted, every value inside its space) or ``"error"`` (a
:class:`~hypersweep.errors.HypersweepError` with a one-line message), and raises
:class:`FuzzFailure` for anything else: a bare exception, a message on several lines, a
sampled value outside its space.
"""

from __future__ import annotations

from hypersweep.testing.fuzz._check import check_sweep_text, value_problem
from hypersweep.testing.fuzz._python import check_python_case, python_case
from hypersweep.testing.fuzz._source import FuzzFailure, RandomSource, Source
from hypersweep.testing.fuzz._sweep import sweep_text

__all__ = [
    "FuzzFailure",
    "RandomSource",
    "Source",
    "check_python_case",
    "check_sweep_text",
    "python_case",
    "sweep_text",
    "value_problem",
]
