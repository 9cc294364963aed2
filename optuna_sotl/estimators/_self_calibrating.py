"""The estimator that chooses its signal at each step from the study's own trials."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

from optuna_sotl._checks import check_count
from optuna_sotl._checks import check_loss_estimator
from optuna_sotl._checks import check_one_of
from optuna_sotl.estimators._base import BaseEstimator
from optuna_sotl.estimators._signal_choice import blend_scores
from optuna_sotl.estimators._signal_choice import choose_signal
from optuna_sotl.estimators._signal_choice import DEFAULT_MIN_CALIBRATION_TRIALS
from optuna_sotl.estimators._signal_choice import prior_weight
from optuna_sotl.estimators._signal_choice import SignalChoice
from optuna_sotl.estimators._signal_choice import SOTL_E
from optuna_sotl.estimators._trial_rows import TrialRows


#: How the estimator reads a trial's validation metric at a step.
METRIC_VALUES = ("at-step", "best-so-far")


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
            (``benchmarks/results/calibration.md``). ``"metric"`` (Hyperband's default): the
            metric alone, as Optuna's pruners rank, until there is evidence; then the metric's
            weight is the share of bootstrap resamples in which it ranks the calibration trials
            better than the training loss. ``"even"``: the same, with ½ (the rank mean) before
            there is evidence. ``"metric-first"`` (successive halving's default): the metric
            alone until there is evidence and while it ranks better in at least half the
            resamples; then its weight is twice that share, so the loss gains weight only as
            the evidence turns against the metric.
        loss_estimator:
            The training-loss score blended with the metric; default ``SoTLE(1)``.
        metric_value:
            ``"at-step"`` (default): a trial's metric is its value at the step. ``"best-so-far"``:
            its best value up to the step, as Optuna's percentile pruners read the judged trial,
            so that a one-epoch dip neither prunes a trial nor weighs in the calibration (the
            estimator of ``SoTLPruner()``). The calibration target stays the value the trials
            turned out to have.
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
        metric_value: str = "at-step",
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
        self._metric_value = check_one_of("metric_value", metric_value, METRIC_VALUES)
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
    def metric_value(self) -> str:
        return self._metric_value

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
            curves = np.asarray(val_metric, dtype=np.float64)[:, :budget]
            lower_is_better = -curves if higher_is_better else curves
            metric = lower_is_better[:, -1]
            if self._metric_value == "best-so-far":
                metric = np.where(
                    np.isnan(metric), np.nan, np.fmin.reduce(lower_is_better, axis=1)
                )
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
        back to the training loss, since it cannot be ranked by the metric.
        """
        if not trials:
            return np.empty(0, dtype=np.float64)
        return self.score_rows(TrialRows.of(trials, step, self._loss_estimator), step, direction)

    def score_rows(self, rows: TrialRows, step: int, direction: StudyDirection) -> np.ndarray:
        """:meth:`score_trials` on the trials' rows (the pruners' index keeps finished ones).

        The first row is the trial being judged; the calibration (and so its bootstrap) takes
        the other rows in trial-number order, whatever order they come in, as a fresh read of
        the storage gives them. Scores come back in the rows' order.
        """
        if np.isnan(rows.metric).any():  # a trial the metric cannot rank: the training loss
            return rows.loss
        maximize = direction == StudyDirection.MAXIMIZE
        order = np.concatenate(([0], 1 + np.argsort(rows.numbers[1:], kind="stable")))
        weight = self._cached_choice(rows.take(order), step, maximize).metric_weight
        if weight == 0.0:
            return rows.loss
        metric = self._ranked_metric(rows, maximize)
        # Ranks do not depend on the rows' order, so the blend needs no reordering.
        return np.where(np.isinf(rows.loss), np.inf, blend_scores(rows.loss, metric, weight))

    def _cached_choice(self, rows: TrialRows, step: int, maximize: bool) -> SignalChoice:
        members, target_step = self._calibration_set(rows, step)
        calibration = rows.take(members)
        # What the choice is made of, but the target: a finished or later trial's target never
        # changes, and the losses and metrics keep one study's choice from another's.
        metric = self._ranked_metric(calibration, maximize)
        key = (maximize, target_step, calibration.numbers, calibration.loss, metric)
        cached = self._choices.get(step)
        if cached is not None and _same_key(cached[0], key):
            return cached[1]
        if len(calibration) < self._min_calibration_trials:
            choice = SignalChoice(self._no_evidence_weight, len(calibration))
        else:
            sign = -1.0 if maximize else 1.0
            if target_step is None:
                later = sign * calibration.value
            else:
                later = sign * calibration.metric_at(target_step)
            # score_rows has made sure every metric is there.
            choice = self.choose(calibration.loss, metric, later)
        self._choices[step] = (key, choice)
        return choice

    def _ranked_metric(self, rows: TrialRows, maximize: bool) -> np.ndarray:
        """The metric the trials are ranked by, lower-is-better (NaN: none at the step)."""
        if self._metric_value == "best-so-far":
            return -rows.best_high if maximize else rows.best_low
        return -rows.metric if maximize else rows.metric

    def _calibration_set(self, rows: TrialRows, step: int) -> tuple[np.ndarray, int | None]:
        """The calibration rows at ``step`` (a mask) and their target's step (``None``: the
        objective)."""
        completed = ~np.isnan(rows.value)
        needed = max(self._min_calibration_trials, 2 * int(np.count_nonzero(completed)))
        if len(rows) < needed:
            return completed, None
        # The needed-th latest step with a validation metric.
        target_step = int(np.partition(rows.last_metric_step, len(rows) - needed)[-needed])
        if target_step < 2 * step + 1:
            return completed, None
        return rows.last_metric_step >= target_step, target_step

    def __repr__(self) -> str:
        return (
            f"SelfCalibratingEstimator(min_calibration_trials={self._min_calibration_trials}, "
            f"prior={self._prior!r}, loss_estimator={self._loss_estimator!r}, "
            f"metric_value={self._metric_value!r})"
        )



def _same_key(first: tuple[object, ...], second: tuple[object, ...]) -> bool:
    return all(
        np.array_equal(a, cast(np.ndarray, b), equal_nan=True)
        if isinstance(a, np.ndarray)
        else a == b
        for a, b in zip(first, second)
    )
