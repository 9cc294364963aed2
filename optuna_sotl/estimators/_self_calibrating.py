"""The estimator that chooses its signal at each step from the study's own trials."""

from __future__ import annotations

from collections.abc import Sequence
import math

import numpy as np
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_sotl._attrs import VAL_METRIC_CURVE
from optuna_sotl._checks import check_count
from optuna_sotl._checks import check_loss_estimator
from optuna_sotl._scoring import score_at_step
from optuna_sotl.estimators._base import BaseEstimator
from optuna_sotl.estimators._signal_choice import blend_scores
from optuna_sotl.estimators._signal_choice import choose_signal
from optuna_sotl.estimators._signal_choice import DEFAULT_MIN_CALIBRATION_TRIALS
from optuna_sotl.estimators._signal_choice import prior_weight
from optuna_sotl.estimators._signal_choice import SignalChoice
from optuna_sotl.estimators._signal_choice import SOTL_E


class SelfCalibratingEstimator:
    """Rank by the training loss, the validation metric or a blend, as the study's trials show.

    A training-loss score (SoTL-E by default) ranks architectures trained with one recipe better
    than the validation metric early in training and worse late; where they cross depends on the
    space, schedule and data, and where the search also varies the recipe (learning rate,
    dropout, batch size) the training loss can rank backwards. At step ``t`` a paired bootstrap
    over *calibration trials* (fixed seed: every worker agrees) compares the Spearman ρ of the
    two signals with what the trials turned out to be, and trials are ranked by a blend of the
    two rank orders. Calibration trials are the completed trials that reached ``t`` or, where
    clearly more exist, the trials that reached a step ``s >= 2t + 1``, judged by their
    validation metric at ``s``. Without a validation metric it keeps the training loss. The
    choice is the pure-numpy :func:`optuna_sotl.estimators._signal_choice.choose_signal`, shared
    with ``curves rank``.

    Example:

        .. code-block:: python

            import optuna
            from optuna_sotl import SelfCalibratingEstimator
            from optuna_sotl import SoTLPruner

            pruner = SoTLPruner(estimator=SelfCalibratingEstimator())
            study = optuna.create_study(direction="maximize", pruner=pruner)

    Args:
        min_calibration_trials:
            Calibration trials needed at a step before the evidence moves the blend.
        prior:
            ``"sotl-e"`` (default): the training loss unless the evidence is clear (the metric
            alone when it beats the loss and the rank mean in 90 % of the resamples, a blend up
            to the rank mean as the rank mean beats the loss in 40-70 % of them); it ranks best
            offline when the architectures share one training recipe
            (``benchmarks/results/calibration.md``). ``"metric"`` (the rung pruners' default):
            the metric alone, as Optuna's pruners rank, until there is evidence; then the
            metric's weight is the share of bootstrap resamples in which it ranks the
            calibration trials better than the training loss. ``"even"``: the same, with ½ (the
            rank mean) before there is evidence.
        loss_estimator:
            The training-loss score blended with the metric; default ``SoTLE(1)``.
    """

    name = "self-calibrating"
    # The pruner reads trials' training-loss windows for other estimators; this one needs them all.
    window = None

    def __init__(
        self,
        *,
        min_calibration_trials: int = DEFAULT_MIN_CALIBRATION_TRIALS,
        prior: str = "sotl-e",
        loss_estimator: BaseEstimator | None = None,
    ) -> None:
        self._min_calibration_trials = check_count(
            "min_calibration_trials",
            min_calibration_trials,
            minimum=3,
            why="a rank correlation needs them",
        )
        self._no_evidence_weight = prior_weight(prior)  # checks it
        self._prior = prior
        # Checked like every pruner's estimator. The choices call it SoTL-E, its default.
        self._loss_estimator: BaseEstimator = check_loss_estimator(loss_estimator)
        # step -> (the calibration set it was made on, the choice); derived from storage only,
        # so a worker with an empty cache makes the same choice as one with a full cache.
        self._choices: dict[int, tuple[tuple[object, ...], SignalChoice]] = {}

    @property
    def min_calibration_trials(self) -> int:
        return self._min_calibration_trials

    @property
    def prior(self) -> str:
        return self._prior

    @property
    def loss_estimator(self) -> BaseEstimator:
        return self._loss_estimator

    @property
    def fallback(self) -> str:
        return SOTL_E

    def choose(
        self, sotl_e: np.ndarray, val_metric: np.ndarray | None, later: np.ndarray
    ) -> SignalChoice:
        """The choice on the calibration trials' lower-is-better SoTL-E, metric (``None``: not
        reported) and outcome ``later``; see :func:`choose_signal`."""
        return choose_signal(
            sotl_e, val_metric, later, min_trials=self._min_calibration_trials, prior=self._prior
        )

    def score_curves(
        self,
        train_loss: np.ndarray,
        val_metric: np.ndarray | None,
        budget: int,
        calibration: np.ndarray,
        later: np.ndarray,
        higher_is_better: bool = True,
    ) -> tuple[np.ndarray, SignalChoice]:
        """Offline: choose on the ``calibration`` rows, then score every row with the choice.

        ``later`` is the lower-is-better outcome of each row (only calibration rows are read):
        the final validation result of a completed trial. Returns the scores and the choice.
        """
        calibration = np.asarray(calibration, dtype=bool)
        sotl_e = np.asarray(self._loss_estimator(train_loss, budget), dtype=np.float64)
        metric = None
        if val_metric is not None and not np.isnan(val_metric[:, budget - 1]).all():
            column = np.asarray(val_metric, dtype=np.float64)[:, budget - 1]
            metric = -column if higher_is_better else column
        later = np.asarray(later, dtype=np.float64)
        choice = self.choose(
            sotl_e[calibration], None if metric is None else metric[calibration],
            later[calibration],
        )
        return blend_scores(sotl_e, metric, choice.metric_weight), choice

    def score_trials(
        self, trials: Sequence[FrozenTrial], step: int, direction: StudyDirection
    ) -> np.ndarray:
        """Online: lower-is-better scores of ``trials`` (all reached ``step``) at ``step``.

        Non-finite training losses at the step score ``+inf``, as with every estimator. The
        choice is kept until the calibration set changes, so most calls score the trials with
        one signal only. A trial without a validation metric at the step makes the call fall
        back to SoTL-E, since it cannot be ranked by the metric.
        """
        if not trials:
            return np.empty(0, dtype=np.float64)
        maximize = direction == StudyDirection.MAXIMIZE
        sotl_e = score_at_step(self._loss_estimator, trials, step)
        weight = self._cached_choice(trials, step, maximize).metric_weight
        if weight == 0.0:
            return sotl_e
        metric = _metric_scores(trials, step, maximize)
        if np.isnan(metric).any():
            return sotl_e
        return np.where(np.isinf(sotl_e), np.inf, blend_scores(sotl_e, metric, weight))

    def _cached_choice(
        self, trials: Sequence[FrozenTrial], step: int, maximize: bool
    ) -> SignalChoice:
        members, target_step = self._calibration_set(trials, step)
        key = (step, maximize, target_step, tuple(t.number for t in members))
        cached = self._choices.get(step)
        if cached is not None and cached[0] == key:
            return cached[1]
        if len(members) < self._min_calibration_trials:
            choice = SignalChoice(self._no_evidence_weight, len(members))
        else:
            sotl_e = score_at_step(self._loss_estimator, members, step)
            metric = _metric_scores(members, step, maximize)
            if target_step is None:
                values = np.array([t.value for t in members], dtype=np.float64)
                later = -values if maximize else values
            else:
                later = _metric_scores(members, target_step, maximize)
            choice = self.choose(sotl_e, None if np.isnan(metric).any() else metric, later)
        self._choices[step] = (key, choice)
        return choice

    def _calibration_set(
        self, trials: Sequence[FrozenTrial], step: int
    ) -> tuple[list[FrozenTrial], int | None]:
        """The calibration trials at ``step`` and their target's step (``None``: the objective)."""
        completed = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
        needed = max(self._min_calibration_trials, 2 * len(completed))
        # The last step at which each trial has a validation metric (-1: none).
        last_steps = []
        for trial in trials:
            curve = trial.user_attrs.get(VAL_METRIC_CURVE)
            last_steps.append(_last_reported(curve))
        if len(trials) < needed:
            return completed, None
        target_step = sorted(last_steps, reverse=True)[needed - 1]
        if target_step < 2 * step + 1:
            return completed, None
        later = [t for t, last in zip(trials, last_steps) if last >= target_step]
        return later, target_step

    def __repr__(self) -> str:
        return (
            f"SelfCalibratingEstimator(min_calibration_trials={self._min_calibration_trials}, "
            f"prior={self._prior!r}, loss_estimator={self._loss_estimator!r})"
        )


def _last_reported(curve: object) -> int:
    if not isinstance(curve, list):
        return -1
    for index in range(len(curve) - 1, -1, -1):
        value = curve[index]
        if isinstance(value, (int, float)) and math.isfinite(value):
            return index
    return -1


def _metric_scores(trials: Sequence[FrozenTrial], step: int, maximize: bool) -> np.ndarray:
    """The validation metric each trial's reporter recorded at ``step``, lower-is-better (NaN:
    none)."""
    values = []
    for trial in trials:
        curve = trial.user_attrs.get(VAL_METRIC_CURVE)
        value = curve[step] if isinstance(curve, list) and step < len(curve) else None
        values.append(math.nan if value is None else value)
    metric = np.array(values, dtype=np.float64)
    return -metric if maximize else metric
