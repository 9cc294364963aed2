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
    trials trained differently. The task is scikit-learn's 8x8 digits made hard on purpose:
    ``train_size`` training images (the rest validate), each pixel with Gaussian noise of
    standard deviation ``noise`` (pixels are in [0, 1]) and a random ``occlusion`` x
    ``occlusion`` square blanked out. On the clean digits every cell reaches 98-99 % and no
    estimator can tell them apart; here the cells' accuracies spread over tens of points.
    """

    epochs: int
    seed: int
    train_size: int = 500
    noise: float = 0.3
    occlusion: int = 3
    batch_size: int = 64
    lr: float = 0.01
    channels: int = 8
    cells_per_stage: int = 1
    ops: tuple[str, ...] = DEFAULT_OPS

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ops": list(self.ops)}
