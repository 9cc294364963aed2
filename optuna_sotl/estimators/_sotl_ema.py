from __future__ import annotations

import numpy as np

from optuna_sotl._checks import check_real_in
from optuna_sotl.estimators._base import BaseEstimator


class SoTLEMA(BaseEstimator):
    """Exponentially weighted sum of training losses: ``SoTL-EMA(T; γ) = sum_{t<=T} γ^(T-t) L_t``.

    ``gamma=0`` is :class:`~optuna_sotl.SoTLE` with ``E=1`` and ``gamma=1`` is
    :class:`~optuna_sotl.SoTL`, exactly. Lower is better.

    Example:

        .. code-block:: python

            from optuna_sotl import SoTLEMA

            assert SoTLEMA(gamma=0.5)([2.0, 1.5, 1.0]) == 0.25 * 2.0 + 0.5 * 1.5 + 1.0

    Args:
        gamma:
            The decay ``γ``, a float in ``[0, 1]``.
    """

    def __init__(self, gamma: float = 0.9) -> None:
        self._gamma = check_real_in("gamma", gamma, 0.0, 1.0)

    @property
    def gamma(self) -> float:
        return self._gamma

    @property
    def window(self) -> int | None:
        # With γ = 0 every epoch but the last has weight 0, so only one epoch need be read.
        return 1 if self._gamma == 0.0 else None

    @property
    def name(self) -> str:
        return f"SoTL-EMA(γ={self._gamma:g})"

    def _score_window(self, block: np.ndarray) -> np.ndarray:
        ages = np.arange(block.shape[1] - 1, -1, -1, dtype=np.float64)
        weights = np.power(self._gamma, ages)
        # A zero weight must drop its epoch even when that epoch's loss is inf (0 * inf is NaN).
        weighted = np.where(weights > 0.0, block * weights, 0.0)
        weighted = np.where(np.isnan(block), 0.0, weighted)
        return weighted.sum(axis=1)

    def __repr__(self) -> str:
        return f"SoTLEMA(gamma={self._gamma!r})"
