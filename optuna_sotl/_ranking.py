"""The SoTL ranking of a study's trials, in one place for the report, the note and the figures.

:func:`rank_study` scores every trial that reached one step with a training-loss estimator,
measures how well that order agrees with the final values of the completed trials, and counts
the epochs pruning saved. It reads storage and returns plain data; the terminal report, the
optuna-dashboard note and both figures only format a :class:`Ranking`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import math
import warnings

import numpy as np
import optuna
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_sotl._trial_curves import score_at_step
from optuna_sotl._validation import check_count
from optuna_sotl.estimators import BaseEstimator
from optuna_sotl.estimators import SoTLE


# Fewer points than this give a rank correlation of +-1 or nothing: no evidence either way.
MIN_CORRELATED = 3
# Trials whose epochs count as spent: a running trial is not done, a failed one stopped on an error
# that training it to the end would have hit as well.
_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


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
    """
    if estimator is None:
        estimator = SoTLE(1)
    if not isinstance(estimator, BaseEstimator) or estimator.curve != "train_loss":
        raise TypeError(
            "estimator must be an optuna_sotl training-loss estimator such as SoTLE(1), "
            f"got {estimator!r}."
        )
    trials = study.get_trials(deepcopy=False)
    reporting = [trial for trial in trials if trial.intermediate_values]
    if step is None:
        step, reason = _default_step(reporting)
    else:
        step = check_count("step", step)
        furthest = max((t.last_step for t in reporting), default=None)
        if not any(step in trial.intermediate_values for trial in reporting):
            raise ValueError(
                f"step={step}: no trial of study {study.study_name!r} reported it "
                f"(the furthest step reported is {furthest})."
            )
        reason = "the step asked for"

    direction = None if study._is_multi_objective() else study.direction.name.lower()
    rows = _rows(trials, step, estimator, single_objective=direction is not None)
    n_correlated, spearman, kendall = _agreement(rows, direction)
    finished = [trial for trial in trials if trial.state in _FINISHED]
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


def step_sentence(ranking: Ranking) -> str:
    if ranking.step is None:
        return f"Nothing to rank: {ranking.step_reason}."
    return (
        f"Trials ranked by {ranking.estimator_name} of the training loss at step {ranking.step} "
        f"(epoch {ranking.step + 1}), lower is better; step {ranking.step} is "
        f"{ranking.step_reason}."
    )


def agreement_sentence(ranking: Ranking) -> str:
    n = ranking.n_correlated
    if ranking.direction is None:
        return "No agreement measured: a multi-objective study has no single value to compare."
    if n < MIN_CORRELATED:
        return (
            f"No agreement measured yet: it needs at least {MIN_CORRELATED} complete trials that "
            f"reached step {ranking.step}, there are {n}."
        )
    if ranking.spearman is None or ranking.kendall is None:
        return f"No agreement measured: the {n} complete trials' scores or values are all equal."
    better = "lower" if ranking.direction == "minimize" else "higher"
    return (
        f"Agreement with the final values of the {n} complete trials that reached step "
        f"{ranking.step}: Spearman {ranking.spearman:+.2f}, Kendall {ranking.kendall:+.2f} "
        f"(+1: a lower score always meant a {better} value, 0: unrelated, -1: reversed; "
        f"the study {ranking.direction}s)."
    )


def savings_sentence(ranking: Ranking) -> str:
    if ranking.n_finished == 0:
        return "No trial has finished yet: no epochs counted."
    return (
        f"Pruning: the {ranking.n_finished} complete and pruned trials trained "
        f"{ranking.epochs_trained} epochs; training each to the end ({ranking.full_epochs} "
        f"epochs) would take {ranking.epochs_full}: {ranking.epochs_saved} epochs saved "
        f"({ranking.saved_fraction:.0%})."
    )


def format_number(value: float | None) -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"
