"""The sampler protocol (the history it reads: :mod:`hypersweep.history`).

A sampler is a pure function of (space, history, rng): :meth:`Sampler.propose` returns
configurations; it never runs, stores or schedules anything. The history includes RUNNING
trials, so concurrent proposals can spread out.

Lifecycle of one ``study.ask()``: the study syncs its :class:`History` incrementally from
the storage, hands enqueued (QUEUED) configurations out first, and only then calls
``propose(space, history, rng, n)``. If a proposal carries a ``key`` that another process
has just used (two workers proposing the same grid cell), the study re-syncs and asks
again.

To add a sampler: subclass :class:`Sampler`, implement ``propose``, add one line to
``hypersweep.samplers.REGISTRY`` and run the shared suite in
:mod:`hypersweep.testing.samplers` over it.
"""

from __future__ import annotations

import abc
import copy
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import numpy as np

from hypersweep._registry import describe_config
from hypersweep.history import History
from hypersweep.space import Space

__all__ = [
    "RESOLUTION",
    "Proposal",
    "Sampler",
    "looks_failed",
    "near_any",
    "replace_failed",
    "unfailed_draws",
]

#: Two unit-cube encodings closer than this in every column (after snapping ints, steps and
#: choices to their bins) are the same configuration for the "never re-propose a failed
#: configuration" rule.
RESOLUTION = 1e-6


@dataclass(frozen=True)
class Proposal:
    """One proposed configuration.

    Attributes:
        params: the configuration (active parameters only).
        key: an optional de-duplication key, unique per study (e.g. ``"sobol:17"``).
        system_attrs: attributes to store on the trial (e.g. a bracket).
        budget: the trial's :attr:`~hypersweep.trial.Trial.budget` (``None``: the
            policy's).
        resume_from: the trial's :attr:`~hypersweep.trial.Trial.resume_from` (the trial
            whose checkpoint it starts from).
    """

    params: dict[str, Any]
    key: str | None = None
    system_attrs: dict[str, Any] = field(default_factory=dict)
    budget: float | None = None
    resume_from: int | None = None


def near_any(rows: np.ndarray, U: np.ndarray, tol: float = RESOLUTION) -> np.ndarray:
    """For each row of ``U``, whether some row of ``rows`` encodes the same configuration.

    Both are unit-cube encodings as the space makes them (``Space.encode_many`` of decoded
    params: ints, steps and choices at their bin centres, ``NaN`` where inactive); two rows
    match when every column is within ``tol`` or inactive in both.
    """
    U = np.atleast_2d(U)
    out = np.zeros(U.shape[0], dtype=bool)
    if rows.shape[0] == 0 or U.shape[0] == 0:
        return out
    step = max(1, 1_000_000 // max(rows.size, 1))  # bounded temporary arrays
    for s in range(0, U.shape[0], step):
        blk = U[s : s + step]
        diff = np.abs(blk[:, None, :] - rows[None, :, :])
        both_nan = np.isnan(blk)[:, None, :] & np.isnan(rows)[None, :, :]
        same = (diff <= tol) | both_nan
        out[s : s + step] = same.all(axis=2).any(axis=1)
    return out


def looks_failed(U: np.ndarray, failed: np.ndarray, completed: np.ndarray) -> np.ndarray:
    """For each row of ``U``: it repeats a row of ``failed`` (:func:`near_any`), or its
    nearest finished row (Euclidean distance in the unit cube, inactive columns at 0.5) is
    a failed one rather than a row of ``completed`` (a nearest-neighbour classifier of the
    failing regions). All three are unit-cube encodings as the space makes them."""
    out = near_any(failed, U)
    if failed.shape[0] == 0 or completed.shape[0] == 0:
        return out
    q = np.nan_to_num(U, nan=0.5)
    qq = (q * q).sum(1)[:, None]

    def nearest(B: np.ndarray) -> np.ndarray:
        B = np.nan_to_num(B, nan=0.5)
        bb = (B * B).sum(1)[None, :]
        G = q @ B.T  # one product: its rounding does not depend on a block size
        out = np.full(q.shape[0], np.inf)
        step = max(1, 250_000 // max(q.shape[0], 1))  # bounded temporaries
        for s in range(0, G.shape[1], step):
            d = qq + bb[:, s : s + step] - 2.0 * G[:, s : s + step]
            np.minimum(out, d.min(axis=1), out=out)
        return out

    return out | (nearest(failed) < nearest(completed))


def unfailed_draws(
    space: Space, failed: np.ndarray, rng: np.random.Generator, k: int, tries: int = 20
) -> np.ndarray:
    """``k`` uniform draws (unit-cube encodings) that are not failed configurations; on a
    space where nearly everything failed, the last tries' draws are returned as they are."""
    out = np.asarray(space.encode_many(space.sample(rng, k)), dtype=float).reshape(k, -1)
    for _ in range(tries):
        bad = near_any(failed, out)
        if not bad.any():
            break
        out[bad] = np.asarray(space.encode_many(space.sample(rng, int(bad.sum()))))
    return out


def replace_failed(
    space: Space, history: History, proposals: list[Proposal], rng: np.random.Generator
) -> list[Proposal]:
    """``proposals`` with each one that repeats a FAILED configuration replaced by a
    uniform draw that does not (used by the samplers' start-up points; a history without
    failures returns the list untouched and consumes no randomness)."""
    failed = history.failed()
    if failed.shape[0] == 0 or not proposals or space.dim == 0:
        return proposals
    U = space.encode_many([p.params for p in proposals])
    bad = np.flatnonzero(near_any(failed, U))
    if bad.size == 0:
        return proposals
    new = space.decode_many(unfailed_draws(space, failed, rng, bad.size))
    out = list(proposals)
    for i, params in zip(bad, new):
        out[i] = Proposal(params)
    return out


_S = TypeVar("_S", bound="Sampler")


class Sampler(abc.ABC):
    """Proposes configurations. Subclasses implement :meth:`propose` only.

    Args:
        seed: an optional seed for state that must be identical across processes (a
            scrambled Sobol sequence, a grid order); ``None``: the study's seed
            which reaches the study's copy of the sampler at construction
            (:meth:`with_seed`). Per-proposal randomness comes from the ``rng`` passed to
            :meth:`propose`, which the study derives from its seed and the number of
            trials it holds. The study never changes a sampler it is given.

    Attributes:
        allows_repeats: proposals may repeat a configuration on purpose (a PBT segment
            continues its member's parameters); otherwise the study replaces a proposal
            that repeats a trial it holds by an unseen configuration.
    """

    name: ClassVar[str] = ""
    allows_repeats: ClassVar[bool] = False
    #: True when :meth:`propose` reads trials' intermediate reports (the study then loads
    #: them before asking; otherwise a process opening a study skips them).
    uses_reports: ClassVar[bool] = False
    #: whether FAILED trials steer the sampler (the contract suite then checks that it
    #: avoids failing regions and never proposes a failed configuration again)
    learns_from_failures: ClassVar[bool] = False
    #: False when :meth:`propose` reads nothing of the history but its length (random
    #: search): on an infinite space without an early-stopping policy the study's ask
    #: then reads only the study's head (:meth:`Storage.head
    #: <hypersweep.storage.base.Storage.head>`), not the trials the other workers
    #: changed, so a worker's cost per trial does not grow with the fleet
    reads_history: ClassVar[bool] = True

    def __init__(self, seed: int | None = None) -> None:
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63
        ):
            from hypersweep._validate import fail

            raise fail("sampler.seed", f"must be an integer from 0 to 2**63-1, got {seed!r:.60}")
        self.seed = seed

    @abc.abstractmethod
    def propose(
        self, space: Space, history: History, rng: np.random.Generator, n: int = 1
    ) -> list[Proposal]:
        """Return ``n`` proposals for the next trials.

        Raises:
            SpaceExhausted: nothing is left to propose (the study then ends).
        """

    def with_seed(self: _S, seed: int) -> _S:
        """A copy of this sampler, seeded with ``seed`` where it has no seed of its own.

        The study calls it once, at construction, with the study seed: the study then
        proposes with its own copy, and the sampler it was given is never changed (caches
        that a sampler drops in ``__getstate__`` start empty in the copy).

        Example:
            >>> from hypersweep.samplers.random import RandomSampler
            >>> s = RandomSampler()
            >>> (s.with_seed(3).seed, s.seed, RandomSampler(seed=1).with_seed(3).seed)
            (3, None, 1)
        """
        clone = copy.deepcopy(self)
        if clone.seed is None:
            clone.seed = seed
        return clone

    def config(self) -> dict[str, Any]:
        """The sampler's settings, as the sweep file would write them."""
        out: dict[str, Any] = {"name": self.name}
        if self.seed is not None:
            out["seed"] = self.seed
        return out

    def describe(self, space: Space, history: History) -> str:
        """One line saying what proposes the next trials of a study with this ``space``
        and ``history``, and with which settings: ``hypersweep status`` and the live
        display show it (a run stores it in the study's ``sampler`` attribute). A sampler
        that delegates (``auto``) names the one it uses and why.

        Example:
            >>> from hypersweep.samplers.random import RandomSampler
            >>> sp = Space({"x": "uniform(0, 1)"})
            >>> RandomSampler(seed=3).describe(sp, History(sp, []))
            'random'
        """
        return describe_config(self.name, self.config(), ("name", "seed"))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"
