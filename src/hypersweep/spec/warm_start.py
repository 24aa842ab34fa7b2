"""The sweep file's ``warm_start`` key: start a study from what an earlier one learned.

.. code-block:: yaml

    warm_start:
      from: digits-mlp-v1          # the source study (required)
      storage: sqlite:///old.db    # its storage (default: this study's)
      top: 10                      # its best K trials (enqueue: default 10; prior: all)
      mode: enqueue                # enqueue (run them first) or prior (transfer)
      weight: 0.5                  # prior: one source trial's weight, in (0, 1]

Applied each time the sweep runs (:meth:`Study.warm_start
<hypersweep.study_transfer.StudyTransfer.warm_start>`): ``enqueue`` queues only
configurations the study does not hold yet, ``prior`` sets the prior block again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypersweep._validate import STUDY_NAME, check_choice, check_int, check_number, fail

__all__ = ["WARM_START_KEYS", "parse_warm_start"]

WARM_START_KEYS = ("from", "storage", "top", "mode", "weight")


def parse_warm_start(raw: Any) -> dict[str, Any] | None:
    """The checked ``warm_start`` mapping (``None`` when absent), as keyword arguments of
    ``Study.warm_start`` plus ``source``.

    Example:
        >>> parse_warm_start({"from": "old", "mode": "prior"})
        {'source': 'old', 'storage': None, 'top': None, 'mode': 'prior', 'weight': 0.5}
        >>> parse_warm_start({"from": "old", "weigth": 1})
        Traceback (most recent call last):
        ...
        hypersweep.errors.SpecError: warm_start.weigth: unknown key (did you mean 'weight'?)
    """
    from hypersweep._validate import did_you_mean

    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise fail(
            "warm_start",
            f"expected a mapping, got {type(raw).__name__}",
            "e.g. warm_start: {from: old-study, top: 10}",
        )
    for k in raw:
        if k not in WARM_START_KEYS:
            raise fail(f"warm_start.{k}", f"unknown key{did_you_mean(str(k), WARM_START_KEYS)}")
    src = raw.get("from")
    if not isinstance(src, str) or not STUDY_NAME.fullmatch(src):
        raise fail("warm_start.from", f"must be a study name, got {src!r}")
    storage = raw.get("storage")
    if storage is not None and (not isinstance(storage, str) or not storage):
        raise fail("warm_start.storage", f"must be a storage URL, got {storage!r}")
    top = raw.get("top")
    if top is not None:
        top = check_int("warm_start.top", top, minimum=1)
    mode = check_choice("warm_start.mode", raw.get("mode", "enqueue"), ("enqueue", "prior"))
    weight = check_number("warm_start.weight", raw.get("weight", 0.5), gt=0, le=1)
    return {"source": src, "storage": storage, "top": top, "mode": mode, "weight": weight}
