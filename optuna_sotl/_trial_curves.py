"""Learning curves read out of Optuna trials: the bridge from storage to the estimators."""

from __future__ import annotations

from collections.abc import Sequence
import math

import numpy as np
import optuna

from optuna_sotl.estimators import BaseEstimator


def loss_window(
    trials: Sequence[optuna.trial.FrozenTrial], step: int, window: int | None
) -> np.ndarray:
    """The training losses of ``trials`` at steps ``step - window + 1 .. step`` as an ``(N, W)`` matrix.

    ``window=None`` reads every step from 0. A step a trial did not report is NaN (a missing epoch
    to the estimators); a non-finite reported loss becomes ``+inf`` so that it ranks worst.
    Only ``window`` steps per trial are touched, so SoTL-E costs O(N) per call however long the
    curves are.
    """
    first = 0 if window is None else max(0, step - window + 1)
    steps = range(first, step + 1)
    # Column by column: the pruners call this on every report for every trial of the study, and
    # a short comprehension per step is the cheapest way through Python's dicts.
    missing = math.nan  # a local: looked up once, not once per trial
    columns = [[trial.intermediate_values.get(s, missing) for trial in trials] for s in steps]
    matrix = np.array(columns, dtype=np.float64).reshape(len(steps), len(trials)).T
    return np.where(np.isinf(matrix), np.inf, matrix)


def score_at_step(
    estimator: BaseEstimator, trials: Sequence[optuna.trial.FrozenTrial], step: int
) -> np.ndarray:
    """Each trial's lower-is-better score at ``step``; ``+inf`` for a non-finite loss at the step.

    Every trial must have reported ``step``.
    """
    if not trials:
        return np.empty(0, dtype=np.float64)
    matrix = loss_window(trials, step, estimator.window)
    # Every trial reported ``step``, so a NaN in the last column is a reported NaN, not a gap.
    reported_finite = np.isfinite(matrix[:, -1])
    scores = np.asarray(estimator(matrix), dtype=np.float64)
    return np.where(reported_finite & ~np.isnan(scores), scores, np.inf)


def scores_of_trials(
    estimator: object,
    trials: Sequence[optuna.trial.FrozenTrial],
    step: int,
    direction: optuna.study.StudyDirection,
) -> np.ndarray:
    """Lower-is-better scores of ``trials`` at ``step`` with any estimator the pruners accept.

    An estimator that calibrates itself on the trials (it has ``score_trials``, like
    :class:`~optuna_sotl.SelfCalibratingEstimator`) scores them all at once, since its choice
    depends on the whole set; a curve estimator scores each trial's own curve.
    """
    score_trials = getattr(estimator, "score_trials", None)
    if score_trials is not None:
        return np.asarray(score_trials(trials, step, direction), dtype=np.float64)
    assert isinstance(estimator, BaseEstimator)
    return score_at_step(estimator, trials, step)
