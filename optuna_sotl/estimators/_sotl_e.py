from __future__ import annotations

import numpy as np

from optuna_sotl._checks import check_count
from optuna_sotl.estimators._base import _nansum_rows
from optuna_sotl.estimators._base import BaseEstimator


class SoTLE(BaseEstimator):
    """Training loss of the last ``E`` epochs: ``SoTL-E(T) = sum_{t=T-E+1..T} L_t``.

    ``window=1`` (the default) is the training loss of epoch ``T``, the paper's best variant and
    the default of :class:`~optuna_sotl.SoTLPruner`. Before epoch ``E`` the window holds the epochs
    there are. Lower is better.

    Example:

        .. code-block:: python

            from optuna_sotl import SoTLE

            assert SoTLE()([2.0, 1.5, 1.0]) == 1.0
            assert SoTLE(window=2)([2.0, 1.5, 1.0]) == 2.5

    Args:
        window:
            ``E``, the number of trailing epochs summed; an int of at least 1.
    """

    def __init__(self, window: int = 1) -> None:
        self._window = check_count("window", window, minimum=1, why="the E of SoTL-E")

    @property
    def window(self) -> int:
        return self._window

    @property
    def name(self) -> str:
        return f"SoTL-E(E={self._window})"

    def _score_window(self, block: np.ndarray) -> np.ndarray:
        return _nansum_rows(block)

    def __repr__(self) -> str:
        return f"SoTLE(window={self._window})"
