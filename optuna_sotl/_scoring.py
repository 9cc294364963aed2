"""The one scoring path: a trial's stored loss curve -> an estimator's score at a step.

Every pruner, the sampler's study view, the regularized-evolution fitness, the ranking and
:class:`~optuna_sotl.SelfCalibratingEstimator` score trials through :func:`score_at_step` (or
:func:`scores_of_trials`, which also accepts the self-calibrating estimator), so a trial gets the
same score wherever it is ranked. The named trial-state tuples say which trials each reader takes.
"""

from __future__ import annotations

from collections.abc import Sequence
import math
from typing import TYPE_CHECKING

import numpy as np
import optuna
from optuna.trial import FrozenTrial
from optuna.trial import TrialState


if TYPE_CHECKING:
    from optuna_sotl.estimators import BaseEstimator


#: Trials whose losses are compared with a trial's at a step. FAIL and WAITING trials are left
#: out: a failed trial's curve may stop on an infrastructure error rather than on its loss.
COMPARED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
#: Trials that trained to their end (their epochs are spent) and form an evolution population.
FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
#: Trials that will not report again, whether they finished or failed.
ENDED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
#: Trials without a final objective value, whose intermediate values stand for it.
UNFINISHED_STATES = (TrialState.PRUNED, TrialState.RUNNING)


def loss_window(trials: Sequence[FrozenTrial], step: int, window: int | None) -> np.ndarray:
    """The training losses of ``trials`` at steps ``step - window + 1 .. step``, ``(N, W)``.

    ``window=None`` reads every step from 0 (a negative step, which only a hand-made trial can
    have, is read alone). A step a trial did not report is NaN (a missing epoch to the
    estimators); a non-finite reported loss becomes ``+inf`` so that it ranks worst. Only
    ``window`` steps per trial are touched, so SoTL-E costs O(N) per call however long the
    curves are.
    """
    first = 0 if window is None else max(0, step - window + 1)
    steps = range(min(first, step), step + 1)
    # Column by column: the pruners call this on every report for every trial of the study, and
    # a short comprehension per step is the cheapest way through Python's dicts.
    missing = math.nan  # a local: looked up once, not once per trial
    columns = [[trial.intermediate_values.get(s, missing) for trial in trials] for s in steps]
    matrix = np.array(columns, dtype=np.float64).reshape(len(steps), len(trials)).T
    # Row-major, so each row is summed alike whatever rows come with it: a trial's score is then
    # the same bit for bit scored alone or in any batch (the pruners' index scores in batches).
    return np.ascontiguousarray(np.where(np.isinf(matrix), np.inf, matrix))


def score_at_step(
    estimator: BaseEstimator, trials: Sequence[FrozenTrial], step: int
) -> np.ndarray:
    """Each trial's lower-is-better score at ``step``; ``+inf`` for a non-finite loss at the step.

    Every trial must have reported ``step``.
    """
    if not trials:
        return np.empty(0, dtype=np.float64)
    return _score_last_column(estimator, loss_window(trials, step, estimator.window))


def scores_by_step(estimator: BaseEstimator, trial: FrozenTrial) -> dict[int, float]:
    """The trial's :func:`score_at_step` at each step it reported, from one read of its curve."""
    values = trial.intermediate_values
    curve = loss_window([trial], max(values), None)
    return {
        # A prefix of the curve scores as its window would: estimators read their own window.
        step: float(_score_last_column(estimator, curve[:, : step + 1])[0])
        if step >= 0
        else float(score_at_step(estimator, [trial], step)[0])  # only hand-made trials
        for step in values
    }


def _score_last_column(estimator: BaseEstimator, matrix: np.ndarray) -> np.ndarray:
    # Every trial reported the last column's step, so a NaN there is a reported NaN, not a gap.
    reported_finite = np.isfinite(matrix[:, -1])
    scores = np.asarray(estimator(matrix), dtype=np.float64)
    return np.where(reported_finite & ~np.isnan(scores), scores, np.inf)


def scores_of_trials(
    estimator: object,
    trials: Sequence[FrozenTrial],
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
    return score_at_step(estimator, trials, step)  # type: ignore[arg-type]
