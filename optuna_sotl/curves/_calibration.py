"""Honest offline evaluation of :class:`~optuna_sotl.SelfCalibratingEstimator` on recorded curves.

The estimator chooses its signal from trials that finished. Offline, that is a random set of the
architectures — a fraction of them (10 % by default) or a number (``calibration_size``, the few
trials a small or aggressively pruned study completes) — with their *final validation* result,
what a study knows of its complete trials, never the test result. It then scores the other
architectures, and only those are compared with the test result, next to SoTL-E and the
validation metric on the same rows. Repeating over seeds gives the mean and spread; with
``subset_size`` each seed first draws a random subset of the architectures (a smaller study).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
import dataclasses
import math

import numpy as np

from optuna_sotl._checks import check_count
from optuna_sotl._checks import check_real_in
from optuna_sotl._checks import is_int
from optuna_sotl.curves._loader import LearningCurves
from optuna_sotl.curves._rank import clip_budgets
from optuna_sotl.curves._rank import top_precision
from optuna_sotl.estimators import SelfCalibratingEstimator
from optuna_sotl.estimators import SoTLE
from optuna_sotl.estimators import ValidationMetric
from optuna_sotl.estimators._signal_choice import RANK_MEAN
from optuna_sotl.estimators._signal_choice import signal_scores
from optuna_sotl.estimators._signal_choice import SOTL_E
from optuna_sotl.estimators._signal_choice import VAL_METRIC


@dataclasses.dataclass(frozen=True)
class CalibrationRow:
    """Spearman ρ on the held-out architectures at one budget, over the seeds."""

    budget: int
    self_calibrating: tuple[float, ...]
    sotl_e: tuple[float, ...]
    val_metric: tuple[float, ...]
    rank_mean: tuple[float, ...]
    top_precision: tuple[float, ...]
    chosen: tuple[tuple[str, int], ...]
    mean_metric_weight: float = float("nan")

    @property
    def best_fixed(self) -> float:
        return max(float(np.mean(self.sotl_e)), float(np.mean(self.val_metric)))

    @property
    def goal_met(self) -> bool:
        return float(np.mean(self.self_calibrating)) >= self.best_fixed - 0.01


    @property
    def margin(self) -> float:
        """Mean ρ of the estimator minus the better fixed signal's (the goal allows −0.01)."""
        return float(np.mean(self.self_calibrating)) - self.best_fixed


@dataclasses.dataclass(frozen=True)
class CalibrationTable:
    rows: tuple[CalibrationRow, ...]
    fraction: float | None
    seeds: tuple[int, ...]
    val_metric_key: str
    result_key: str
    n_archs: int
    calibration_size: int | None = None
    subset_size: tuple[int, int] | None = None

    @property
    def goal_met(self) -> bool:
        return all(row.goal_met for row in self.rows)

    def describe(self) -> str:
        """One sentence: how many architectures were drawn, calibrated on and scored."""
        if self.subset_size is None:
            pool = f"the {self.n_archs} architectures"
            size = self.n_archs
        else:
            low, high = self.subset_size
            pool = f"a random subset of {low}–{high} of the {self.n_archs} architectures per seed"
            size = (low + high) // 2
        if self.calibration_size is not None:
            how = f"a random {self.calibration_size} of {pool}"
        else:
            how = (
                f"a random {self.fraction:.0%} of {pool} "
                f"(about {_calibration_count(self.fraction, None, size)})"
            )
        return (
            f"calibrated on {how} with their final `{self.val_metric_key}`, scored on the rest "
            f"against `{self.result_key}`; {len(self.seeds)} seeds "
            f"({self.seeds[0]}..{self.seeds[-1]})"
        )

    def to_markdown(self) -> str:
        lines = [
            f"Self-calibrating estimator: {self.describe()}. Spearman ρ mean ± standard deviation "
            "over the seeds; the fixed signals are measured on the same held-out architectures. "
            "Goal: self-calibrating ≥ max(SoTL-E, validation metric) − 0.01.",
            "",
            f"| T | self-calibrating | SoTL-E(E=1) | {self.val_metric_key}@T | rank mean | "
            "margin | goal | top-10 % precision | metric weight | chosen signal (seeds) |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in self.rows:
            chosen = ", ".join(f"{name} ×{count}" for name, count in row.chosen)
            lines.append(
                f"| {row.budget} | {_mean_sd(row.self_calibrating)} | {_mean_sd(row.sotl_e)} | "
                f"{_mean_sd(row.val_metric)} | {_mean_sd(row.rank_mean)} | {row.margin:+.3f} | "
                f"{'met' if row.goal_met else '**missed**'} | "
                f"{_mean_sd(row.top_precision)} | {row.mean_metric_weight:.2f} | {chosen} |"
            )
        return "\n".join(lines) + "\n"

    def to_csv_rows(self, label: str) -> list[list[object]]:
        """One row per budget: the mean ρ of each signal, the margin and the goal."""
        return [
            [
                label, row.budget, self.calibration_size or "", self.fraction or "",
                len(self.seeds),
                *(f"{np.mean(v):.4f}" for v in (
                    row.self_calibrating, row.sotl_e, row.val_metric, row.rank_mean
                )),
                f"{row.margin:+.4f}", row.goal_met,
            ]
            for row in self.rows
        ]


CSV_HEADER = [
    "setting", "budget", "calibration_size", "calibration_fraction", "seeds", "self_calibrating",
    "sotl_e", "val_metric", "rank_mean", "margin", "goal_met",
]


def _calibration_count(fraction: float | None, size: int | None, n_archs: int) -> int:
    if size is not None:
        return int(size)
    assert fraction is not None
    return max(3, round(fraction * n_archs))


def check_calibration_size(
    n_archs: int,
    fraction: float | None,
    size: int | None,
    *,
    names: tuple[str, str] = ("fraction", "calibration_size"),
) -> int:
    """The architectures to calibrate on; ValueError when fewer than 2 remain to score.

    The command calls it before any work, as soon as the file's size is known, with its option
    names as ``names`` (for ``fraction`` and ``size``).
    """
    n_calibration = _calibration_count(fraction, size, n_archs)
    # Spearman's rho on the held-out architectures needs at least two of them.
    if n_calibration > n_archs - 2:
        how = f"{names[1]} {size}" if size is not None else f"{names[0]} {fraction}"
        raise ValueError(
            f"the self-calibrating evaluation calibrates on {n_calibration} architectures "
            f"({how}, at least 3) and scores at least 2 others, so it needs at least "
            f"{n_calibration + 2}; there are {n_archs}."
        )
    return n_calibration


def _mean_sd(values: Sequence[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def evaluate_self_calibrating(
    curves: LearningCurves,
    budgets: Sequence[int] | None = None,
    *,
    fraction: float | None = 0.1,
    calibration_size: int | None = None,
    seeds: Sequence[int] = tuple(range(20)),
    subset_size: int | tuple[int, int] | None = None,
    estimator: SelfCalibratingEstimator | None = None,
) -> CalibrationTable:
    """Calibrate on some architectures, score the rest, for each seed and budget.

    ``calibration_size`` (a number of architectures) replaces ``fraction`` when given. With
    ``subset_size`` (``n`` or a range ``(low, high)``) each seed first draws that many
    architectures at random and works inside them only. Seed ``s`` draws with
    ``numpy.random.default_rng(s)``, the same sets at every budget.
    """
    from scipy import stats

    if calibration_size is not None:
        calibration_size = check_count(
            "calibration_size", calibration_size, minimum=3, why="a rank correlation needs them"
        )
        fraction = None
    else:
        fraction = check_real_in("fraction", fraction, 0.0, 1.0, open_interval=True)
    low, high = _subset_range(subset_size, curves.n_archs)
    smallest = low if subset_size is not None else curves.n_archs
    check_calibration_size(smallest, fraction, calibration_size)
    seeds = tuple(int(seed) for seed in seeds)
    if not seeds:
        raise ValueError("seeds must name at least one seed.")
    estimator = estimator or SelfCalibratingEstimator()
    higher = curves.val_metric_higher_is_better
    final_val = curves.val_metric[:, -1]
    later = -final_val if higher else final_val
    target = curves.result if curves.result_higher_is_better else -curves.result
    budget_list = clip_budgets(budgets, curves.n_epochs)

    # Each seed's rows: the architectures of its (sub)study and which of them calibrate.
    draws = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        if subset_size is None:
            rows = np.arange(curves.n_archs)
        else:
            size = int(rng.integers(low, high + 1))
            rows = np.sort(rng.choice(curves.n_archs, size=size, replace=False))
        n_calibration = _calibration_count(fraction, calibration_size, rows.size)
        calibration = np.zeros(rows.size, dtype=bool)
        calibration[rng.choice(rows.size, size=n_calibration, replace=False)] = True
        draws.append((rows, calibration))

    result_rows = []
    for budget in budget_list:
        keys = ("self", "sotl_e", "val", "mean", "top")
        per_seed: dict[str, list[float]] = {key: [] for key in keys}
        chosen: Counter[str] = Counter()
        weights: list[float] = []
        for rows, calibration in draws:
            train_loss = curves.train_loss[rows, :budget]
            val_metric = curves.val_metric[rows, :budget]
            scores, choice = estimator.score_curves(
                train_loss, val_metric, budget, calibration, later[rows], higher
            )
            chosen[choice.kind] += 1
            weights.append(choice.metric_weight)
            held_out = ~calibration & ~np.isnan(scores)
            metric = ValidationMetric(higher_is_better=higher)
            fixed = signal_scores(
                np.asarray(SoTLE(1)(train_loss, budget))[held_out],
                np.asarray(metric(val_metric, budget))[held_out],
            )
            held_target = target[rows][held_out]
            for key, values in (
                ("self", scores[held_out]), ("sotl_e", fixed[SOTL_E]),
                ("val", fixed[VAL_METRIC]), ("mean", fixed[RANK_MEAN]),
            ):
                per_seed[key].append(_spearman(stats, -values, held_target))
            per_seed["top"].append(top_precision(-scores[held_out], held_target))
        result_rows.append(
            CalibrationRow(
                budget,
                tuple(per_seed["self"]),
                tuple(per_seed["sotl_e"]),
                tuple(per_seed["val"]),
                tuple(per_seed["mean"]),
                tuple(per_seed["top"]),
                tuple(chosen.most_common()),
                float(np.mean(weights)),
            )
        )
    return CalibrationTable(
        tuple(result_rows), fraction, seeds, curves.val_metric_key, curves.result_key,
        curves.n_archs, None if calibration_size is None else int(calibration_size),
        None if subset_size is None else (low, high),
    )


def _subset_range(subset_size: object, n_archs: int) -> tuple[int, int]:
    if subset_size is None:
        return n_archs, n_archs
    pair = subset_size if isinstance(subset_size, tuple) else (subset_size, subset_size)
    if len(pair) != 2 or any(
        not is_int(v) for v in pair
    ):
        raise TypeError(f"subset_size must be an int or a (low, high) pair, got {subset_size!r}.")
    low, high = int(pair[0]), int(pair[1])
    if not 3 <= low <= high <= n_archs:
        raise ValueError(
            f"subset_size must be between 3 and the {n_archs} architectures, low <= high, "
            f"got {subset_size!r}."
        )
    return low, high


def _spearman(stats: object, goodness: np.ndarray, target: np.ndarray) -> float:
    if goodness.size < 2 or np.ptp(goodness) == 0.0:
        return math.nan
    return float(stats.spearmanr(goodness, target)[0])  # type: ignore[attr-defined]
