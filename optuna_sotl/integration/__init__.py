"""Callbacks for the frameworks people train with; each imported only when first used.

``import optuna_sotl`` imports neither torch, Lightning nor transformers: the names below load
their module (and its framework) on first access.

* :class:`SoTLDistributedReporter`: a plain torch loop under ``torch.distributed`` (DDP).
* :class:`SoTLLightningCallback` and :func:`follow_rank_zero`: PyTorch Lightning >= 2, one
  process, ``ddp`` or ``ddp_spawn``.
* :class:`SoTLTrainerCallback`: Hugging Face ``transformers.Trainer``.
"""

from __future__ import annotations

import importlib
from typing import Any


_MODULE_OF = {
    "SoTLDistributedReporter": "optuna_sotl.integration._distributed",
    "SoTLLightningCallback": "optuna_sotl.integration._lightning",
    "follow_rank_zero": "optuna_sotl.integration._lightning",
    "SoTLTrainerCallback": "optuna_sotl.integration._transformers",
}

__all__ = [
    "SoTLDistributedReporter",
    "SoTLLightningCallback",
    "SoTLTrainerCallback",
    "follow_rank_zero",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
