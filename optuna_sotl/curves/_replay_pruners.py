"""Array pruners of the replay: the pruner classes' decision rules on score matrices.

SoTL pruners call the functions of :mod:`optuna_sotl.rules` that the classes call; Optuna's
pruners are mirrored from their code and fed the validation metric.
"""

from __future__ import annotations

import abc
from bisect import bisect_left
from bisect import insort
from collections.abc import Sequence
import math
from typing import Protocol
import zlib

import numpy as np

from optuna_sotl.curves._replay_data import COMPLETE
from optuna_sotl.curves._replay_data import ReplayData
from optuna_sotl.pruners._sparing import is_spared
from optuna_sotl.pruners._sparing import SpareShareCounter
from optuna_sotl.rules import asha_promoted
from optuna_sotl.rules import percentile_of_sorted
from optuna_sotl.rules import percentile_prunes


# ---------------------------------------------------------------------------------------------
# Array pruners. Protocol: begin(number, row) when a trial starts, step(t) -> prune? after it
# reports step t, end(state) when it stops (COMPLETE, PRUNED or FAIL).


class _ArrayPruner(Protocol):
    def begin(self, number: int, row: int) -> None: ...

    def step(self, t: int) -> bool: ...

    def end(self, state: int) -> None: ...


class _NoPruner:
    def begin(self, number: int, row: int) -> None:
        pass

    def step(self, t: int) -> bool:
        return False

    def end(self, state: int) -> None:
        pass


def _hyperband_brackets(min_resource: int, max_resource: int, eta: int, exact: bool) -> list[int]:
    """Each bracket's share of trials, as Optuna's and this package's Hyperband compute it."""
    if exact:
        n_brackets = 1
        while min_resource * eta**n_brackets <= max_resource:
            n_brackets += 1
    else:  # Optuna's float logarithm, reproduced as it is.
        n_brackets = math.floor(math.log(max_resource / min_resource, eta)) + 1
    return [
        math.ceil(n_brackets * eta**s / (s + 1))
        for s in (n_brackets - 1 - b for b in range(n_brackets))
    ]


def bracket_of(study_name: str, number: int, budgets: list[int]) -> int:
    ticket = zlib.crc32(f"{study_name}_{number}".encode()) % sum(budgets)
    for bracket, budget in enumerate(budgets):
        ticket -= budget
        if ticket < 0:
            return bracket
    raise AssertionError("unreachable")


class _ScoredRows(abc.ABC):
    """What this package's array pruners share: the deciding trial's scores by step, and per step
    the sorted scores of the trials that reported it (the real pruners' compared trials)."""

    def __init__(self, scores: np.ndarray, finite: np.ndarray) -> None:
        self._scores, self._finite = scores, finite
        self._members: list[list[float]] = [[] for _ in range(scores.shape[1])]

    def begin(self, number: int, row: int) -> None:
        self._row = self._scores[row].tolist()
        self._row_finite = self._finite[row].tolist()

    def step(self, t: int) -> bool:
        score = self._row[t]
        members = self._members[t]
        # A non-finite loss prunes at once, as in every real pruner.
        prune = not self._row_finite[t] or self._prunes(t, score, members)
        insort(members, score)
        return prune

    @abc.abstractmethod
    def _prunes(self, t: int, score: float, members: list[float]) -> bool:
        """The rule at step ``t`` for a finite loss, against the sorted ``members``."""


class _SoTLPercentile(_ScoredRows):
    """:class:`~optuna_sotl.SoTLPruner`: every other trial that reached the step is compared."""

    def __init__(
        self, scores: np.ndarray, finite: np.ndarray, percentile: float, n_startup: int,
        n_warmup: int, interval: int, n_min: int,
    ) -> None:
        super().__init__(scores, finite)
        self._percentile, self._n_startup = percentile, n_startup
        self._n_warmup, self._interval, self._n_min = n_warmup, interval, n_min
        self._n_complete = 0

    def _prunes(self, t: int, score: float, members: list[float]) -> bool:
        if (
            t >= self._n_warmup
            and (t - self._n_warmup) % self._interval == 0
            and self._n_complete >= self._n_startup
            and len(members) >= self._n_min
        ):
            return percentile_prunes(score, percentile_of_sorted(members, self._percentile))
        return False

    def end(self, state: int) -> None:
        self._n_complete += state == COMPLETE


class _SoTLHalving(_ScoredRows):
    """:class:`~optuna_sotl.SoTLSuccessiveHalvingPruner`, or a Hyperband bracket of it.

    Members of a rung: every trial (of the bracket) that reported the rung's step.
    """

    def __init__(
        self, scores: np.ndarray, finite: np.ndarray, min_resource: int | None, eta: int,
        rate: int, bootstrap: int,
    ) -> None:
        super().__init__(scores, finite)
        self._eta, self._rate, self._bootstrap = eta, rate, bootstrap
        self._n_epochs = scores.shape[1]
        self._is_rung: list[bool] = []
        self._min_resource: int | None = None
        if min_resource is not None:
            self._set_min_resource(min_resource)

    def _set_min_resource(self, min_resource: int) -> None:
        self._min_resource = min_resource
        self._is_rung = [False] * self._n_epochs
        rung_step = min_resource * self._eta**self._rate
        while rung_step < self._n_epochs:
            self._is_rung[rung_step] = True
            rung_step *= self._eta

    def _prunes(self, t: int, score: float, members: list[float]) -> bool:
        if self._min_resource is None or not self._is_rung[t]:
            return False
        if not math.isfinite(score):
            return True
        n_better = bisect_left(members, score)
        return not asha_promoted(n_better, len(members) + 1, self._eta, self._bootstrap)

    def end(self, state: int) -> None:
        if state == COMPLETE and self._min_resource is None:
            # "auto": Optuna's heuristic, one hundredth of the longest complete trial's last step.
            self._set_min_resource(max((self._n_epochs - 1) // 100, 1))


class _OptunaPercentile:
    """Optuna's :class:`~optuna.pruners.PercentilePruner` (MedianPruner at 50) on the val metric.

    Compares the best value the trial reported so far with the percentile of the COMPLETE
    trials' values at the step, with NumPy's interpolation reproduced exactly.
    """

    def __init__(
        self, data: ReplayData, percentile: float, n_startup: int, n_warmup: int,
        interval: int, n_min: int,
    ) -> None:
        self._data = data
        self._higher = data.higher
        self._q = (100.0 - percentile) if self._higher else percentile
        self._n_startup, self._n_warmup = max(n_startup, 1), n_warmup
        self._interval, self._n_min = interval, n_min
        self._complete: list[list[float]] = [[] for _ in range(data.n_epochs)]
        self._n_complete = 0

    def begin(self, number: int, row: int) -> None:
        self._rowi = row
        self._best = self._data.val_best[row].tolist()

    def step(self, t: int) -> bool:
        if self._n_complete < self._n_startup or t < self._n_warmup:
            return False
        if (t - self._n_warmup) % self._interval:
            return False
        best = self._best[t]
        if math.isnan(best):
            return True
        values = self._complete[t]
        if len(values) < self._n_min or not values:
            return False
        p = _numpy_percentile_sorted(values, self._q)
        return best < p if self._higher else best > p

    def end(self, state: int) -> None:
        if state == COMPLETE:
            self._n_complete += 1
            for t, value in enumerate(self._data.val[self._rowi].tolist()):
                if not math.isnan(value):
                    insort(self._complete[t], value)


def _numpy_percentile_sorted(values: list[float], percentile: float) -> float:
    # np.percentile(values, percentile), method "linear", on an ascending list, bit for bit.
    n = len(values)
    virtual = (n - 1) * (percentile / 100.0)
    previous = math.floor(virtual)
    gamma = virtual - previous
    if virtual >= n - 1:
        previous = following = n - 1
    else:
        following = previous + 1
    a, b = values[previous], values[following]
    diff = b - a
    if gamma >= 0.5:
        return b - diff * (1 - gamma)
    return a + diff * gamma


class _OptunaHalving:
    """Optuna's :class:`~optuna.pruners.SuccessiveHalvingPruner` on the val metric.

    A trial records its value at each rung it reaches (whatever happens next); its competitors
    are the values recorded at that rung by the trials of the study (or bracket).
    """

    def __init__(
        self, data: ReplayData, min_resource: int | None, eta: int, rate: int, bootstrap: int
    ) -> None:
        self._data = data
        self._higher = data.higher
        self._min_resource = min_resource
        self._eta, self._rate, self._bootstrap = eta, rate, bootstrap
        self._rungs: list[list[float]] = []
        self._n_complete = 0

    def begin(self, number: int, row: int) -> None:
        self._row = self._data.val[row].tolist()
        self._rung = 0

    def step(self, t: int) -> bool:
        if self._min_resource is None:
            if not self._n_complete:
                return False
            self._min_resource = max((self._data.n_epochs - 1) // 100, 1)
        value = self._row[t]
        while True:
            if t < self._min_resource * self._eta ** (self._rate + self._rung):
                return False
            if math.isnan(value):
                return True
            while len(self._rungs) <= self._rung:
                self._rungs.append([])
            competing = self._rungs[self._rung]
            insort(competing, value)
            # Recorded at this rung whatever follows, as Optuna's rung keys are: a trial that goes
            # on after a prune decision (a spared one) is judged next at the next rung.
            self._rung += 1
            n = len(competing)
            if n <= self._bootstrap:
                return True
            index = n // self._eta - 1
            if index == -1:
                index = 0
            if self._higher:
                promoted = value >= competing[-(index + 1)]
            else:
                promoted = value <= competing[index]
            if not promoted:
                return True

    def end(self, state: int) -> None:
        self._n_complete += state == COMPLETE


class _Sparing:
    """:class:`~optuna_sotl.SoTLPruner`'s ``spare_every`` or ``spare_share``: the pruner keeps
    its bookkeeping for a spared trial (it is compared with later ones as any other), but only a
    non-finite loss prunes it."""

    def __init__(
        self, pruner: _ArrayPruner, finite: np.ndarray, study_name: str, spare_every: int,
        spare_share: float = 0.0,
    ) -> None:
        self._pruner, self._finite = pruner, finite
        self._name, self._every = study_name, spare_every
        self._share = SpareShareCounter(spare_share) if spare_share else None

    @property
    def wrapped(self) -> _ArrayPruner:
        return self._pruner

    def begin(self, number: int, row: int) -> None:
        if self._share is not None:
            spared = self._share.begin()
        else:
            spared = is_spared(self._name, number, self._every)
        self._spared_row = self._finite[row] if spared else None
        self._n_reported = 0
        self._pruner.begin(number, row)

    def step(self, t: int) -> bool:
        self._n_reported += 1
        prune = self._pruner.step(t)
        return prune and (self._spared_row is None or not self._spared_row[t])

    def end(self, state: int) -> None:
        if self._share is not None:
            self._share.end(self._n_reported)
        self._pruner.end(state)


class _Brackets:
    """Hyperband: a trial's bracket is drawn from (study name, number); rungs per bracket."""

    def __init__(
        self, study_name: str, budgets: list[int], brackets: Sequence[_ArrayPruner]
    ) -> None:
        self._name, self._budgets, self._brackets = study_name, budgets, brackets

    def bracket_of(self, number: int) -> int:
        return bracket_of(self._name, number, self._budgets)

    def begin(self, number: int, row: int) -> None:
        self._current = self._brackets[self.bracket_of(number)]
        self._current.begin(number, row)

    def step(self, t: int) -> bool:
        return self._current.step(t)

    def end(self, state: int) -> None:
        self._current.end(state)


def spared_in_log(
    log: Sequence[tuple[int, int, int]], study_name: str, spare_every: int, spare_share: float
) -> list[bool]:
    """Which trials of a replayed study's log ``(row, state, last step)`` were spared, by the
    real pruners' own rules (rows below 0 were not in the file and never reported)."""
    counter = SpareShareCounter(spare_share)
    spared = []
    for number, (row, _, last) in enumerate(log):
        if row < 0 or not (spare_every or spare_share):
            spared.append(False)
        elif spare_every:
            spared.append(is_spared(study_name, number, spare_every))
        else:
            spared.append(counter.begin())
            counter.end(last + 1)
    return spared
