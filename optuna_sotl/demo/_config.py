"""The settings that decide what a demo trial computes; torch-free, so the parent stays light."""

from __future__ import annotations

from dataclasses import asdict
from dataclasses import dataclass
from typing import Any

from optuna_sotl.nas import DEFAULT_OPS


#: The demo's default storage: a SQLite file in the current directory.
DEFAULT_STORAGE = "sqlite:///optuna-sotl-demo.db"

#: User attribute holding the trial's arch string, shown on its page in optuna-dashboard.
ARCH_ATTR = "arch"


@dataclass(frozen=True)
class TrainingConfig:
    """Everything that decides what a demo trial computes; trials are comparable when it matches.

    Stored as a study user attribute, so that a re-run that appends to a study cannot mix
    trials trained differently.
    """

    epochs: int
    seed: int
    val_fraction: float = 0.3
    batch_size: int = 64
    lr: float = 0.01
    channels: int = 8
    cells_per_stage: int = 1
    ops: tuple[str, ...] = DEFAULT_OPS

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ops": list(self.ops)}
