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

import dataclasses
import math
from typing import Any
from typing import TYPE_CHECKING

import numpy as np

from optuna_sotl.curves._replay_data import COMPLETE
from optuna_sotl.curves._replay_data import estimator_name
from optuna_sotl.curves._replay_data import FAIL
from optuna_sotl.curves._replay_data import make_estimator
from optuna_sotl.curves._replay_data import MAX_MISSING_IN_A_ROW
from optuna_sotl.curves._replay_data import MISSING
from optuna_sotl.curves._replay_data import OptionValue
from optuna_sotl.curves._replay_data import PRUNED
from optuna_sotl.curves._replay_data import ReplayData
from optuna_sotl.curves._replay_pruners import _ArrayPruner
from optuna_sotl.curves._replay_pruners import _Brackets
from optuna_sotl.curves._replay_pruners import _hyperband_brackets
from optuna_sotl.curves._replay_pruners import _NoPruner
from optuna_sotl.curves._replay_pruners import _OptunaHalving
from optuna_sotl.curves._replay_pruners import _OptunaPercentile
from optuna_sotl.curves._replay_pruners import _SoTLHalving
from optuna_sotl.curves._replay_pruners import _SoTLPercentile
from optuna_sotl.curves._replay_pruners import _Sparing
from optuna_sotl.curves._replay_samplers import _RandomRows
from optuna_sotl.curves._replay_samplers import _RegularizedEvolution


if TYPE_CHECKING:
    import optuna


# Importers read the data's names from here too: the replay is one module to them.
__all__ = [
    "COMPLETE", "FAIL", "MISSING", "PRUNED", "FastTrace", "PrunerSpec", "ReplayData",
    "SamplerSpec", "estimator_name", "fast_replay", "make_estimator", "study_name",
]


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
        pruner = self._build_array(data, study_name)
        spare_every = int(self.option("spare_every", 0))
        spare_share = float(self.option("spare_share", 0.0))
        if spare_every or spare_share:
            # What the pruner is fed at each step: a spared trial is pruned only when it is not
            # finite.
            finite = data.loss_finite if self.family == "sotl" else np.isfinite(data.val)
            return _Sparing(pruner, finite, study_name, spare_every, spare_share)
        return pruner

    def _build_array(self, data: ReplayData, study_name: str) -> _ArrayPruner:
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
        if estimator.startswith("auto"):
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
        if self.kind in ("median", "sha"):
            return self._optuna_pruner(kwargs)
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

    def _optuna_pruner(self, kwargs: dict[str, Any]) -> optuna.pruners.BasePruner:
        import optuna

        # Optuna's pruners sparing by this package's rule: a replay-only baseline.
        spare_every = kwargs.pop("spare_every", 0)
        spare_share = kwargs.pop("spare_share", 0.0)
        pruner: optuna.pruners.BasePruner
        if self.kind == "median":
            percentile = float(kwargs.pop("percentile", 50.0))
            pruner = optuna.pruners.PercentilePruner(percentile=percentile, **kwargs)
        else:
            pruner = optuna.pruners.SuccessiveHalvingPruner(**kwargs)
        if not (spare_every or spare_share):
            return pruner
        from optuna_sotl.curves._spared_pruner import SparedPruner

        return SparedPruner(pruner, spare_every, spare_share)

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
    from optuna_sotl.estimators import SelfCalibratingEstimator

    opt = spec.option
    estimator = make_estimator(str(opt("estimator", "auto")))
    assert isinstance(estimator, SelfCalibratingEstimator)  # the caller saw an "auto" name
    min_trials = estimator.min_calibration_trials
    prior, loss = estimator.prior, estimator_name(estimator.loss_estimator)
    metric_value = estimator.metric_value
    if spec.kind == "sotl":
        return CalibratedPercentile(
            data, float(opt("percentile", 50.0)), int(opt("n_startup_trials", 5)),
            int(opt("n_warmup_steps", 0)), int(opt("interval_steps", 1)),
            int(opt("n_min_trials", 1)), min_trials, prior, loss, metric_value,
        )
    if spec.kind == "sotl-sha":
        return CalibratedHalving(
            data, _resource(opt("min_resource", "auto")), int(opt("reduction_factor", 4)),
            int(opt("min_early_stopping_rate", 0)), int(opt("bootstrap_count", 0)), min_trials,
            prior, loss, metric_value,
        )
    if spec.kind == "sotl-hyperband":
        # The real pruner's estimator sees only the bracket's trials, so each bracket calibrates
        # on its own: one calibration view per bracket.
        low, eta = int(opt("min_resource", 1)), int(opt("reduction_factor", 3))
        budgets = _hyperband_brackets(low, data.n_epochs, eta, exact=True)
        return _Brackets(study_name, budgets, [
            CalibratedHalving(
                data, low, eta, b, int(opt("bootstrap_count", 0)), min_trials, prior, loss,
                metric_value,
            )
            for b in range(len(budgets))
        ])
    raise ValueError(
        f"configuration {study_name!r}: the array replay has estimator='auto' "
        f"(SelfCalibratingEstimator) for sotl, sotl-sha and sotl-hyperband only, not "
        f"{spec.kind!r}."
    )


def _resource(value: OptionValue) -> int | None:
    return None if value == "auto" else int(value)


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
                brackets = arrays.wrapped if isinstance(arrays, _Sparing) else arrays
                assert isinstance(brackets, _Brackets)  # a Hyperband kind's array pruner
                bracket = brackets.bracket_of
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
