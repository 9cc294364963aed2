"""Honest offline evaluation of :class:`~optuna_sotl.SelfCalibratingEstimator` on recorded curves.

The estimator chooses its signal from trials that finished. Offline, that is a random fraction of
the architectures (10 % by default) with their *final validation* result — what a study knows of
its complete trials, never the test result. It then scores the other architectures, and only those
are compared with the test result, next to SoTL-E and the validation metric on the same rows.
Repeating over seeds gives the mean and spread.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
import dataclasses
import math

import numpy as np

from optuna_sotl._checks import check_real_in
from optuna_sotl.curves._loader import LearningCurves
from optuna_sotl.curves._rank import clip_budgets
from optuna_sotl.curves._rank import top_precision
from optuna_sotl.estimators import SelfCalibratingEstimator
from optuna_sotl.estimators import SoTLE
from optuna_sotl.estimators import ValidationMetric


@dataclasses.dataclass(frozen=True)
class CalibrationRow:
    """Spearman ρ on the held-out architectures at one budget, over the seeds."""

    budget: int
    self_calibrating: tuple[float, ...]
    sotl_e: tuple[float, ...]
    val_metric: tuple[float, ...]
    top_precision: tuple[float, ...]
    chosen: tuple[tuple[str, int], ...]

    @property
    def best_fixed(self) -> float:
        return max(float(np.mean(self.sotl_e)), float(np.mean(self.val_metric)))

    @property
    def goal_met(self) -> bool:
        return float(np.mean(self.self_calibrating)) >= self.best_fixed - 0.01


@dataclasses.dataclass(frozen=True)
class CalibrationTable:
    rows: tuple[CalibrationRow, ...]
    fraction: float
    seeds: tuple[int, ...]
    val_metric_key: str
    result_key: str
    n_archs: int

    def to_markdown(self) -> str:
        n_cal = max(3, round(self.fraction * self.n_archs))
        lines = [
            f"Self-calibrating estimator: calibrated on a random {self.fraction:.0%} of the "
            f"{self.n_archs} architectures (about {n_cal}) with their final "
            f"`{self.val_metric_key}`, "
            f"scored on the rest against `{self.result_key}`; {len(self.seeds)} seeds "
            f"({self.seeds[0]}..{self.seeds[-1]}). Spearman ρ mean ± standard deviation over the "
            "seeds; the fixed signals are measured on the same held-out architectures. Goal: "
            "self-calibrating ≥ max(SoTL-E, validation metric) − 0.01.",
            "",
            f"| T | self-calibrating | SoTL-E(E=1) | {self.val_metric_key}@T | goal | "
            "top-10 % precision | chosen signal (seeds) |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in self.rows:
            chosen = ", ".join(f"{name} ×{count}" for name, count in row.chosen)
            lines.append(
                f"| {row.budget} | {_mean_sd(row.self_calibrating)} | {_mean_sd(row.sotl_e)} | "
                f"{_mean_sd(row.val_metric)} | {'met' if row.goal_met else '**missed**'} | "
                f"{_mean_sd(row.top_precision)} | {chosen} |"
            )
        return "\n".join(lines) + "\n"


def _mean_sd(values: Sequence[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def evaluate_self_calibrating(
    curves: LearningCurves,
    budgets: Sequence[int] | None = None,
    *,
    fraction: float = 0.1,
    seeds: Sequence[int] = tuple(range(20)),
    estimator: SelfCalibratingEstimator | None = None,
) -> CalibrationTable:
    """Calibrate on ``fraction`` of the architectures, score the rest, for each seed and budget."""
    from scipy import stats

    fraction = check_real_in("fraction", fraction, 0.0, 1.0, open_interval=True)
    seeds = tuple(int(seed) for seed in seeds)
    if not seeds:
        raise ValueError("seeds must name at least one seed.")
    estimator = estimator or SelfCalibratingEstimator()
    higher = curves.val_metric_higher_is_better
    final_val = curves.val_metric[:, -1]
    later = -final_val if higher else final_val
    target = curves.result if curves.result_higher_is_better else -curves.result
    n_calibration = max(3, round(fraction * curves.n_archs))
    metric = ValidationMetric(higher_is_better=higher)

    rows = []
    for budget in clip_budgets(budgets, curves.n_epochs):
        fixed_sotl_e = np.asarray(SoTLE(1)(curves.train_loss, budget))
        fixed_metric = np.asarray(metric(curves.val_metric, budget))
        per_seed: dict[str, list[float]] = {"self": [], "sotl_e": [], "val": [], "top": []}
        chosen: Counter[str] = Counter()
        for seed in seeds:
            calibration = np.zeros(curves.n_archs, dtype=bool)
            rng = np.random.default_rng(seed)
            calibration[rng.choice(curves.n_archs, size=n_calibration, replace=False)] = True
            scores, name = estimator.score_curves(
                curves.train_loss, curves.val_metric, budget, calibration, later, higher
            )
            chosen[name] += 1
            held_out = ~calibration & ~np.isnan(scores)
            for key, values in (("self", scores), ("sotl_e", fixed_sotl_e), ("val", fixed_metric)):
                per_seed[key].append(_spearman(stats, -values[held_out], target[held_out]))
            per_seed["top"].append(top_precision(-scores[held_out], target[held_out]))
        rows.append(
            CalibrationRow(
                budget,
                tuple(per_seed["self"]),
                tuple(per_seed["sotl_e"]),
                tuple(per_seed["val"]),
                tuple(per_seed["top"]),
                tuple(chosen.most_common()),
            )
        )
    return CalibrationTable(
        tuple(rows), float(fraction), seeds, curves.val_metric_key, curves.result_key,
        curves.n_archs,
    )


def _spearman(stats: object, goodness: np.ndarray, target: np.ndarray) -> float:
    if goodness.size < 2 or np.ptp(goodness) == 0.0:
        return math.nan
    return float(stats.spearmanr(goodness, target)[0])  # type: ignore[attr-defined]
