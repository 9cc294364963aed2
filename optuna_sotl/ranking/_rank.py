"""The ranking itself: :func:`rank_study` reads a study and returns a :class:`Ranking`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import math
import warnings

import numpy as np
import optuna
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_sotl._checks import check_count
from optuna_sotl._checks import check_loss_estimator
from optuna_sotl._scoring import FINISHED_STATES
from optuna_sotl._scoring import score_at_step
from optuna_sotl.estimators import BaseEstimator


# Fewer points than this give a rank correlation of +-1 or nothing: no evidence either way.
MIN_CORRELATED = 3


@dataclass(frozen=True)
class RankedTrial:
    """One trial of the ranking.

    Attributes:
        number: The trial number.
        state: The state's name, e.g. ``"COMPLETE"`` or ``"PRUNED"``.
        epochs: How many steps (epochs) the trial reported.
        score: The lower-is-better score at the ranking step, ``inf`` for a non-finite loss there,
            None when the trial did not report that step.
        value: The objective value of a complete single-objective trial, else None.
        rank: 1 for the best score; None for a trial without a score.
    """

    number: int
    state: str
    epochs: int
    score: float | None
    value: float | None
    rank: int | None


@dataclass(frozen=True)
class Ranking:
    """A study's trials ranked by a training-loss score at one step.

    Attributes:
        study_name: The study's name.
        direction: ``"minimize"`` or ``"maximize"``; None for a multi-objective study.
        estimator_name: The estimator's label, e.g. ``"SoTL-E(E=1)"``.
        step: The step the trials are scored at (epoch ``step + 1``); None when no trial reported.
        step_reason: Why this step: the user's choice or how it was picked.
        rows: Ranked trials first (best first), then trials short of the step, furthest first.
        n_correlated: Complete trials with a score and a finite value: the correlation's points.
        spearman: Spearman's rho between the ranking and those values, oriented so that 1 means
            the same order and -1 the reverse; None with fewer than three points or no spread.
        kendall: Kendall's tau, oriented the same way.
        n_finished: Complete and pruned trials, whose epochs are counted.
        full_epochs: The epochs of the longest finished trial: training one trial to the end.
        epochs_trained: The epochs the finished trials reported, together.
    """

    study_name: str
    direction: str | None
    estimator_name: str
    step: int | None
    step_reason: str
    rows: tuple[RankedTrial, ...]
    n_correlated: int
    spearman: float | None
    kendall: float | None
    n_finished: int
    full_epochs: int
    epochs_trained: int

    @property
    def epochs_full(self) -> int:
        """The epochs of training every finished trial to the end."""
        return self.n_finished * self.full_epochs

    @property
    def epochs_saved(self) -> int:
        return self.epochs_full - self.epochs_trained

    @property
    def saved_fraction(self) -> float:
        return self.epochs_saved / self.epochs_full if self.epochs_full else 0.0

    @property
    def ranked(self) -> tuple[RankedTrial, ...]:
        return tuple(row for row in self.rows if row.rank is not None)


def rank_study(
    study: optuna.Study, *, step: int | None = None, estimator: BaseEstimator | None = None
) -> Ranking:
    """Rank the trials of ``study`` by ``estimator`` (default ``SoTLE(1)``) at ``step``.

    ``step=None`` picks the last step that at least half of the trials with a reported loss
    reached: later steps say more about each trial but rank fewer of them.

    Raises:
        ValueError: when ``step`` is negative or no trial reported it.
        TypeError: when ``step`` is not an int or ``estimator`` not an optuna_sotl estimator.
        EstimatorCurveError: when ``estimator`` reads another curve than the training loss.
    """
    estimator = check_loss_estimator(estimator)
    trials = study.get_trials(deepcopy=False)
    reporting = [trial for trial in trials if trial.intermediate_values]
    if step is None:
        step, reason = _default_step(reporting)
    else:
        step = check_count("step", step)
        furthest = max((s for t in reporting for s in t.intermediate_values), default=None)
        if not any(step in trial.intermediate_values for trial in reporting):
            raise ValueError(
                f"step={step}: no trial of study {study.study_name!r} reported it "
                f"(the furthest step reported is {furthest})."
            )
        reason = "the step asked for"

    direction = None if study._is_multi_objective() else study.direction.name.lower()
    rows = _rows(trials, step, estimator, single_objective=direction is not None)
    n_correlated, spearman, kendall = _agreement(rows, direction)
    # A running trial's epochs are not spent yet; a failed one stopped on an error that training
    # it to the end would have hit as well.
    finished = [trial for trial in trials if trial.state in FINISHED_STATES]
    return Ranking(
        study_name=study.study_name,
        direction=direction,
        estimator_name=estimator.name,
        step=step,
        step_reason=reason,
        rows=rows,
        n_correlated=n_correlated,
        spearman=spearman,
        kendall=kendall,
        n_finished=len(finished),
        full_epochs=max((len(t.intermediate_values) for t in finished), default=0),
        epochs_trained=sum(len(t.intermediate_values) for t in finished),
    )


def _default_step(reporting: Sequence[FrozenTrial]) -> tuple[int | None, str]:
    if not reporting:
        return None, "no trial has reported a training loss yet"
    counts: dict[int, int] = {}
    for trial in reporting:
        for s in trial.intermediate_values:
            counts[s] = counts.get(s, 0) + 1
    needed = math.ceil(len(reporting) / 2)
    step = max(s for s, count in counts.items() if count >= needed)
    return step, (
        f"the last step at least half of the {len(reporting)} trials with a reported loss "
        f"reached ({counts[step]} did); later steps say more per trial but rank fewer trials"
    )


def _rows(
    trials: Sequence[FrozenTrial],
    step: int | None,
    estimator: BaseEstimator,
    single_objective: bool,
) -> tuple[RankedTrial, ...]:
    reached = [t for t in trials if step is not None and step in t.intermediate_values]
    scores = dict(zip((t.number for t in reached), score_at_step(estimator, reached, step or 0)))
    order = sorted(reached, key=lambda t: (scores[t.number], t.number))
    rank_of = {trial.number: rank for rank, trial in enumerate(order, start=1)}
    short = sorted(
        (t for t in trials if t.number not in scores),
        key=lambda t: (-len(t.intermediate_values), t.number),
    )
    rows = []
    for trial in [*order, *short]:
        value = None
        if single_objective and trial.state == TrialState.COMPLETE and trial.value is not None:
            value = float(trial.value)
        score = scores.get(trial.number)
        rows.append(
            RankedTrial(
                number=trial.number,
                state=trial.state.name,
                epochs=len(trial.intermediate_values),
                score=None if score is None else float(score),
                value=value,
                rank=rank_of.get(trial.number),
            )
        )
    return tuple(rows)


def _agreement(
    rows: Sequence[RankedTrial], direction: str | None
) -> tuple[int, float | None, float | None]:
    points = [
        (row.score, row.value)
        for row in rows
        if row.rank is not None and row.value is not None and math.isfinite(row.value)
    ]
    if direction is None or len(points) < MIN_CORRELATED:
        return len(points), None, None
    from scipy import stats

    scores, values = np.array(points, dtype=np.float64).T
    # Scores are lower-is-better; in a maximised study a good trial has a low score and a high
    # value, so the score is negated to make +1 mean "the same order" in both directions.
    oriented = scores if direction == "minimize" else -scores
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input: NaN, reported as None below
        rho = stats.spearmanr(oriented, values).statistic
        tau = stats.kendalltau(oriented, values).statistic
    return len(points), _finite_or_none(rho), _finite_or_none(tau)


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
