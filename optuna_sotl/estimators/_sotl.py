from __future__ import annotations

import numpy as np

from optuna_sotl.estimators._base import _nansum_rows
from optuna_sotl.estimators._base import BaseEstimator


class SoTL(BaseEstimator):
    """Sum of training losses: ``SoTL(T) = sum_{t=1..T} L_t`` (lower is better).

    ``L_t`` is the mean training loss of epoch ``t``.

    Example:

        .. code-block:: python

            from optuna_sotl import SoTL

            assert SoTL()([2.0, 1.5, 1.0]) == 4.5
    """

    @property
    def name(self) -> str:
        return "SoTL"

    def _score_window(self, block: np.ndarray) -> np.ndarray:
        return _nansum_rows(block)
