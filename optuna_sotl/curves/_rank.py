"""Rank quality of the estimators: how well a score at epoch T orders the architectures."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import csv
import dataclasses
import io
import math
import warnings

import numpy as np

from optuna_sotl._checks import is_int
from optuna_sotl.curves._loader import LearningCurves
from optuna_sotl.estimators import BaseEstimator
from optuna_sotl.estimators import SoTL
from optuna_sotl.estimators import SoTLE
from optuna_sotl.estimators import SoTLEMA
from optuna_sotl.estimators import SoVL
from optuna_sotl.estimators import ValidationMetric


DEFAULT_BUDGETS = (1, 5, 10, 20, 30, 50, 100)
TOP_FRACTION = 0.10


@dataclasses.dataclass(frozen=True)
class RankEntry:
    """One row family of the rank table: a name and a scoring function.

    ``score(curves, budget)`` returns one **lower-is-better** score per architecture, using epochs
    ``1..budget`` only. Rows it leaves NaN are left out of that entry's statistics (their count is
    the ``n`` column), which is how an estimator that calibrates itself offline on part of the
    architectures (say 10 %) scores only the rest: return NaN for the calibration rows.

    Example:

        .. code-block:: python

            import numpy as np
            from optuna_sotl.curves import LearningCurves, RankEntry, rank_estimators

            def last_loss_of_later_rows(curves, budget):
                scores = curves.train_loss[:, budget - 1].copy()
                scores[:2] = np.nan  # rows used for calibration are not scored
                return scores

            loss = np.array([[2.0, 1.0], [2.0, 1.2], [2.0, 1.4], [2.0, 1.6], [2.0, 1.8]])
            curves = LearningCurves(loss, loss, 100.0 - 10 * loss[:, -1], "test_acc")
            entry = RankEntry("later rows", last_loss_of_later_rows)
            table = rank_estimators(curves, budgets=[2], entries=[entry])
            assert table.rows[0].n == 3
    """

    name: str
    score: Callable[[LearningCurves, int], np.ndarray]


@dataclasses.dataclass(frozen=True)
class RankRow:
    budget: int
    estimator: str
    n: int
    spearman: float
    kendall: float
    top_precision: float


def estimator_entry(estimator: BaseEstimator, name: str | None = None) -> RankEntry:
    """A rank entry scoring with a package estimator on the curve ``estimator.curve`` names.

    ``"val_metric"`` estimators read ``val_acc`` when the file has it, else ``val_loss``.
    """
    if not isinstance(estimator, BaseEstimator):
        raise TypeError(f"estimator must be an optuna_sotl estimator, got {estimator!r}.")

    def score(curves: LearningCurves, budget: int) -> np.ndarray:
        matrix = {
            "train_loss": curves.train_loss,
            "val_loss": curves.val_loss,
            "val_metric": curves.val_metric,
        }[estimator.curve]
        return np.asarray(estimator(matrix, budget), dtype=np.float64)

    return RankEntry(name or estimator.name, score)


def default_rank_entries(curves: LearningCurves) -> list[RankEntry]:
    """SoTL, SoTL-E (E = 1, 2, 5), SoTL-EMA (μ = 0.9, the authors' TSE-EMA, and 0.5), SoVL and the
    validation metric at T."""
    entries = [estimator_entry(SoTL())]
    entries += [estimator_entry(SoTLE(window)) for window in (1, 2, 5)]
    entries += [estimator_entry(SoTLEMA(newest_weight=mu)) for mu in (0.9, 0.5)]
    entries.append(estimator_entry(SoVL()))
    entries.append(
        estimator_entry(
            ValidationMetric(higher_is_better=curves.val_metric_higher_is_better),
            name=f"{curves.val_metric_key}@T",
        )
    )
    return entries


def clip_budgets(budgets: Sequence[int] | None, n_epochs: int) -> list[int]:
    """Budgets beyond the file's epochs become its last epoch; sorted, without repeats."""
    if budgets is None:
        budgets = DEFAULT_BUDGETS
    clipped = set()
    for budget in budgets:
        if not is_int(budget) or budget < 1:
            raise ValueError(f"budgets must be positive ints (epochs), got {budget!r}.")
        clipped.add(min(int(budget), n_epochs))
    if not clipped:
        raise ValueError("budgets must name at least one epoch.")
    return sorted(clipped)


@dataclasses.dataclass(frozen=True)
class RankTable:
    """The result of :func:`rank_estimators`: one :class:`RankRow` per (budget, estimator).

    Example:

        .. code-block:: python

            import numpy as np
            from optuna_sotl.curves import LearningCurves, rank_estimators

            loss = np.array([[2.0, 1.0], [2.0, 1.5], [2.0, 1.2]])
            curves = LearningCurves(loss, loss, np.array([3.0, 1.0, 2.0]), "test_acc")
            table = rank_estimators(curves)
            print(table.to_markdown())
            assert round(table.value(2, "SoTL-E(E=1)"), 6) == 1.0
    """

    rows: tuple[RankRow, ...]
    result_key: str
    n_archs: int
    source: str

    @property
    def budgets(self) -> list[int]:
        return sorted({row.budget for row in self.rows})

    @property
    def estimators(self) -> list[str]:
        return list(dict.fromkeys(row.estimator for row in self.rows))

    def value(self, budget: int, estimator: str, metric: str = "spearman") -> float:
        for row in self.rows:
            if row.budget == budget and row.estimator == estimator:
                return float(getattr(row, metric))
        raise KeyError(f"no row for budget={budget}, estimator={estimator!r}.")

    def to_markdown(self) -> str:
        direction = "higher" if self.result_key == "test_acc" else "lower"
        parts = [
            f"Rank quality against `{self.result_key}` ({direction} is better) over "
            f"{self.n_archs} architectures of `{self.source}`. Scores are lower-is-better and "
            "negated, so a positive correlation means the estimator orders the architectures "
            "the right way."
        ]
        for metric, title in (
            ("spearman", "Spearman ρ"),
            ("kendall", "Kendall τ"),
            ("top_precision", f"Precision of the top {TOP_FRACTION:.0%}"),
        ):
            parts.append(f"\n### {title}\n")
            parts.append("| T | " + " | ".join(self.estimators) + " |")
            parts.append("|---|" + "---|" * len(self.estimators))
            for budget in self.budgets:
                cells = [_fmt(self.value(budget, name, metric)) for name in self.estimators]
                parts.append(f"| {budget} | " + " | ".join(cells) + " |")
        return "\n".join(parts) + "\n"

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["budget", "estimator", "n", "spearman", "kendall", "top10_precision"])
        for row in self.rows:
            writer.writerow(
                [row.budget, row.estimator, row.n]
                + [f"{v:.6f}" for v in (row.spearman, row.kendall, row.top_precision)]
            )
        return buffer.getvalue()


def _fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def rank_estimators(
    curves: LearningCurves,
    budgets: Sequence[int] | None = None,
    entries: Sequence[RankEntry] | None = None,
) -> RankTable:
    """Spearman ρ, Kendall τ-b and top-10 % precision of each estimator at each budget.

    Each estimator's lower-is-better score is negated and compared with the final result made
    higher-is-better (``test_acc``, or ``-test_loss``). Ties get average ranks (scipy's
    ``spearmanr``). Top-10 % precision: of the ``k = ceil(N / 10)`` architectures the estimator
    ranks best (ties broken by file order), the fraction whose result is at least the ``k``-th best
    result (ties at the boundary count as in the true top 10 %).

    Example:

        .. code-block:: python

            import numpy as np
            from optuna_sotl.curves import LearningCurves, rank_estimators

            rng = np.random.default_rng(0)
            loss = np.sort(rng.uniform(0.5, 2.0, size=(50, 4)), axis=1)[:, ::-1]
            curves = LearningCurves(loss, loss + 0.1, 100.0 - 10 * loss[:, -1], "test_acc")
            table = rank_estimators(curves, budgets=[4])
            assert round(table.value(4, "SoTL-E(E=1)"), 6) == 1.0
    """
    from scipy import stats

    if not isinstance(curves, LearningCurves):
        raise TypeError(f"curves must be a LearningCurves, got {type(curves).__name__}.")
    if entries is None:
        entries = default_rank_entries(curves)
    budget_list = clip_budgets(budgets, curves.n_epochs)
    target = curves.result if curves.result_higher_is_better else -curves.result
    rows = []
    for budget in budget_list:
        for entry in entries:
            goodness = -np.asarray(entry.score(curves, budget), dtype=np.float64)
            if goodness.shape != target.shape:
                raise ValueError(
                    f"rank entry {entry.name!r} returned shape {goodness.shape}, "
                    f"expected {target.shape}."
                )
            keep = ~np.isnan(goodness)
            x, y = goodness[keep], target[keep]
            if x.size < 2:
                rho = tau = precision = math.nan
            else:
                with warnings.catch_warnings():
                    # A constant score (every arch alike at T) has no rank order: NaN, no warning.
                    warnings.simplefilter("ignore", RuntimeWarning)
                    warnings.simplefilter(
                        "ignore", getattr(stats, "ConstantInputWarning", Warning)
                    )
                    rho = float(stats.spearmanr(x, y)[0])
                    tau = float(stats.kendalltau(x, y)[0])
                precision = top_precision(x, y)
            rows.append(RankRow(budget, entry.name, int(x.size), rho, tau, precision))
    return RankTable(tuple(rows), curves.result_key, curves.n_archs, curves.source)


def top_precision(
    goodness: np.ndarray, target: np.ndarray, fraction: float = TOP_FRACTION
) -> float:
    """Fraction of the ``ceil(fraction * N)`` best by ``goodness`` that are in the true top set."""
    k = max(1, math.ceil(fraction * goodness.size))
    # A stable sort of the negated values keeps file order among ties: reproducible results.
    chosen = np.argsort(-goodness, kind="stable")[:k]
    kth_best = np.sort(target)[::-1][k - 1]
    return float(np.mean(target[chosen] >= kth_best))
