"""Which format a composed sweep file is in: native, an Azure ML job, or a W&B sweep config.

Detection looks only at top-level keys that native files never have, so a native file
with a misspelt key (``search_space:`` for ``space:``) stays native and gets a hint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["AZURE", "WANDB", "detect"]

AZURE = "azure"
WANDB = "wandb"

#: ``type:`` values of Azure ML job files
AZURE_TYPES = ("sweep", "sweep_job", "pipeline", "automl", "command", "spark", "parallel")
#: keys only Azure ML job files have
_AZURE_ONLY = ("trial", "sampling_algorithm", "early_termination", "jobs", "job_type", "task")
#: keys only W&B sweep configs have
_WANDB_ONLY = ("program", "method", "parameters", "early_terminate", "run_cap", "controller")
#: keys only a native file has (``objective`` is Azure's too)
_NATIVE = ("space", "function", "sampler", "early_stopping")


def detect(data: Any) -> str | None:
    """``"azure"``, ``"wandb"``, or ``None`` for a native (or unrecognised) file.

    Example:
        >>> detect({"$schema": "https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json"})
        'azure'
        >>> detect({"program": "train.py", "method": "grid", "parameters": {}})
        'wandb'
        >>> detect({"search_space": {}, "command": "python t.py", "objective": {}}) is None
        True
    """
    if not isinstance(data, Mapping):
        return None
    keys = {k for k in data if isinstance(k, str)}
    if keys & set(_NATIVE):
        return None
    schema = data.get("$schema")
    if isinstance(schema, str) and "azureml" in schema.lower():
        return AZURE
    kind = data.get("type")
    if isinstance(kind, str) and kind.lower() in AZURE_TYPES and keys & {*_AZURE_ONLY, "compute"}:
        return AZURE
    if "trial" in keys and ("search_space" in keys or "sampling_algorithm" in keys):
        return AZURE
    if "job_type" in keys and "search_space" in keys:
        return AZURE
    if len(keys & set(_WANDB_ONLY)) >= 2 or ("parameters" in keys and "metric" in keys):
        return WANDB
    if "program" in keys and keys & {"tune", "job", "scheduler"}:
        return WANDB
    if keys & {"job", "scheduler"} and "metric" in keys and "run_cap" in keys:
        return WANDB
    return None
