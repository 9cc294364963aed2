from __future__ import annotations

import numpy as np

from optuna_sotl.estimators._base import _nansum_rows
from optuna_sotl.estimators._base import BaseEstimator


class SoVL(BaseEstimator):
    """Sum of validation losses: ``SoVL(T) = sum_{t=1..T} V_t`` over the validation-loss curve.

    A baseline of the paper. :class:`~optuna_sotl.SoTLReporter` records the validation loss of each
    epoch when it is given, so SoVL can be computed from storage later. Lower is better.

    Example:

        .. code-block:: python

            from optuna_sotl import SoVL

            assert SoVL()([1.0, 0.75]) == 1.75
    """

    curve = "val_loss"

    @property
    def name(self) -> str:
        return "SoVL"

    def _score_window(self, block: np.ndarray) -> np.ndarray:
        return _nansum_rows(block)
