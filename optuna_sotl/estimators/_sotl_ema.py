from __future__ import annotations

import numbers

import numpy as np

from optuna_sotl.estimators._base import BaseEstimator


_UNSET = object()


class SoTLEMA(BaseEstimator):
    """The authors' TSE-EMA: an exponential moving average of the epoch training losses.

    ``ema_1 = L_1`` and ``ema_t = μ·L_t + (1 − μ)·ema_{t−1}``; the score at ``T`` is ``ema_T``
    (lower is better). ``μ`` (``newest_weight``) is the weight of the **newest** epoch; the
    default ``μ = 0.9`` is the TSE-EMA of Ru et al., "Speedy Performance Estimation for Neural
    Architecture Search", NeurIPS 2021, and of their published code. ``μ = 1`` is
    :class:`~optuna_sotl.SoTLE` with ``E=1`` exactly. A missing epoch (NaN before the budget) is
    skipped: the average carries over it.

    Example:

        .. code-block:: python

            from optuna_sotl import SoTLEMA

            # ema = 2.0, then 0.5 * 1.5 + 0.5 * 2.0 = 1.75, then 0.5 * 1.0 + 0.5 * 1.75
            assert SoTLEMA(newest_weight=0.5)([2.0, 1.5, 1.0]) == 1.375

    Args:
        newest_weight:
            ``μ``, the weight of the newest epoch, a float in ``(0, 1]``; keyword only. (Before
            this definition the class took ``gamma``, the weight of the *past* in a discounted
            sum, which ranks differently; passing it raises ``TypeError``.)
    """

    def __init__(
        self, *args: object, newest_weight: float = 0.9, gamma: object = _UNSET
    ) -> None:
        if args or gamma is not _UNSET:
            old = args[0] if args else gamma
            raise TypeError(
                f"SoTLEMA takes the keyword newest_weight (μ, the weight of the newest epoch in "
                f"the authors' TSE-EMA), got gamma={old!r}; the old gamma weighted the past in a "
                "discounted sum and ranks differently, so it is not converted."
            )
        if isinstance(newest_weight, bool) or not isinstance(newest_weight, numbers.Real):
            raise TypeError(f"newest_weight must be a float in (0, 1], got {newest_weight!r}.")
        if not 0.0 < newest_weight <= 1.0:
            raise ValueError(f"newest_weight must be in (0, 1], got {newest_weight}.")
        self._newest_weight: float = float(newest_weight)

    @property
    def newest_weight(self) -> float:
        return self._newest_weight

    @property
    def window(self) -> int | None:
        # With μ = 1 the past has weight 0, so only the last epoch need be read.
        return 1 if self._newest_weight == 1.0 else None

    @property
    def name(self) -> str:
        return f"SoTL-EMA(μ={self._newest_weight:g})"

    def _score_window(self, block: np.ndarray) -> np.ndarray:
        mu = self._newest_weight
        ema = np.full(block.shape[0], np.nan)
        for column in block.T:
            # A zero weight drops the past even when it is inf (0 * inf would be NaN).
            blended = column if mu == 1.0 else mu * column + (1.0 - mu) * ema
            updated = np.where(np.isnan(ema), column, blended)
            ema = np.where(np.isnan(column), ema, updated)
        return ema

    def __repr__(self) -> str:
        return f"SoTLEMA(newest_weight={self._newest_weight!r})"
