#!/usr/bin/env python
"""A long fuzz run over the input surface: sweep files and Python space specs.

The same generators as the test suite (:mod:`hypersweep.testing.fuzz`), driven by
``random.Random(seed)`` for seeds ``start, start+1, ...``:

* ``--files N`` sweep files through :func:`hypersweep.spec.load_text`; an accepted file's
  space is sampled (random rows and the unit cube's edges) and its grid indexed, and every
  value is checked against its declared set;
* ``--specs N`` Python cases: parameter constructors, ``Space``, ``Space.validate``,
  ``Study(...)`` (memory storage), ``enqueue``, ``ask``, ``tell`` with hostile results.

Each case counts as accepted, refused (a one-line ``HypersweepError``), or a failure: a bare
exception, an error message on several lines, a value outside its space, or a hang (the
case took longer than ``--hang`` seconds; a case still running after ``--kill`` seconds is
interrupted by SIGALRM and counted as a hang). The first example of each distinct failure
is printed with its seed (replay: ``RandomSource(seed)``).

Every sampler is imported before the clock starts, so first-import time is not a "hang".

Usage::

    python benchmarks/fuzz.py --files 20000 --specs 20000
"""

from __future__ import annotations

import argparse
import collections
import logging
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from hypersweep.testing.fuzz import (
    FuzzFailure,
    RandomSource,
    check_python_case,
    check_sweep_text,
    python_case,
    sweep_text,
)


class _Alarm(Exception):
    pass


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Alarm


def _warm() -> None:
    for name in ("random", "tpe", "grid", "sobol", "gp", "anneal", "cmaes", "auto", "bohb"):
        text = (
            f"name: w\ncommand: python t.py\nspace: {{x: uniform(0, 1)}}\n"
            f"objective: {{metric: loss, goal: minimize}}\nsampler: {name}\n"
        )
        check_sweep_text(text)
        check_python_case(lambda n=name: _study_once(n))


def _study_once(sampler: str) -> str:
    import hypersweep as hs

    st = hs.Study("warm", {"x": hs.Float(0, 1)}, storage="memory", sampler=sampler)
    st.tell(st.ask(), 1.0)
    return "ok"


def run(kind: str, n: int, start: int, hang: float, kill: int) -> dict[str, Any]:
    outcomes: collections.Counter[str] = collections.Counter()
    failures: collections.Counter[str] = collections.Counter()
    first: dict[str, int] = {}
    slowest = (0.0, -1)
    total = 0.0
    for seed in range(start, start + n):
        src = RandomSource(seed)
        work: Callable[[], str]
        if kind == "files":
            text = sweep_text(src)
            work = lambda t=text: check_sweep_text(t)  # noqa: E731
        else:
            work = lambda c=python_case(src): check_python_case(c)  # noqa: E731
        signal.alarm(kill)
        t0 = time.perf_counter()
        try:
            outcomes[work()] += 1
        except FuzzFailure as e:
            outcomes[e.kind] += 1
            key = f"{e.kind}: {str(e)[len(e.kind) + 2 :][:140]}"
            if key not in first:
                first[key] = seed
                print(f"  [{kind} seed {seed}] {key}", flush=True)
            failures[key] += 1
        except _Alarm:
            outcomes["hang"] += 1
            print(f"  [{kind} seed {seed}] hang: interrupted after {kill} s", flush=True)
        finally:
            signal.alarm(0)
        dt = time.perf_counter() - t0
        total += dt
        if dt > hang:
            outcomes["hang"] += 1
            print(f"  [{kind} seed {seed}] hang: {dt:.2f} s", flush=True)
        slowest = max(slowest, (dt, seed))
    return {"outcomes": outcomes, "failures": failures, "slowest": slowest, "seconds": total}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=20000, help="sweep files to try")
    ap.add_argument("--specs", type=int, default=20000, help="Python cases to try")
    ap.add_argument("--start", type=int, default=0, help="first seed")
    ap.add_argument("--hang", type=float, default=1.0, help="seconds that count as a hang")
    ap.add_argument("--kill", type=int, default=30, help="seconds before a case is interrupted")
    args = ap.parse_args(argv)
    logging.getLogger("hypersweep").setLevel(logging.ERROR)
    signal.signal(signal.SIGALRM, _on_alarm)
    _warm()
    bad = 0
    for kind, n in (("files", args.files), ("specs", args.specs)):
        if n <= 0:
            continue
        r = run(kind, n, args.start, args.hang, args.kill)
        o = r["outcomes"]
        print(
            f"{kind}: {n} tried, {o['ok']} accepted, {o['error']} refused with a one-line "
            f"error; bare exceptions {o['bare']}, multi-line messages {o['multiline']}, "
            f"values outside their space {o['outside']}, hangs (> {args.hang:g} s) "
            f"{o['hang']}; slowest {r['slowest'][0]:.3f} s (seed {r['slowest'][1]}), "
            f"{r['seconds']:.1f} s in all",
            flush=True,
        )
        bad += o["bare"] + o["multiline"] + o["outside"] + o["hang"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
