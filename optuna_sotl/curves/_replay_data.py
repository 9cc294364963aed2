"""The data a replay reads: a curve file's score matrices, regrets and search space.

Computed once per process and shared by every replayed study (:mod:`._replay`); estimators are
named by the short names :func:`make_estimator` reads.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING
from typing import TypeAlias
import zlib

import numpy as np

from optuna_sotl.curves._loader import LearningCurves


if TYPE_CHECKING:
    from optuna_sotl.estimators import BaseEstimator
    from optuna_sotl.estimators import SelfCalibratingEstimator


COMPLETE, PRUNED, FAIL, MISSING = 0, 1, 2, 3
# A sampler that only proposes architectures missing from the file would loop forever.
MAX_MISSING_IN_A_ROW = 10_000

# A pruner option's value: a count, a percentile, ``"auto"`` or an estimator's short name.
OptionValue: TypeAlias = str | int | float


# ---------------------------------------------------------------------------------------------
# Data the replay reads: per-architecture score matrices, computed once per process.


class ReplayData:
    """A curve file prepared for fast replay: score matrices by estimator, regrets, the space.

    Example:

        .. code-block:: python

            import numpy as np
            from optuna_sotl.curves import LearningCurves
            from optuna_sotl.curves._replay import ReplayData

            loss = np.linspace(2.0, 1.0, 4)[None, :] + np.arange(6)[:, None] / 10
            data = ReplayData(LearningCurves(loss, loss, 90.0 - loss[:, -1], "test_acc"))
            assert data.n_epochs == 4
    """

    def __init__(self, curves: LearningCurves) -> None:
        self.curves = curves
        self.n_archs = curves.n_archs
        self.n_epochs = curves.n_epochs
        self.higher = bool(curves.val_metric_higher_is_better)
        self.val = np.asarray(curves.val_metric, dtype=np.float64)
        # Optuna's percentile pruners compare the best value a trial reported so far.
        accumulate = np.fmax if self.higher else np.fmin
        self.val_best = accumulate.accumulate(self.val, axis=1)
        self.final_val = self.val[:, -1]
        self.train_loss = np.asarray(curves.train_loss, dtype=np.float64)
        self.loss_finite = np.isfinite(self.train_loss)
        self._scores: dict[str, np.ndarray] = {}
        result = curves.result if curves.result_higher_is_better else -curves.result
        final = self.final_val if self.higher else -self.final_val
        self.test_regret = np.max(result) - result
        self.val_regret = np.nanmax(final) - final
        k = max(1, math.ceil(0.01 * self.n_archs))
        self.top = self.test_regret <= np.sort(self.test_regret)[k - 1]
        self._space_built = False

    def scores(self, estimator_name: str) -> np.ndarray:
        """Lower-is-better score of every architecture at every step, as the pruners compute it.

        The pruners read a trial's stored losses into a column-major matrix and call the
        estimator on it; the same layout here keeps sums bit-identical.
        """
        cached = self._scores.get(estimator_name)
        if cached is not None:
            return cached
        from optuna_sotl.estimators import BaseEstimator

        estimator = make_estimator(estimator_name)
        if not isinstance(estimator, BaseEstimator):
            raise ValueError(
                f"estimator {estimator_name!r} scores a set of trials, not each curve on its own; "
                "the array replay cannot score it."
            )
        matrix = np.asfortranarray(np.where(np.isinf(self.train_loss), np.inf, self.train_loss))
        out = np.empty_like(matrix)
        for step in range(self.n_epochs):
            first = 0 if estimator.window is None else max(0, step - estimator.window + 1)
            block = np.asfortranarray(matrix[:, first : step + 1])
            scores = np.asarray(estimator(block), dtype=np.float64)
            ok = np.isfinite(block[:, -1]) & ~np.isnan(scores)
            out[:, step] = np.where(ok, scores, np.inf)
        self._scores[estimator_name] = out
        return out

    # The categorical space of the file's operations (for regularised evolution).
    def build_space(self) -> None:
        if self._space_built:
            return
        curves = self.curves
        if curves.ops is None or curves.edges is None:
            self.edges: tuple[str, ...] = ("arch",)
            self.choices: list[list[object]] = [list(range(self.n_archs))]
            self.rows: dict[tuple[int, ...], int] = {(i,): i for i in range(self.n_archs)}
        else:
            self.edges = tuple(str(e) for e in curves.edges)
            self.choices = [
                sorted(set(curves.ops[:, j].tolist())) for j in range(curves.ops.shape[1])
            ]
            index = [{c: i for i, c in enumerate(ch)} for ch in self.choices]
            self.rows = {}
            for row, ops in enumerate(curves.ops.tolist()):
                key = tuple(index[j][op] for j, op in enumerate(ops))
                self.rows.setdefault(key, row)
        self.arch_of_row = {row: key for key, row in self.rows.items()}
        self.name_crc = [zlib.crc32(name.encode("utf-8")) for name in self.edges]
        self._space_built = True


def estimator_name(estimator: object) -> str:
    """The short name :func:`make_estimator` turns back into ``estimator``."""
    from optuna_sotl.estimators import SelfCalibratingEstimator
    from optuna_sotl.estimators import SoTL
    from optuna_sotl.estimators import SoTLE
    from optuna_sotl.estimators import SoTLEMA

    if isinstance(estimator, SelfCalibratingEstimator):
        loss = estimator_name(estimator.loss_estimator)
        best = "@best" if estimator.metric_value == "best-so-far" else ""
        return f"auto-{estimator.prior}" + ("" if loss == "sotl-e" else f"+{loss}") + best
    if isinstance(estimator, SoTLE):
        return "sotl-e" if estimator.window == 1 else f"sotl-e{estimator.window}"
    if isinstance(estimator, SoTLEMA):
        return f"ema{estimator.newest_weight:g}"
    if isinstance(estimator, SoTL):
        return "sotl"
    raise ValueError(f"no short name for {estimator!r}.")


def make_estimator(name: str) -> BaseEstimator | SelfCalibratingEstimator:
    """An estimator from its short name: ``sotl-e``, ``sotl-e3``, ``sotl``, ``ema0.9``
    (``SoTLEMA(newest_weight=0.9)``), ``auto`` (a SelfCalibratingEstimator), ``auto-even`` and
    ``auto-sotl-e`` (one with that prior), ``auto-even+sotl`` (and its ``loss_estimator``),
    ``auto-even+sotl@best`` (and ``metric_value="best-so-far"``)."""
    if name == "auto":
        from optuna_sotl import SelfCalibratingEstimator

        return SelfCalibratingEstimator()
    if name.startswith("auto-"):
        from optuna_sotl import SelfCalibratingEstimator

        spelled, _, reading = name[5:].partition("@")
        if reading not in ("", "best"):
            raise ValueError(f"unknown estimator name {name!r}; only '@best' may follow it.")
        prior, _, loss = spelled.partition("+")
        return SelfCalibratingEstimator(
            prior=prior,
            loss_estimator=_curve_estimator(loss) if loss else None,
            metric_value="best-so-far" if reading else "at-step",
        )
    return _curve_estimator(name)


def _curve_estimator(name: str) -> BaseEstimator:
    from optuna_sotl.estimators import SoTL
    from optuna_sotl.estimators import SoTLE
    from optuna_sotl.estimators import SoTLEMA

    if name == "sotl":
        return SoTL()
    if name.startswith("sotl-e"):
        return SoTLE(int(name[6:] or 1))
    if name.startswith("ema"):
        return SoTLEMA(newest_weight=float(name[3:]))
    raise ValueError(f"unknown estimator name {name!r}; use sotl, sotl-e[E] or ema<gamma>.")
