"""The fast replay's :class:`~optuna_sotl.SelfCalibratingEstimator`: its choice, on arrays.

The real estimator scores the trials a pruner compares at step ``t`` (the deciding trial first,
then every COMPLETE or PRUNED trial that reported ``t``, by number) with a signal it chooses on
*calibration trials* read out of storage. In a sequential replayed study the storage at a
decision holds exactly: the finished trials so far, each with its losses up to its last step, its
validation-metric curve up to that step and, when complete, its objective (the final validation
metric). This module keeps those facts as lists and answers with the estimator's own pure
functions, :func:`~optuna_sotl.estimators._signal_choice.choose_signal` and
:func:`~optuna_sotl.estimators._signal_choice.blend_ranks`, on the same numbers in the same
order, so the choice and the scores are the real ones bit for bit (``tests/unit/curves/
test_replay.py`` checks every decision against real studies).

With ``metric_value="best-so-far"`` the metric a trial is ranked by at ``t`` is its curve's best
up to ``t`` (``_Tables.ranked``, NaN where ``t`` has none), as ``TrialRows`` gives it; the
calibration targets stay the metric itself.

The calibration set follows ``SelfCalibratingEstimator._calibration_set``: with ``C`` completed
trials, ``needed = max(min_calibration_trials, 2C)``; the target step is the ``needed``-th
largest *last step with a validation metric* among the compared trials; when it is at least
``2t + 1`` the calibration trials are those whose metric reaches it (judged by the metric there),
else the completed trials (judged by their objective). A trial whose metric reaches ``2t + 1``
reported ``t``, so the ``needed``-th largest over every finished trial gives the same target,
and the deciding trial (its metric stops at ``t`` at most) is never among them.

The bootstrap choice is most of the cost (a few ms each; the real estimator pays it too), so
three savings keep a run to a few seconds. Average ranks at a step are kept as trials arrive
(one vector update each, reused from the trial's own decision) instead of ranking the whole step
per decision. And the choice is skipped when the decision is the same under every weight it can
return: SoTL-E (0), the metric (1) and any rank blend (weights in ``(0, 1)``). A blend's sign
of ``score_other - score_own`` is the same for all those weights when the two rank differences
(multiples of 1/2) do not have opposite signs; the blend's size is then at least a multiple of
1/2 times a weight, far above rounding for the weights the bootstrap gives (multiples of
1/2000), so the bound holds for the floating-point scores too.
"""

from __future__ import annotations

import abc
from bisect import bisect_left
from bisect import insort
import weakref

import numpy as np

from optuna_sotl.curves._replay_data import COMPLETE
from optuna_sotl.curves._replay_data import PRUNED
from optuna_sotl.curves._replay_data import ReplayData
from optuna_sotl.curves._replay_pruners import _SoTLHalving
from optuna_sotl.curves._replay_pruners import _SoTLPercentile
from optuna_sotl.estimators._signal_choice import blend_ranks
from optuna_sotl.estimators._signal_choice import choose_signal
from optuna_sotl.estimators._signal_choice import prior_weight
from optuna_sotl.pruners._successive_halving import is_promoted
from optuna_sotl.rules import asha_promoted
from optuna_sotl.rules import percentile_bounds
from optuna_sotl.rules import percentile_of_sorted
from optuna_sotl.rules import percentile_prunes
from optuna_sotl.rules import PercentileRule


class _Tables:
    """What never changes in a study: per-architecture arrays the estimator reads."""

    def __init__(self, data: ReplayData, loss: str, metric_value: str) -> None:
        # The estimator's training-loss score (``loss_estimator``, SoTL-E by default), scored as
        # every curve estimator is; called ``sotl_e`` here as in the estimator.
        self.sotl_e = data.scores(loss)
        # Stored metric curves, lower-is-better as the estimator negates them for "maximize".
        self.metric = -data.val if data.higher else data.val
        self.metric_nan = np.isnan(self.metric)
        # The objective of a completed trial (its final validation metric), lower-is-better.
        self.objective = self.metric[:, -1].copy()
        # What the estimator ranks by: the metric at the step or its best up to it, NaN where
        # the step has none (its ``metric_value``); targets stay the metric itself.
        self.ranked = self.metric
        if metric_value == "best-so-far":
            self.ranked = np.where(
                self.metric_nan, np.nan, np.fmin.accumulate(self.metric, axis=1)
            )
        # last_val[r, s]: the last step <= s with a finite metric (-1: none), i.e. the
        # estimator's ``_last_reported`` of the curve a trial stopped at step s has stored.
        steps = np.arange(data.n_epochs)
        last = np.where(self.metric_nan, -1, steps[None, :])
        self.last_val = np.maximum.accumulate(last, axis=1)


_TABLES: weakref.WeakKeyDictionary[ReplayData, dict[tuple[str, str], _Tables]] = (
    weakref.WeakKeyDictionary()
)


def _tables(data: ReplayData, loss: str, metric_value: str) -> _Tables:
    by_variant = _TABLES.setdefault(data, {})
    tables = by_variant.get((loss, metric_value))
    if tables is None:
        tables = by_variant[loss, metric_value] = _Tables(data, loss, metric_value)
    return tables


class _Ranked:
    """The trials that reported one step: SoTL-E, metric and their average ranks (from 1)."""

    def __init__(self) -> None:
        self.n = 0
        self.values = np.empty((2, 64))  # SoTL-E, metric
        self.ranks = np.empty((2, 64))
        self.pending: list[tuple[float, float]] = []
        # The last joined() answer: a decision's trial then joins the step with the same ranks.
        self._joined: tuple[tuple[int, tuple[float, float]], np.ndarray, np.ndarray] | None = None

    def update(self) -> None:
        for pair in self.pending:
            others, own = self.joined(pair)
            n = self.n
            if n == self.values.shape[1]:
                self.values = np.concatenate([self.values, np.empty_like(self.values)], axis=1)
                self.ranks = np.concatenate([self.ranks, np.empty_like(self.ranks)], axis=1)
            self.ranks[:, :n] = others
            self.ranks[:, n] = own
            self.values[:, n] = pair
            self.n = n + 1
        self.pending.clear()

    def joined(self, pair: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
        """The trials' average ranks ``(2, n)`` once ``pair`` joins them, and ``pair``'s."""
        key = (self.n, pair)
        if self._joined is not None and self._joined[0] == key:
            return self._joined[1], self._joined[2]
        # No NaN here: once a trial without the metric reported a step, the step is never ranked
        # again (the estimator keeps SoTL-E there), so "below" is what is neither above nor tied.
        values = self.values[:, : self.n]
        new = np.array(pair)[:, None]
        greater, equal = values > new, values == new
        n_greater = np.count_nonzero(greater, axis=1)
        n_equal = np.count_nonzero(equal, axis=1)
        own = (self.n - n_greater - n_equal) + (n_equal + 2) / 2.0
        others = self.ranks[:, : self.n] + greater + 0.5 * equal
        self._joined = (key, others, own)
        return others, own


class _StudyCalibration:
    """One replayed study's view of what the real estimator would read from its storage."""

    def __init__(
        self, data: ReplayData, min_trials: int, prior: str, loss: str, metric_value: str
    ) -> None:
        self._t = _tables(data, loss, metric_value)
        self._min_trials = min_trials
        self._prior = prior
        self._no_evidence_weight = prior_weight(prior)
        n_epochs = data.n_epochs
        # Finished trials (COMPLETE or PRUNED after reporting a step), by number.
        self._finished_rows: list[int] = []
        self._finished_last: list[int] = []  # last step with a metric
        self._last_sorted: list[int] = []  # the same, ascending
        self._complete_rows: list[int] = []
        # Per step: the trials that reported it (by number) and how many lack the metric there.
        self._steps = [_Ranked() for _ in range(n_epochs)]
        self._n_nan = [0] * n_epochs
        # (step, target step or -1, members) -> the metric weight chosen.
        self._weights: dict[tuple[int, int, int], float] = {}

    def begin(self, row: int) -> None:
        self._row, self._last = row, -1
        self._row_sotl_e = self._t.sotl_e[row].tolist()
        self._row_metric = self._t.ranked[row].tolist()
        self._row_nan = self._t.metric_nan[row].tolist()

    def reached(self, t: int) -> None:
        """The current trial reported step ``t`` (after any decision at ``t``)."""
        self._steps[t].pending.append((self._row_sotl_e[t], self._row_metric[t]))
        self._n_nan[t] += self._row_nan[t]
        self._last = t

    def end(self, state: int) -> None:
        if state not in (COMPLETE, PRUNED) or self._last < 0:
            return  # a FAIL trial is no comparison member, nor a trial without a report
        last_val = int(self._t.last_val[self._row, self._last])
        self._finished_rows.append(self._row)
        self._finished_last.append(last_val)
        insort(self._last_sorted, last_val)
        if state == COMPLETE:
            self._complete_rows.append(self._row)

    def decide(self, t: int, pruner: _Calibrated, by_sotl_e: bool) -> bool:
        """The pruner's decision at ``t`` on the estimator's scores; ``by_sotl_e`` is the
        decision on SoTL-E alone (weight 0)."""
        if self._row_nan[t] or self._n_nan[t]:
            return by_sotl_e  # a trial without the metric: the estimator keeps SoTL-E
        key = self._key(t)
        weight = self._no_evidence_weight if key is None else self._weights.get(key)
        if weight == 0.0:
            return by_sotl_e
        step = self._steps[t]
        step.update()
        own = (self._row_sotl_e[t], self._row_metric[t])
        values = step.values[:, : step.n]
        ranks, own_ranks = step.joined(own)
        finite = ~np.isinf(values[0])
        own_metric = own[1]
        if weight is None:
            # Skip the bootstrap when every weight it may return decides alike.
            by_metric = pruner.prunes(own_metric, np.where(finite, values[1], np.inf))
            if by_metric == by_sotl_e and self._blend_decides(
                pruner, ranks - own_ranks[:, None], finite, by_sotl_e
            ):
                return by_sotl_e
            assert key is not None
            weight = self._weights[key] = self._choose(*key)
            if weight == 0.0:
                return by_sotl_e
        if weight == 1.0:
            return pruner.prunes(own_metric, np.where(finite, values[1], np.inf))
        blend = np.where(finite, blend_ranks(ranks[0], ranks[1], weight), np.inf)
        return pruner.prunes(float(blend_ranks(own_ranks[0], own_ranks[1], weight)), blend)

    @staticmethod
    def _blend_decides(
        pruner: _Calibrated, difference: np.ndarray, finite: np.ndarray, decision: bool
    ) -> bool:
        """Whether every rank blend with a metric weight in (0, 1) makes ``decision``, from the
        others' rank differences with the own trial (SoTL-E's, the metric's): a blend is below
        zero for every such weight exactly when neither difference is above zero and one is
        below, and above or tied exactly when neither is below."""
        sotl_e, metric = difference
        better = finite & (sotl_e <= 0) & (metric <= 0) & ((sotl_e < 0) | (metric < 0))
        not_better = ~finite | ((sotl_e >= 0) & (metric >= 0))
        n_others = finite.size
        by_blend = pruner.prunes_between(
            int(np.count_nonzero(better)), n_others - int(np.count_nonzero(not_better)), n_others
        )
        return by_blend == decision

    def _key(self, t: int) -> tuple[int, int, int] | None:
        """What the choice at ``t`` depends on (None: too few trials, SoTL-E)."""
        needed = max(self._min_trials, 2 * len(self._complete_rows))
        target = -1
        if len(self._last_sorted) >= needed and self._last_sorted[-needed] >= 2 * t + 1:
            target = self._last_sorted[-needed]
            n_members = len(self._last_sorted) - bisect_left(self._last_sorted, target)
        else:
            n_members = len(self._complete_rows)
        return None if n_members < self._min_trials else (t, target, n_members)

    def _choose(self, t: int, target: int, n_members: int) -> float:
        tables = self._t
        if target < 0:
            rows = np.array(self._complete_rows, dtype=np.intp)
            later = tables.objective[rows]
        else:
            rows = np.array(
                [r for r, last in zip(self._finished_rows, self._finished_last) if last >= target],
                dtype=np.intp,
            )
            later = tables.metric[rows, target]
        assert rows.size == n_members
        metric = tables.ranked[rows, t]
        choice = choose_signal(
            tables.sotl_e[rows, t], None if np.isnan(metric).any() else metric, later,
            min_trials=self._min_trials, prior=self._prior,
        )
        return choice.metric_weight


class _Calibrated(abc.ABC):
    """What :meth:`_StudyCalibration.decide` asks of a pruner."""

    @abc.abstractmethod
    def prunes(self, own: float, others: np.ndarray) -> bool:
        """The decision on a finite own score and the others' scores (lower is better)."""

    @abc.abstractmethod
    def prunes_between(self, n_better: int, n_maybe_better: int, n_others: int) -> bool | None:
        """The decision if it is the same whenever between ``n_better`` and ``n_maybe_better``
        of the ``n_others`` scores are below the own one (and the rest above or tied)."""


class CalibratedHalving(_SoTLHalving, _Calibrated):
    """:class:`~optuna_sotl.SoTLSuccessiveHalvingPruner` with a SelfCalibratingEstimator."""

    def __init__(
        self, data: ReplayData, min_resource: int | None, eta: int, rate: int, bootstrap: int,
        min_trials: int, prior: str, loss: str, metric_value: str,
    ) -> None:
        tables = _tables(data, loss, metric_value)
        super().__init__(tables.sotl_e, data.loss_finite, min_resource, eta, rate, bootstrap)
        self._calibration = _StudyCalibration(data, min_trials, prior, loss, metric_value)

    def begin(self, number: int, row: int) -> None:
        super().begin(number, row)
        self._calibration.begin(row)

    def step(self, t: int) -> bool:
        if self._row_finite[t] and self._min_resource is not None and self._is_rung[t]:
            members = self._members[t]
            by_sotl_e = not asha_promoted(
                bisect_left(members, self._row[t]), len(members) + 1, self._eta, self._bootstrap
            )
            prune = self._calibration.decide(t, self, by_sotl_e)
            insort(members, self._row[t])
        else:
            prune = super().step(t)
        self._calibration.reached(t)
        return prune

    def prunes(self, own: float, others: np.ndarray) -> bool:
        return not is_promoted(own, others, self._eta, self._bootstrap)  # the real pruner's

    def prunes_between(self, n_better: int, n_maybe_better: int, n_others: int) -> bool | None:
        low, high = (
            not asha_promoted(n, n_others + 1, self._eta, self._bootstrap)
            for n in (n_better, n_maybe_better)
        )
        return low if low == high else None

    def end(self, state: int) -> None:
        super().end(state)
        self._calibration.end(state)


class CalibratedPercentile(_SoTLPercentile, _Calibrated):
    """:class:`~optuna_sotl.SoTLPruner` with a SelfCalibratingEstimator."""

    def __init__(
        self, data: ReplayData, percentile: float, n_startup: int, n_warmup: int,
        interval: int, n_min: int, min_trials: int, prior: str, loss: str, metric_value: str,
    ) -> None:
        tables = _tables(data, loss, metric_value)
        super().__init__(
            tables.sotl_e, data.loss_finite, percentile, n_startup, n_warmup, interval, n_min
        )
        self._calibration = _StudyCalibration(data, min_trials, prior, loss, metric_value)
        self._rule = PercentileRule(percentile)

    def begin(self, number: int, row: int) -> None:
        super().begin(number, row)
        self._calibration.begin(row)

    def step(self, t: int) -> bool:
        members = self._members[t]
        if (
            self._row_finite[t]
            and t >= self._n_warmup
            and (t - self._n_warmup) % self._interval == 0
            and self._n_complete >= self._n_startup
            and len(members) >= self._n_min
        ):
            score = self._row[t]
            by_sotl_e = percentile_prunes(score, percentile_of_sorted(members, self._percentile))
            prune = self._calibration.decide(t, self, by_sotl_e)
            insort(members, score)
        else:
            prune = super().step(t)
        self._calibration.reached(t)
        return prune

    def prunes(self, own: float, others: np.ndarray) -> bool:
        return self._rule.should_prune(own, others)  # the real pruner's rule object

    def prunes_between(self, n_better: int, n_maybe_better: int, n_others: int) -> bool | None:
        # The threshold lies between the two ranks it interpolates: all below the own score
        # prunes, all at or above it keeps.
        lower, upper, _ = percentile_bounds(n_others, self._percentile)
        if n_better >= upper + 1:
            return True
        if n_maybe_better <= lower:
            return False
        return None

    def end(self, state: int) -> None:
        super().end(state)
        self._calibration.end(state)
