"""The estimator that chooses its signal at each step from the study's own completed trials.

Nothing is fitted beyond that choice and nothing needs tuning: the one constant,
``min_calibration_trials=10``, is where Spearman's standard error (about ``1/sqrt(n - 1)``) drops
to a third.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
import math

import numpy as np
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_sotl._attrs import VAL_METRIC_CURVE
from optuna_sotl._checks import check_count
from optuna_sotl._scoring import score_at_step
from optuna_sotl.estimators._base import BaseEstimator
from optuna_sotl.estimators._sotl_e import SoTLE
from optuna_sotl.estimators._sotl_ema import SoTLEMA
from optuna_sotl.estimators._validation_metric import ValidationMetric


RANK_MEAN = "rank-mean(SoTL-E, val_metric)"

# Below 10 pairs Spearman's ρ has a standard error above 1/sqrt(10 - 1) = 0.33, larger than the
# gaps between the candidate signals it would choose among: the choice would be noise.
DEFAULT_MIN_CALIBRATION_TRIALS = 10


class SelfCalibratingEstimator:
    """Pick, at each step, the signal that has ranked the study's own finished trials best.

    SoTL-E ranks architectures better than the validation metric early in training and worse
    late; where the two cross depends on the space, schedule and dataset. At step ``t`` this
    estimator takes the trials that completed and reached ``t`` and, for each candidate (SoTL-E
    with E=1, SoTL-EMA with γ=0.9, the reported validation metric, the mean of the SoTL-E and
    metric ranks), the Spearman correlation of its score at ``t`` with their final values; the
    best candidate scores every trial (ties to the earlier one). With fewer than
    ``min_calibration_trials`` such trials, or no validation metric, it falls back to SoTL-E.
    The metric is read from the ``val_metric_curve`` the reporter records, pointing the way the
    study does (an accuracy in a maximising study).

    Example:

        .. code-block:: python

            import optuna
            from optuna_sotl import SelfCalibratingEstimator
            from optuna_sotl import SoTLPruner

            pruner = SoTLPruner(estimator=SelfCalibratingEstimator())
            study = optuna.create_study(direction="maximize", pruner=pruner)

    Args:
        min_calibration_trials:
            Completed trials needed at a step before the estimator trusts its own choice.
    """

    name = "self-calibrating"
    # The pruner reads trials' training-loss windows for other estimators; this one needs them all.
    window = None

    def __init__(self, *, min_calibration_trials: int = DEFAULT_MIN_CALIBRATION_TRIALS) -> None:
        self._min_calibration_trials = check_count(
            "min_calibration_trials",
            min_calibration_trials,
            minimum=3,
            why="a rank correlation needs them",
        )
        self._train_loss_candidates: tuple[BaseEstimator, ...] = (SoTLE(1), SoTLEMA(0.9))
        # step -> (the calibration set it was made on, the choice); derived from storage only.
        self._choices: dict[int, tuple[tuple[int, bool, tuple[int, ...]], str]] = {}

    @property
    def min_calibration_trials(self) -> int:
        return self._min_calibration_trials

    @property
    def fallback(self) -> str:
        return self._train_loss_candidates[0].name

    def choose(self, candidate_scores: Mapping[str, np.ndarray], later: np.ndarray) -> str:
        """The candidate whose lower-is-better scores best order ``later`` (lower-is-better too).

        ``candidate_scores`` and ``later`` hold the calibration trials only, in one order; the
        first key is the fallback. A candidate with any NaN is passed over.
        """
        from scipy import stats

        names = list(candidate_scores)
        later = np.asarray(later, dtype=np.float64)
        if later.size < self._min_calibration_trials or np.ptp(later) == 0.0:
            return names[0]
        best_name, best_rho = names[0], -math.inf
        for name in names:
            scores = np.asarray(candidate_scores[name], dtype=np.float64)
            if np.isnan(scores).any() or np.ptp(scores) == 0.0:
                continue
            rho = float(stats.spearmanr(scores, later)[0])
            if rho > best_rho:
                best_name, best_rho = name, rho
        return best_name

    def candidates(
        self, train_loss: np.ndarray, val_metric: np.ndarray | None, budget: int,
        higher_is_better: bool,
    ) -> dict[str, np.ndarray]:
        """Each candidate's lower-is-better scores of ``(N, T)`` curves at ``budget``."""
        metric = None
        if val_metric is not None and not np.isnan(val_metric[:, budget - 1]).all():
            metric = ValidationMetric(higher_is_better=higher_is_better)(val_metric, budget)
        return self._candidates(lambda est: est(train_loss, budget), metric)

    def _candidates(
        self,
        train_loss_scores: Callable[[BaseEstimator], object],
        metric: np.ndarray | float | None,
    ) -> dict[str, np.ndarray]:
        # The one place the candidates are listed: offline curves and online trials alike.
        scores = {est.name: train_loss_scores(est) for est in self._train_loss_candidates}
        if metric is not None:
            scores[ValidationMetric().name] = metric
            scores[RANK_MEAN] = _rank_mean(
                np.asarray(scores[self.fallback], dtype=np.float64),
                np.asarray(metric, dtype=np.float64),
            )
        return {name: np.asarray(values, dtype=np.float64) for name, values in scores.items()}

    def score_curves(
        self,
        train_loss: np.ndarray,
        val_metric: np.ndarray | None,
        budget: int,
        calibration: np.ndarray,
        later: np.ndarray,
        higher_is_better: bool = True,
    ) -> tuple[np.ndarray, str]:
        """Offline: choose on the ``calibration`` rows, then score every row with the choice.

        ``later`` is the lower-is-better final result of each row (only calibration rows are
        read). Returns the scores and the chosen candidate's name.
        """
        calibration = np.asarray(calibration, dtype=bool)
        scores = self.candidates(train_loss, val_metric, budget, higher_is_better)
        chosen = self.choose(
            {name: values[calibration] for name, values in scores.items()},
            np.asarray(later, dtype=np.float64)[calibration],
        )
        return scores[chosen], chosen

    def score_trials(
        self, trials: Sequence[FrozenTrial], step: int, direction: StudyDirection
    ) -> np.ndarray:
        """Online: lower-is-better scores of ``trials`` (all reached ``step``) at ``step``.

        Non-finite training losses at the step score ``+inf``, as with every estimator. The
        choice is made on the completed trials alone and kept until another trial completes,
        so most calls score the trials with one signal only. A trial without a validation metric
        at the step makes the call fall back to SoTL-E, since it cannot be ranked by the metric.
        """
        if not trials:
            return np.empty(0, dtype=np.float64)
        maximize = direction == StudyDirection.MAXIMIZE
        sotl_e = score_at_step(self._train_loss_candidates[0], trials, step)
        calibration = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
        chosen = self.fallback
        if len(calibration) >= self._min_calibration_trials:
            chosen = self._cached_choice(calibration, step, maximize)
        if chosen == self.fallback:
            return sotl_e
        if chosen in self._train_loss_names:
            estimator = self._train_loss_candidates[self._train_loss_names.index(chosen)]
            return np.where(np.isinf(sotl_e), np.inf, score_at_step(estimator, trials, step))
        metric = _metric_scores(trials, step, maximize)
        if np.isnan(metric).any():
            return sotl_e
        scores = metric if chosen == ValidationMetric().name else _rank_mean(sotl_e, metric)
        return np.where(np.isinf(sotl_e), np.inf, scores)

    @property
    def _train_loss_names(self) -> list[str]:
        return [estimator.name for estimator in self._train_loss_candidates]

    def _cached_choice(
        self, calibration: Sequence[FrozenTrial], step: int, maximize: bool
    ) -> str:
        key = (step, maximize, tuple(t.number for t in calibration))
        cached = self._choices.get(step)
        if cached is not None and cached[0] == key:
            return cached[1]
        metric = _metric_scores(calibration, step, maximize)
        scores = self._candidates(
            lambda est: score_at_step(est, calibration, step),
            None if np.isnan(metric).any() else metric,
        )
        # Lower-is-better final values; calibration trials are complete, so each has a value.
        later = np.array([t.values[0] for t in calibration], dtype=np.float64)
        if maximize:
            later = -later
        chosen = self.choose(scores, later)
        self._choices[step] = (key, chosen)
        return chosen

    def __repr__(self) -> str:
        return f"SelfCalibratingEstimator(min_calibration_trials={self._min_calibration_trials})"


def _metric_scores(trials: Sequence[FrozenTrial], step: int, maximize: bool) -> np.ndarray:
    """Each trial's recorded validation metric at ``step``, lower-is-better; NaN if none."""
    values = []
    for trial in trials:
        curve = trial.user_attrs.get(VAL_METRIC_CURVE)
        value = curve[step] if isinstance(curve, list) and step < len(curve) else None
        values.append(math.nan if value is None else value)
    metric = np.array(values, dtype=np.float64)
    return -metric if maximize else metric


def _rank_mean(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Mean of the two lower-is-better rank orders; NaN wherever either score is NaN."""
    from scipy import stats

    both = ~(np.isnan(first) | np.isnan(second))
    mean = np.full(first.shape, np.nan)
    if both.any():
        mean[both] = (stats.rankdata(first[both]) + stats.rankdata(second[both])) / 2.0
    return mean
