from __future__ import annotations

import numpy as np

from optuna_sotl.estimators._base import BaseEstimator


class ValidationMetric(BaseEstimator):
    """The early-stopped validation metric: its value at epoch ``T``, what Optuna users report.

    Scores stay lower-is-better like every estimator's, so a metric where higher is better (an
    accuracy) is negated.

    Example:

        .. code-block:: python

            from optuna_sotl import ValidationMetric

            assert ValidationMetric()([50.0, 70.0]) == -70.0
            assert ValidationMetric(higher_is_better=False)([0.9, 0.7]) == 0.7

    Args:
        higher_is_better:
            Whether a larger metric is better (accuracy) or worse (a validation loss).
    """

    curve = "val_metric"

    def __init__(self, higher_is_better: bool = True) -> None:
        if not isinstance(higher_is_better, bool):
            raise TypeError(f"higher_is_better must be a bool, got {higher_is_better!r}.")
        self._higher_is_better = higher_is_better

    @property
    def higher_is_better(self) -> bool:
        return self._higher_is_better

    @property
    def window(self) -> int:
        return 1

    @property
    def name(self) -> str:
        return "val_metric@T"

    def _score_window(self, block: np.ndarray) -> np.ndarray:
        last = block[:, -1]
        return -last if self._higher_is_better else last.copy()

    def __repr__(self) -> str:
        return f"ValidationMetric(higher_is_better={self._higher_is_better})"
