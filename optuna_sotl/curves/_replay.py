"""Fast replayed search: the product's pruning rules on arrays, without Optuna's per-trial cost.

A study is sequential and asynchronous: one trial at a time proposes an architecture, replays its
recorded curves one epoch per step (each step costs one epoch of budget) and is pruned, completes,
or is cut off when the budget runs out (then it is not a result). The pruners here decide with
the same functions as the pruner classes (:mod:`optuna_sotl.rules`) on the same scores (the
estimator applied to the training-loss curve, as the classes score stored intermediate values),
and Optuna's own pruners are mirrored from their code; the self-calibrating estimator, which
scores a set of trials at once, has its own module (:mod:`._replay_calibration`).
``tests/unit/curves/test_replay.py`` drives real Optuna studies with the real classes and checks
that every trial stops at the same step.

The final pick is the completed trial with the best final validation result (earliest among
ties, as ``study.best_trial``); regrets are in points against the best of the file.
"""

from __future__ import annotations

from bisect import bisect_left
from bisect import insort
from collections.abc import Callable
from collections.abc import Sequence
import dataclasses
import math
from typing import Any
from typing import Protocol
from typing import TYPE_CHECKING
from typing import TypeAlias
import zlib

import numpy as np

from optuna_sotl.curves._loader import LearningCurves
from optuna_sotl.rules import asha_promoted
from optuna_sotl.rules import percentile_of_sorted
from optuna_sotl.rules import percentile_prunes


if TYPE_CHECKING:
    import optuna

    from optuna_sotl.estimators import BaseEstimator
    from optuna_sotl.estimators import SelfCalibratingEstimator


COMPLETE, PRUNED, FAIL, MISSING = 0, 1, 2, 3
# A sampler that only proposes architectures missing from the file would loop forever.
MAX_MISSING_IN_A_ROW = 10_000

# A pruner option's value: a count, a percentile, ``"auto"`` or an estimator's short name.
OptionValue: TypeAlias = str | int | float


# ---------------------------------------------------------------------------------------------
# Data the replay reads: per-architecture score matrices, computed once per process.


class ReplayData:
    """A curve file prepared for fast replay: score matrices by estimator, regrets, the space.

    Example:

        .. code-block:: python

            import numpy as np
            from optuna_sotl.curves import LearningCurves
            from optuna_sotl.curves._replay import ReplayData

            loss = np.linspace(2.0, 1.0, 4)[None, :] + np.arange(6)[:, None] / 10
            data = ReplayData(LearningCurves(loss, loss, 90.0 - loss[:, -1], "test_acc"))
            assert data.n_epochs == 4
    """

    def __init__(self, curves: LearningCurves) -> None:
        self.curves = curves
        self.n_archs = curves.n_archs
        self.n_epochs = curves.n_epochs
        self.higher = bool(curves.val_metric_higher_is_better)
        self.val = np.asarray(curves.val_metric, dtype=np.float64)
        # Optuna's percentile pruners compare the best value a trial reported so far.
        accumulate = np.fmax if self.higher else np.fmin
        self.val_best = accumulate.accumulate(self.val, axis=1)
        self.final_val = self.val[:, -1]
        self.train_loss = np.asarray(curves.train_loss, dtype=np.float64)
        self.loss_finite = np.isfinite(self.train_loss)
        self._scores: dict[str, np.ndarray] = {}
        result = curves.result if curves.result_higher_is_better else -curves.result
        final = self.final_val if self.higher else -self.final_val
        self.test_regret = np.max(result) - result
        self.val_regret = np.nanmax(final) - final
        k = max(1, math.ceil(0.01 * self.n_archs))
        self.top = self.test_regret <= np.sort(self.test_regret)[k - 1]
        self._space_built = False

    def scores(self, estimator_name: str) -> np.ndarray:
        """Lower-is-better score of every architecture at every step, as the pruners compute it.

        The pruners read a trial's stored losses into a column-major matrix and call the
        estimator on it; the same layout here keeps sums bit-identical.
        """
        cached = self._scores.get(estimator_name)
        if cached is not None:
            return cached
        from optuna_sotl.estimators import BaseEstimator

        estimator = make_estimator(estimator_name)
        if not isinstance(estimator, BaseEstimator):
            raise ValueError(
                f"estimator {estimator_name!r} scores a set of trials, not each curve on its own; "
                "the array replay cannot score it."
            )
        matrix = np.asfortranarray(np.where(np.isinf(self.train_loss), np.inf, self.train_loss))
        out = np.empty_like(matrix)
        for step in range(self.n_epochs):
            first = 0 if estimator.window is None else max(0, step - estimator.window + 1)
            block = np.asfortranarray(matrix[:, first : step + 1])
            scores = np.asarray(estimator(block), dtype=np.float64)
            ok = np.isfinite(block[:, -1]) & ~np.isnan(scores)
            out[:, step] = np.where(ok, scores, np.inf)
        self._scores[estimator_name] = out
        return out

    # The categorical space of the file's operations (for regularised evolution).
    def build_space(self) -> None:
        if self._space_built:
            return
        curves = self.curves
        if curves.ops is None or curves.edges is None:
            self.edges: tuple[str, ...] = ("arch",)
            self.choices: list[list[object]] = [list(range(self.n_archs))]
            self.rows: dict[tuple[int, ...], int] = {(i,): i for i in range(self.n_archs)}
        else:
            self.edges = tuple(str(e) for e in curves.edges)
            self.choices = [
                sorted(set(curves.ops[:, j].tolist())) for j in range(curves.ops.shape[1])
            ]
            index = [{c: i for i, c in enumerate(ch)} for ch in self.choices]
            self.rows = {}
            for row, ops in enumerate(curves.ops.tolist()):
                key = tuple(index[j][op] for j, op in enumerate(ops))
                self.rows.setdefault(key, row)
        self.arch_of_row = {row: key for key, row in self.rows.items()}
        self.name_crc = [zlib.crc32(name.encode("utf-8")) for name in self.edges]
        self._space_built = True


def estimator_name(estimator: object) -> str:
    """The short name :func:`make_estimator` turns back into ``estimator``."""
    from optuna_sotl.estimators import SelfCalibratingEstimator
    from optuna_sotl.estimators import SoTL
    from optuna_sotl.estimators import SoTLE
    from optuna_sotl.estimators import SoTLEMA

    if isinstance(estimator, SelfCalibratingEstimator):
        return "auto"
    if isinstance(estimator, SoTLE):
        return "sotl-e" if estimator.window == 1 else f"sotl-e{estimator.window}"
    if isinstance(estimator, SoTLEMA):
        return f"ema{estimator.newest_weight:g}"
    if isinstance(estimator, SoTL):
        return "sotl"
    raise ValueError(f"no short name for {estimator!r}.")


def make_estimator(name: str) -> BaseEstimator | SelfCalibratingEstimator:
    """An estimator from its short name: ``sotl-e``, ``sotl-e3``, ``sotl``, ``ema0.9``
    (``SoTLEMA(newest_weight=0.9)``), ``auto`` (a SelfCalibratingEstimator)."""
    from optuna_sotl.estimators import SoTL
    from optuna_sotl.estimators import SoTLE
    from optuna_sotl.estimators import SoTLEMA

    if name == "sotl":
        return SoTL()
    if name == "auto":
        from optuna_sotl import SelfCalibratingEstimator

        return SelfCalibratingEstimator()
    if name.startswith("sotl-e"):
        return SoTLE(int(name[6:] or 1))
    if name.startswith("ema"):
        return SoTLEMA(newest_weight=float(name[3:]))
    raise ValueError(f"unknown estimator name {name!r}; use sotl, sotl-e[E] or ema<gamma>.")


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


class _SoTLPercentile:
    """:class:`~optuna_sotl.SoTLPruner`: every other trial that reached the step is compared."""

    def __init__(
        self, scores: np.ndarray, finite: np.ndarray, percentile: float, n_startup: int,
        n_warmup: int, interval: int, n_min: int,
    ) -> None:
        self._scores, self._finite = scores, finite
        self._percentile, self._n_startup = percentile, n_startup
        self._n_warmup, self._interval, self._n_min = n_warmup, interval, n_min
        self._members: list[list[float]] = [[] for _ in range(scores.shape[1])]
        self._n_complete = 0

    def begin(self, number: int, row: int) -> None:
        self._row = self._scores[row].tolist()
        self._row_finite = self._finite[row].tolist()

    def step(self, t: int) -> bool:
        score = self._row[t]
        members = self._members[t]
        prune = False
        if not self._row_finite[t]:
            prune = True
        elif (
            t >= self._n_warmup
            and (t - self._n_warmup) % self._interval == 0
            and self._n_complete >= self._n_startup
            and len(members) >= self._n_min
        ):
            prune = percentile_prunes(score, percentile_of_sorted(members, self._percentile))
        insort(members, score)
        return prune

    def end(self, state: int) -> None:
        self._n_complete += state == COMPLETE


class _SoTLHalving:
    """:class:`~optuna_sotl.SoTLSuccessiveHalvingPruner`, or a Hyperband bracket of it.

    Members of a rung: every trial (of the bracket) that reported the rung's step.
    """

    def __init__(
        self, scores: np.ndarray, finite: np.ndarray, min_resource: int | None, eta: int,
        rate: int, bootstrap: int,
    ) -> None:
        self._scores, self._finite = scores, finite
        self._eta, self._rate, self._bootstrap = eta, rate, bootstrap
        self._n_epochs = scores.shape[1]
        self._members: list[list[float]] = [[] for _ in range(self._n_epochs)]
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

    def begin(self, number: int, row: int) -> None:
        self._row = self._scores[row].tolist()
        self._row_finite = self._finite[row].tolist()

    def step(self, t: int) -> bool:
        score = self._row[t]
        members = self._members[t]
        prune = False
        if not self._row_finite[t]:
            prune = True
        elif self._min_resource is not None and self._is_rung[t]:
            if not math.isfinite(score):
                prune = True
            else:
                n_better = bisect_left(members, score)
                prune = not asha_promoted(n_better, len(members) + 1, self._eta, self._bootstrap)
        insort(members, score)
        return prune

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
            self._rung += 1

    def end(self, state: int) -> None:
        self._n_complete += state == COMPLETE


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


# ---------------------------------------------------------------------------------------------
# Pruner specifications: one object names a pruner, builds its array version and the real class.


@dataclasses.dataclass(frozen=True)
class PrunerSpec:
    """A pruner of the replay, built either as an array pruner or as the real Optuna object.

    ``kind``: ``none``, ``median`` (Optuna's PercentilePruner on the val metric), ``sha``,
    ``hyperband`` (Optuna's, on the val metric), ``sotl`` (SoTLPruner), ``sotl-sha``,
    ``sotl-hyperband`` (on the training loss). ``options`` are the constructor's arguments
    (``estimator`` by short name, see :func:`make_estimator`); ``max_resource`` of the
    Hyperband kinds is the file's number of epochs.
    """

    kind: str
    options: tuple[tuple[str, OptionValue], ...] = ()

    @property
    def report(self) -> str:
        return "train_loss" if self.kind.startswith("sotl") else "val_metric"

    @property
    def family(self) -> str:
        if self.kind == "none":
            return "baseline"
        return "sotl" if self.kind.startswith("sotl") else "optuna"

    def option(self, key: str, default: OptionValue) -> OptionValue:
        """The option ``key``: given, else the real class's default (so that an entry without
        options is the class as users construct it), else ``default``."""
        given = dict(self.options)
        if key in given:
            return given[key]
        return _class_defaults(self.kind).get(key, default)

    def explicit(self) -> PrunerSpec:
        """This spec with every argument the class defaults spelled out (``max_resource``
        excepted: the replay passes the file's epochs), so that it keeps meaning the same
        pruner when a class's defaults change."""
        given = dict(self.options)
        filled = dict(given)
        for key, value in _class_defaults(self.kind).items():
            if key not in given and key not in ("max_resource", "self"):
                filled[key] = value
        return PrunerSpec(self.kind, tuple(sorted(filled.items())))

    def describe(self) -> str:
        names = {
            "none": "no pruning",
            "median": "MedianPruner",
            "sha": "SuccessiveHalvingPruner",
            "hyperband": "HyperbandPruner",
            "sotl": "SoTLPruner",
            "sotl-sha": "SoTLSuccessiveHalvingPruner",
            "sotl-hyperband": "SoTLHyperbandPruner",
        }
        args = ", ".join(f"{k}={v}" for k, v in self.options)
        signal = "" if self.kind == "none" else (
            " on the training loss" if self.report == "train_loss" else " on val_acc"
        )
        return f"{names[self.kind]}({args}){signal}"

    # The array pruner for one study.
    def build_array(self, data: ReplayData, study_name: str) -> _ArrayPruner:
        opt = self.option
        if self.kind == "none":
            return _NoPruner()
        if self.kind == "median":
            return _OptunaPercentile(
                data, float(opt("percentile", 50.0)), int(opt("n_startup_trials", 5)),
                int(opt("n_warmup_steps", 0)), int(opt("interval_steps", 1)),
                int(opt("n_min_trials", 1)),
            )
        if self.kind == "sha":
            return _OptunaHalving(
                data, _resource(opt("min_resource", "auto")), int(opt("reduction_factor", 4)),
                int(opt("min_early_stopping_rate", 0)), int(opt("bootstrap_count", 0)),
            )
        if self.kind == "hyperband":
            low, eta = int(opt("min_resource", 1)), int(opt("reduction_factor", 3))
            budgets = _hyperband_brackets(low, data.n_epochs, eta, exact=False)
            return _Brackets(study_name, budgets, [
                _OptunaHalving(data, low, eta, b, int(opt("bootstrap_count", 0)))
                for b in range(len(budgets))
            ])
        estimator = str(opt("estimator", "sotl-e"))
        if estimator == "auto":
            return _self_calibrating(self, data, study_name)
        scores = data.scores(estimator)
        if self.kind == "sotl":
            return _SoTLPercentile(
                scores, data.loss_finite, float(opt("percentile", 50.0)),
                int(opt("n_startup_trials", 5)), int(opt("n_warmup_steps", 0)),
                int(opt("interval_steps", 1)), int(opt("n_min_trials", 1)),
            )
        if self.kind == "sotl-sha":
            return _SoTLHalving(
                scores, data.loss_finite, _resource(opt("min_resource", "auto")),
                int(opt("reduction_factor", 4)), int(opt("min_early_stopping_rate", 0)),
                int(opt("bootstrap_count", 0)),
            )
        if self.kind == "sotl-hyperband":
            low, eta = int(opt("min_resource", 1)), int(opt("reduction_factor", 3))
            budgets = _hyperband_brackets(low, data.n_epochs, eta, exact=True)
            return _Brackets(study_name, budgets, [
                _SoTLHalving(scores, data.loss_finite, low, eta, b, int(opt("bootstrap_count", 0)))
                for b in range(len(budgets))
            ])
        raise ValueError(f"unknown pruner kind {self.kind!r}.")

    # The real pruner object (for the differential test and the TPE runs).
    def build_real(self, n_epochs: int) -> optuna.pruners.BasePruner:
        import optuna

        from optuna_sotl import SoTLHyperbandPruner
        from optuna_sotl import SoTLPruner
        from optuna_sotl import SoTLSuccessiveHalvingPruner

        # Checked by the constructors, as when users pass them.
        kwargs: dict[str, Any] = {k: v for k, v in self.options if k != "estimator"}
        if self.kind == "none":
            return optuna.pruners.NopPruner()
        if self.kind == "median":
            return optuna.pruners.PercentilePruner(
                percentile=float(kwargs.pop("percentile", 50.0)), **kwargs
            )
        if self.kind == "sha":
            return optuna.pruners.SuccessiveHalvingPruner(**kwargs)
        if self.kind == "hyperband":
            return optuna.pruners.HyperbandPruner(max_resource=n_epochs, **kwargs)
        estimator = make_estimator(str(self.option("estimator", "sotl-e")))
        if self.kind == "sotl":
            return SoTLPruner(estimator=estimator, **kwargs)
        if self.kind == "sotl-sha":
            return SoTLSuccessiveHalvingPruner(estimator=estimator, **kwargs)
        if self.kind == "sotl-hyperband":
            return SoTLHyperbandPruner(max_resource=n_epochs, estimator=estimator, **kwargs)
        raise ValueError(f"unknown pruner kind {self.kind!r}.")

    @property
    def is_hyperband(self) -> bool:
        return self.kind in ("hyperband", "sotl-hyperband")


def _class_defaults(kind: str) -> dict[str, OptionValue]:
    import inspect

    import optuna

    from optuna_sotl import SoTLHyperbandPruner
    from optuna_sotl import SoTLPruner
    from optuna_sotl import SoTLSuccessiveHalvingPruner

    cls = {
        "median": optuna.pruners.MedianPruner,
        "sha": optuna.pruners.SuccessiveHalvingPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
        "sotl": SoTLPruner,
        "sotl-sha": SoTLSuccessiveHalvingPruner,
        "sotl-hyperband": SoTLHyperbandPruner,
    }.get(kind)
    if cls is None:
        return {}
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(cls).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }
    if "estimator" in defaults:
        # The estimator a default instance holds (None means a different one per class).
        defaults["estimator"] = estimator_name(cls().estimator)
    if kind == "median":
        defaults["percentile"] = 50.0
    return defaults


def _self_calibrating(spec: PrunerSpec, data: ReplayData, study_name: str) -> _ArrayPruner:
    """The array pruner with a :class:`~optuna_sotl.SelfCalibratingEstimator` (its own module)."""
    from optuna_sotl.curves._replay_calibration import CalibratedHalving
    from optuna_sotl.curves._replay_calibration import CalibratedPercentile
    from optuna_sotl.estimators._signal_choice import DEFAULT_MIN_CALIBRATION_TRIALS

    opt = spec.option
    min_trials = DEFAULT_MIN_CALIBRATION_TRIALS  # what SelfCalibratingEstimator() holds
    if spec.kind == "sotl":
        return CalibratedPercentile(
            data, float(opt("percentile", 50.0)), int(opt("n_startup_trials", 5)),
            int(opt("n_warmup_steps", 0)), int(opt("interval_steps", 1)),
            int(opt("n_min_trials", 1)), min_trials,
        )
    if spec.kind == "sotl-sha":
        return CalibratedHalving(
            data, _resource(opt("min_resource", "auto")), int(opt("reduction_factor", 4)),
            int(opt("min_early_stopping_rate", 0)), int(opt("bootstrap_count", 0)), min_trials,
        )
    # Hyperband's brackets would each need their own calibration view (its bracket's trials).
    raise ValueError(
        f"configuration {study_name!r}: the array replay has estimator='auto' "
        f"(SelfCalibratingEstimator) for sotl and sotl-sha only, not {spec.kind!r}."
    )


def _resource(value: OptionValue) -> int | None:
    return None if value == "auto" else int(value)


# ---------------------------------------------------------------------------------------------
# Samplers: random rows, or regularised evolution exactly as RegularizedEvolutionSampler draws.


class _RandomRows:
    """Seed k proposes the same rows in the same order under every pruner (paired runs)."""

    def __init__(self, data: ReplayData, seed: int) -> None:
        self._rng = np.random.default_rng([seed, 0x5EA])
        self._n = data.n_archs
        self._buffer: list[int] = []
        self._position = 0

    def propose(self, number: int) -> int:
        if self._position == len(self._buffer):
            self._buffer = self._rng.integers(self._n, size=4096).tolist()
            self._position = 0
        self._position += 1
        return self._buffer[self._position - 1]

    def tell(self, number: int, row: int, state: int, last_step: int) -> None:
        pass


class _RegularizedEvolution:
    """:class:`~optuna_sotl.RegularizedEvolutionSampler` on the file's categorical space.

    The same random streams (seed, trial number, purpose) and fitness order, so with
    ``RegularizedEvolutionSampler(P, S, seed=k)`` a real study proposes the same architectures.
    Pruned trials rank by the pruner's own signal at their last step: the training loss
    (SoTL-E, E=1) for this package's pruners, as the real sampler; the val metric for Optuna's
    (the real sampler would read it as a loss). Under a Hyperband pruner the population is the
    trial's bracket.
    """

    def __init__(
        self, data: ReplayData, seed: int, population: int, tournament: int, signal: str,
        bracket_of: Callable[[int], int] | None = None,
    ) -> None:
        data.build_space()
        self._data, self._seed = data, seed
        self._population, self._tournament = population, tournament
        self._bracket_of = bracket_of
        self._signal = signal
        self._arch: dict[int, tuple[int, ...]] = {}
        self._key: dict[int, tuple] = {}
        self._finished: dict[int, list[int]] = {}
        self._sorted_names = sorted(range(len(data.edges)), key=lambda j: data.edges[j])
        self._mutable = [j for j in self._sorted_names if len(data.choices[j]) > 1]

    def propose(self, number: int) -> int:
        arch = self._sample(number)
        self._arch[number] = arch
        return self._data.rows.get(arch, -1)

    def _sample(self, number: int) -> tuple[int, ...]:
        parent = self._select_parent(number)
        data = self._data
        if parent is None:
            arch = []
            for j, choices in enumerate(data.choices):
                rng = np.random.default_rng([self._seed, number, 2, data.name_crc[j]])
                arch.append(int(rng.integers(len(choices))))
            return tuple(arch)
        arch = list(self._arch[parent])
        if self._mutable:
            rng = np.random.default_rng([self._seed, number, 1])
            j = self._mutable[int(rng.integers(len(self._mutable)))]
            other = int(rng.integers(len(data.choices[j]) - 1))
            arch[j] = other + 1 if other >= arch[j] else other
        return tuple(arch)

    def _select_parent(self, number: int) -> int | None:
        if number < self._population:
            return None
        bracket = 0 if self._bracket_of is None else self._bracket_of(number)
        population = self._finished.get(bracket, [])[-self._population :]
        if not population:
            return None
        rng = np.random.default_rng([self._seed, number, 0])
        size = min(self._tournament, len(population))
        picked = sorted(rng.choice(len(population), size=size, replace=False).tolist())
        return min((population[i] for i in picked), key=self._key.__getitem__)

    def tell(self, number: int, row: int, state: int, last_step: int) -> None:
        data = self._data
        if state == COMPLETE:
            value = data.final_val[row]
            key: tuple = (0, -value if data.higher else value, number)
        elif state == MISSING:
            key = (1, 1, math.inf, number)
        elif state == PRUNED:
            if self._signal == "train_loss":
                loss = data.train_loss[row, last_step]
                score = float(loss) if math.isfinite(loss) else math.inf
            else:
                value = data.val[row, last_step]
                score = -value if data.higher else value
                score = float(score) if math.isfinite(score) else math.inf
            key = (1, -last_step, score, number)
        else:
            return  # FAIL: not a population member
        self._key[number] = key
        bracket = 0 if self._bracket_of is None else self._bracket_of(number)
        self._finished.setdefault(bracket, []).append(number)


@dataclasses.dataclass(frozen=True)
class SamplerSpec:
    """``random`` (uniform rows, paired by seed), ``re`` (regularised evolution) or ``tpe`` (real
    Optuna studies only)."""

    kind: str
    population_size: int = 20
    tournament_size: int = 5

    def describe(self) -> str:
        if self.kind == "random":
            return "uniform random architectures (seed k: the same stream under every pruner)"
        if self.kind == "tpe":
            return (
                "TPESampler(seed=k) (a real Optuna study); with this package's pruners "
                "SoTLSampler(TPESampler(seed=k), estimator=the pruner's)"
            )
        return (
            f"RegularizedEvolutionSampler(population_size={self.population_size}, "
            f"tournament_size={self.tournament_size})"
        )

    def build_array(
        self, data: ReplayData, seed: int, pruner: PrunerSpec, arrays: _ArrayPruner
    ) -> _RandomRows | _RegularizedEvolution:
        if self.kind == "random":
            return _RandomRows(data, seed)
        if self.kind == "re":
            bracket = None
            if pruner.is_hyperband:
                assert isinstance(arrays, _Brackets)  # a Hyperband kind's array pruner
                bracket = arrays.bracket_of
            return _RegularizedEvolution(
                data, seed, self.population_size, self.tournament_size, pruner.report, bracket
            )
        raise ValueError(f"unknown sampler kind {self.kind!r}.")


# ---------------------------------------------------------------------------------------------
# The replay loop.


@dataclasses.dataclass
class FastTrace:
    """One replayed study: when the pick changed, to which row, and per-trial counts."""

    epochs: np.ndarray  # budget spent when the best completed trial changed
    rows: np.ndarray  # the new best trial's row
    n_trials: int
    n_complete: int
    n_pruned: int
    n_missing: int
    n_top_proposed: int
    n_top_completed: int
    log: list[tuple[int, int, int]] | None = None  # (row or -1, state, last step) per trial


def study_name(seed: int) -> str:
    """The study name of seed ``seed``: Hyperband brackets are drawn from it."""
    return f"replay-{seed}"


def fast_replay(
    data: ReplayData, sampler: SamplerSpec, pruner: PrunerSpec, seed: int, budget: int,
    log: bool = False,
) -> FastTrace:
    """One sequential study of ``budget`` epochs; see the module docstring."""
    arrays = pruner.build_array(data, study_name(seed))
    proposer = sampler.build_array(data, seed, pruner, arrays)
    n_epochs = data.n_epochs
    final_val = data.final_val.tolist() if data.higher else (-data.final_val).tolist()
    top = data.top
    begin, step, end = arrays.begin, arrays.step, arrays.end
    no_pruning = isinstance(arrays, _NoPruner)
    spent = number = 0
    best = -math.inf
    epochs: list[int] = []
    rows: list[int] = []
    counts = [0, 0, 0, 0]
    n_top_proposed = n_top_completed = 0
    trial_log: list[tuple[int, int, int]] | None = [] if log else None
    missing_in_a_row = 0
    while spent < budget:
        row = proposer.propose(number)
        if row < 0:
            proposer.tell(number, row, MISSING, -1)
            counts[MISSING] += 1
            missing_in_a_row += 1
            if missing_in_a_row >= MAX_MISSING_IN_A_ROW:
                raise RuntimeError(
                    f"seed {seed}: {missing_in_a_row} proposals in a row are not in the file."
                )
            if trial_log is not None:
                trial_log.append((-1, MISSING, -1))
            number += 1
            continue
        missing_in_a_row = 0
        n_top_proposed += bool(top[row])
        begin(number, row)
        state, last = COMPLETE, n_epochs - 1
        if no_pruning:
            if budget - spent < n_epochs:
                state, last = FAIL, budget - spent - 1
                spent = budget
            else:
                spent += n_epochs
        else:
            for t in range(n_epochs):
                if spent >= budget:
                    state, last = FAIL, t - 1
                    break
                spent += 1
                if step(t):
                    state, last = PRUNED, t
                    break
        end(state)
        proposer.tell(number, row, state, last)
        counts[state] += 1
        if trial_log is not None:
            trial_log.append((row, state, last))
        number += 1
        if state == COMPLETE:
            n_top_completed += bool(top[row])
            value = final_val[row]
            if value > best:  # strictly: among ties the earlier trial stays best
                best = value
                epochs.append(spent)
                rows.append(row)
    return FastTrace(
        epochs=np.asarray(epochs, dtype=np.int64),
        rows=np.asarray(rows, dtype=np.int64),
        n_trials=number,
        n_complete=counts[COMPLETE],
        n_pruned=counts[PRUNED],
        n_missing=counts[MISSING],
        n_top_proposed=n_top_proposed,
        n_top_completed=n_top_completed,
        log=trial_log,
    )
