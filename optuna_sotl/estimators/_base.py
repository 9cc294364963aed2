"""The estimator interface and the NaN rules every estimator shares."""

from __future__ import annotations

import abc
from typing import ClassVar
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from optuna_sotl._checks import check_count


CurveKind = Literal["train_loss", "val_loss", "val_metric"]


class BaseEstimator(abc.ABC):
    """Turns learning curves into scores where **lower is better**, whatever the study's direction.

    An estimator is called on one curve ``(T,)`` or a matrix of curves ``(N, T)`` (column ``j``
    is epoch ``j + 1``, Optuna step ``j``) and scores each at the budget (default: the last
    column), returning a float or an ``(N,)`` array. A NaN at the budget (the curve did not reach
    it) scores NaN, a NaN before it is a skipped missing epoch, and ``inf`` propagates. Subclasses
    implement :meth:`_score_window` and :attr:`name`; ``curve`` names the curve they read and
    ``window`` how many trailing epochs they need (``None``: all), so callers read no more.

    Example:

        .. code-block:: python

            import numpy as np
            from optuna_sotl import BaseEstimator


            class LastLoss(BaseEstimator):
                name = "last loss"

                def _score_window(self, block):
                    return block[:, -1]


            assert LastLoss()([3.0, 2.0, np.nan, 1.0]) == 1.0
    """

    curve: ClassVar[CurveKind] = "train_loss"

    @property
    def window(self) -> int | None:
        return None

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """A short label such as ``"SoTL-E(E=1)"``, used in tables, plots and pruning messages."""

    @abc.abstractmethod
    def _score_window(self, block: np.ndarray) -> np.ndarray:
        """Score an ``(N, W)`` block whose last column is the budget; NaN marks missing epochs."""

    def __call__(self, curves: ArrayLike, budget: int | None = None) -> np.ndarray | float:
        matrix, single = _as_curve_matrix(curves)
        budget = _check_budget(budget, matrix.shape[1])
        start = 0 if self.window is None else max(0, budget - self.window)
        block = matrix[:, start:budget]
        with np.errstate(invalid="ignore", over="ignore"):
            scores = np.asarray(self._score_window(block), dtype=np.float64)
        scores = np.where(np.isnan(block[:, -1]), np.nan, scores)
        return float(scores[0]) if single else scores

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _as_curve_matrix(curves: object) -> tuple[np.ndarray, bool]:
    try:
        array = np.asarray(curves, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"curves must be numeric with shape (T,) or (N, T), got {type(curves).__name__}: "
            f"{curves!r:.80}"
        ) from None
    if array.ndim not in (1, 2) or array.shape[-1] == 0:
        raise ValueError(
            f"curves must have shape (T,) or (N, T) with T >= 1, got shape {array.shape}."
        )
    if array.ndim == 1:
        return array[None, :], True
    return array, False


def _check_budget(budget: object, n_epochs: int) -> int:
    if budget is None:
        return n_epochs
    budget = check_count("budget", budget, minimum=1, why="an epoch")
    if budget > n_epochs:
        raise ValueError(f"budget cannot exceed the {n_epochs} epochs given, got budget={budget}.")
    return budget


def _nansum_rows(block: np.ndarray) -> np.ndarray:
    return np.nansum(block, axis=1)
