"""The pruners' index of finished trials' scores, so a call scores only what is new.

A COMPLETE or PRUNED trial never changes again, so its score at a step, once computed, is valid
for the rest of the study. :class:`ScoreIndex` keeps, per (storage, study), the finished trials
it has seen and, per step a pruner asked about, their scores there. Each call reads the study's
trials once (one storage read, as before), looks only at trials that are new since the last call
or were unfinished then, scores only the finished trials not yet scored at the step, and scores
the RUNNING ones afresh (their state can still change, and a FAIL drops out). Scores come from
:mod:`optuna_sotl._scoring`, the one scoring path; this module only remembers them.

The index holds nothing a storage does not: every worker's own index, warm or fresh, gives the
decision the storage's trials give, so workers never disagree because of it. It is per process:
pickling (workers are spawned with the pruner) or copying a pruner gives an empty index.

A self-calibrating estimator (one with ``score_rows``) scores a trial against the whole set and
calibrates on part of it, so for it the index keeps each finished trial's row of what the
estimator reads (:class:`~optuna_sotl.estimators._trial_rows.TrialRows`); the estimator
calibrates on them in trial-number order, as a fresh read of the storage would give them.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import threading
from typing import Any
from typing import cast
from typing import TYPE_CHECKING
import weakref

import numpy as np
import optuna
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_sotl._scoring import FINISHED_STATES
from optuna_sotl._scoring import score_at_step
from optuna_sotl.estimators._trial_rows import TrialRows


if TYPE_CHECKING:
    from optuna_sotl.estimators import BaseEstimator
    from optuna_sotl.estimators import SelfCalibratingEstimator


# Trials that may still join the comparison: re-read on every call until they finish.
_UNSETTLED_STATES = (TrialState.RUNNING, TrialState.WAITING)


class _Step:
    """The finished trials that reached one step, in the order the index found them."""

    __slots__ = ("n_seen", "numbers", "rows", "scores", "trials")

    def __init__(self) -> None:
        self.n_seen = 0  # how many of the study's finished trials were looked at for this step
        self.trials: list[FrozenTrial] = []
        self.numbers = np.empty(0, dtype=np.int64)
        self.scores = np.empty(0, dtype=np.float64)  # empty when the estimator calibrates
        self.rows: TrialRows | None = None  # only when it calibrates


class _Study:
    """What the index knows of one study: finished trials, and trials to look at again."""

    __slots__ = ("finished", "finished_numbers", "n_complete", "n_read", "steps", "unsettled")

    def __init__(self) -> None:
        self.n_read = 0  # trials numbered below this were read at least once
        self.unsettled: list[int] = []  # RUNNING or WAITING when last read
        self.finished: list[FrozenTrial] = []
        self.finished_numbers: set[int] = set()
        self.n_complete = 0
        self.steps: dict[int, _Step] = {}

    def update(self, trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
        """Take in what changed since the last read; return the trials still RUNNING or WAITING.

        ``trials`` is the whole study; when it is numbered 0 .. n - 1 in order, as every Optuna
        storage returns it, only new and unsettled trials are looked at.
        """
        by_number: Sequence[FrozenTrial | None] = trials
        if trials and trials[-1].number != len(trials) - 1:
            by_number = _by_number(trials)
        unsettled = []
        for number in [*self.unsettled, *range(self.n_read, len(by_number))]:
            trial = by_number[number]
            if trial is None:
                continue
            if trial.state in _UNSETTLED_STATES:
                unsettled.append(trial)
            elif trial.state in FINISHED_STATES:
                self.finished.append(trial)
                self.finished_numbers.add(number)
                self.n_complete += trial.state == TrialState.COMPLETE
            # A FAIL trial is left out for good: it never reports again.
        self.n_read = len(by_number)
        self.unsettled = [trial.number for trial in unsettled]
        return unsettled

    def at_step(self, step: int, estimator: Any) -> _Step:
        """The step's entry, brought up to date with the finished trials found since."""
        entry = self.steps.setdefault(step, _Step())
        new = [t for t in self.finished[entry.n_seen :] if step in t.intermediate_values]
        entry.n_seen = len(self.finished)
        if new:
            entry.trials.extend(new)
            numbers = np.fromiter((t.number for t in new), dtype=np.int64, count=len(new))
            entry.numbers = np.concatenate([entry.numbers, numbers])
            if _calibrates(estimator):
                rows = TrialRows.of(new, step, estimator.loss_estimator)
                entry.rows = rows if entry.rows is None else TrialRows.concat([entry.rows, rows])
            else:
                entry.scores = np.concatenate([entry.scores, score_at_step(estimator, new, step)])
        return entry


def read_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Every trial of the study, straight from the storage: ``study`` may be a view that filters
    trials (a Hyperband bracket)."""
    return study._storage.get_all_trials(study._study_id, deepcopy=False, states=None)


class ScoreIndex:
    """Scores at a step of the trials a pruner compares: COMPLETE, PRUNED and RUNNING ones.

    One per pruner; thread-safe (``study.optimize(n_jobs=...)`` shares the pruner). Example:

        .. code-block:: python

            index = ScoreIndex(SoTLE(1))
            compared = index.scores_at(study, trial, step=9)
            if compared is not None:
                own_score, other_scores = compared
    """

    def __init__(self, estimator: BaseEstimator | SelfCalibratingEstimator) -> None:
        self._reset(estimator)

    def _reset(self, estimator: BaseEstimator | SelfCalibratingEstimator) -> None:
        self._estimator = estimator
        # A storage's studies live and die with it; the study id is fixed for the storage.
        self._studies: weakref.WeakKeyDictionary[Any, dict[int, _Study]] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def scores_at(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        step: int,
        *,
        min_complete: int = 0,
        keep: Callable[[FrozenTrial], bool] | None = None,
        trials: Sequence[FrozenTrial] | None = None,
    ) -> tuple[float, np.ndarray] | None:
        """``trial``'s score and the other compared trials' scores at ``step`` (lower is better).

        The others are every COMPLETE, PRUNED or RUNNING trial of the study but ``trial`` that
        reported ``step`` (and passes ``keep``, Hyperband's bracket); ``trial`` must have
        reported it. None while fewer than ``min_complete`` trials of the study are COMPLETE.
        ``trials``: the study's trials as :func:`read_trials` gave them in this call, if read.
        """
        if trials is None:
            trials = read_trials(study)
        with self._lock:
            known = self._study_of(study, trials)
            running = [
                t
                for t in known.update(trials)
                if t.state == TrialState.RUNNING
                and t.number != trial.number
                and step in t.intermediate_values
                and (keep is None or keep(t))
            ]
            if known.n_complete < min_complete:
                return None
            entry = known.at_step(step, self._estimator)
            chosen = None
            if keep is not None:
                chosen = np.fromiter((keep(t) for t in entry.trials), bool, len(entry.trials))
            if trial.number in known.finished_numbers:  # only a hand-made call judges one
                mine = entry.numbers != trial.number
                chosen = mine if chosen is None else chosen & mine
            if not _calibrates(self._estimator):
                finished = entry.scores if chosen is None else entry.scores[chosen]
                # It does not calibrate: a curve estimator (a BaseEstimator).
                curve_estimator = cast("BaseEstimator", self._estimator)
                scores = score_at_step(curve_estimator, [trial, *running], step)
                return float(scores[0]), np.concatenate([finished, scores[1:]])
            finished_rows = entry.rows
        estimator = cast("SelfCalibratingEstimator", self._estimator)
        rows = TrialRows.of([trial, *running], step, estimator.loss_estimator)
        if finished_rows is not None:
            if chosen is not None:
                finished_rows = finished_rows.take(chosen)
            rows = TrialRows.concat([rows, finished_rows])
        scores = estimator.score_rows(rows, step, study.direction)
        return float(scores[0]), scores[1:]

    def _study_of(self, study: optuna.Study, trials: Sequence[FrozenTrial]) -> _Study:
        dense = not trials or (trials[0].number == 0 and trials[-1].number == len(trials) - 1)
        if not dense:  # not what Optuna's storages return: answer from scratch, keep nothing
            return _Study()
        try:
            studies = self._studies.setdefault(study._storage, {})
        except TypeError:  # a storage that cannot be weakly referenced: keep nothing
            return _Study()
        known = studies.get(study._study_id)
        if known is None or len(trials) < known.n_read:  # new, or a study that lost trials
            known = studies[study._study_id] = _Study()
        return known

    def __getstate__(self) -> dict[str, object]:
        return {"estimator": self._estimator}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._reset(state["estimator"])

    def __repr__(self) -> str:
        return f"ScoreIndex(estimator={self._estimator!r})"


def _calibrates(estimator: object) -> bool:
    return hasattr(estimator, "score_rows")


def _by_number(trials: Sequence[FrozenTrial]) -> list[FrozenTrial | None]:
    slots: list[FrozenTrial | None] = [None] * (max(t.number for t in trials) + 1)
    for trial in trials:
        slots[trial.number] = trial
    return slots
