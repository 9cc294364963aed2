"""The Pareto pruner: a dominance count in (training-loss score, costs) at each step.

Why a fraction of dominating trials rather than a non-dominated rank or a fixed count: the number
of trials that reached a step ranges from thousands (epoch 1) to a handful (late epochs), and a
fraction adapts to both; because late steps hold survivors only, the same fraction is a stricter
bar there. Costs (parameters, FLOPs, latency) are read from user attributes, known before
training; a missing one is an error naming the attribute and the trial, never a silent default.
It works where Optuna cannot prune: in a multi-objective study :class:`~optuna_sotl.SoTLReporter`
stores the losses and asks it directly; in a single-objective study it keeps cheap architectures
alive while maximising accuracy. ``benchmarks/bench_multiobjective.py`` replays the same rule
(:func:`optuna_sotl.rules.should_prune_dominated`) and argues the default 0.05.
"""

from __future__ import annotations

from collections.abc import Sequence
import itertools
import math
import numbers

import numpy as np
import optuna
from optuna.pruners import BasePruner
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_sotl._checks import check_count
from optuna_sotl._checks import check_pruning_estimator
from optuna_sotl._checks import check_real_in
from optuna_sotl._scoring import COMPARED_STATES
from optuna_sotl._scoring import scores_of_trials
from optuna_sotl.estimators import BaseEstimator
from optuna_sotl.estimators import SelfCalibratingEstimator
from optuna_sotl.pruners._sotl import is_check_step
from optuna_sotl.rules import should_prune_dominated


class SoTLParetoPruner(BasePruner):
    """Prune trials that too many others dominate in (training-loss score, costs).

    At the trial's last reported step ``t`` the trial is a point: its ``estimator`` score at ``t``
    (default SoTL-E with ``E=1``, scored as :class:`~optuna_sotl.SoTLPruner` scores it) followed
    by the user attributes named in ``cost_attrs``, all lower is better. Every *other* trial that
    reached ``t`` (complete, pruned or running) is a point too. The trial is pruned when more than
    ``dominated_fraction`` of them dominate it (no worse in every coordinate, better in one), so a
    costly architecture is only stopped by cheaper ones that also train better. It works in
    multi-objective studies (through :class:`~optuna_sotl.SoTLReporter`) and single-objective
    ones. A non-finite loss prunes at once; a missing cost attribute is an error naming it.

    Example:

        .. code-block:: python

            import optuna
            from optuna_sotl import SoTLParetoPruner
            from optuna_sotl import SoTLReporter


            def objective(trial):
                width = trial.suggest_int("width", 8, 64)
                trial.set_user_attr("params", width * 100)
                reporter = SoTLReporter(trial)
                loss = 2.0
                for epoch in range(10):
                    loss *= 1.0 - width / 200  # a stand-in for one epoch of training
                    reporter.add(loss)
                    reporter.end_epoch()
                return 1.0 - loss, width * 100  # accuracy up, parameters down


            study = optuna.create_study(
                directions=["maximize", "minimize"],
                sampler=optuna.samplers.NSGAIISampler(seed=0),
                pruner=SoTLParetoPruner(cost_attrs=("params",)),
            )
            study.optimize(objective, n_trials=20)

    Args:
        cost_attrs:
            Names of the trials' user attributes that are costs (numbers, lower is better).
        dominated_fraction:
            Prune when more than this fraction of the compared trials dominate the trial, in
            ``[0, 1)``. The default 0.05 is argued in ``benchmarks/results/multiobjective.md``.
        n_startup_trials:
            No pruning until this many trials of the study have completed.
        n_warmup_steps:
            No pruning at steps below this.
        interval_steps:
            Check every this many steps after the warm-up (at least 1).
        n_min_trials:
            No pruning unless at least this many other trials reached the step (at least 1).
        estimator:
            A training-loss estimator (default ``SoTLE(1)``), or a
            :class:`~optuna_sotl.SelfCalibratingEstimator` (single-objective studies only: it
            calibrates on the one objective).
    """

    def __init__(
        self,
        cost_attrs: Sequence[str] = (),
        dominated_fraction: float = 0.05,
        n_startup_trials: int = 5,
        n_warmup_steps: int = 0,
        interval_steps: int = 1,
        *,
        n_min_trials: int = 1,
        estimator: BaseEstimator | SelfCalibratingEstimator | None = None,
    ) -> None:
        self._cost_attrs = _check_cost_attrs(cost_attrs)
        fraction = check_real_in("dominated_fraction", dominated_fraction, 0.0, 1.0)
        if fraction == 1.0:
            # Nothing can be dominated by more than all the others: 1 would never prune.
            raise ValueError(
                f"dominated_fraction must be below 1, got dominated_fraction={fraction}."
            )
        self._fraction = fraction
        self._n_startup_trials = check_count("n_startup_trials", n_startup_trials)
        self._n_warmup_steps = check_count("n_warmup_steps", n_warmup_steps)
        self._interval_steps = check_count("interval_steps", interval_steps, minimum=1)
        self._n_min_trials = check_count("n_min_trials", n_min_trials, minimum=1)
        self._estimator = check_pruning_estimator(estimator)

    @property
    def cost_attrs(self) -> tuple[str, ...]:
        return self._cost_attrs

    @property
    def dominated_fraction(self) -> float:
        return self._fraction

    @property
    def estimator(self) -> BaseEstimator | SelfCalibratingEstimator:
        return self._estimator

    def check_study(self, study: optuna.study.Study) -> None:
        """Raise ``ValueError`` if this pruner cannot judge ``study`` (checked before training)."""
        if len(study.directions) > 1 and isinstance(self._estimator, SelfCalibratingEstimator):
            raise ValueError(
                "SoTLParetoPruner(estimator=SelfCalibratingEstimator(...)) needs a "
                "single-objective study: it calibrates on the one objective value, and this "
                f"study has {len(study.directions)} objectives. Use a training-loss estimator "
                "such as SoTLE(1)."
            )

    def prune(self, study: optuna.study.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        if not math.isfinite(trial.intermediate_values[step]):
            return True
        # Read before any start-up or warm-up rule, so a missing cost fails at the first epoch.
        own_costs = _costs(trial, self._cost_attrs)
        if not is_check_step(trial, step, self._n_warmup_steps, self._interval_steps):
            return False

        trials = study.get_trials(deepcopy=False, states=COMPARED_STATES)
        if not _has_at_least(self._n_startup_trials, trials, TrialState.COMPLETE):
            return False
        others = [
            other
            for other in trials
            if other.number != trial.number and step in other.intermediate_values
        ]
        if len(others) < self._n_min_trials:
            return False

        self.check_study(study)
        direction = study.directions[0] if len(study.directions) == 1 else StudyDirection.MINIMIZE
        scores = scores_of_trials(self._estimator, [trial, *others], step, direction)
        points = np.empty((len(others) + 1, 1 + len(self._cost_attrs)), dtype=np.float64)
        points[:, 0] = scores
        points[0, 1:] = own_costs
        for row, other in enumerate(others, start=1):
            points[row, 1:] = _costs(other, self._cost_attrs)
        return should_prune_dominated(points[0], points[1:], self._fraction)

    def __repr__(self) -> str:
        return (
            f"SoTLParetoPruner(cost_attrs={self._cost_attrs!r}, "
            f"dominated_fraction={self._fraction!r}, "
            f"n_startup_trials={self._n_startup_trials}, n_warmup_steps={self._n_warmup_steps}, "
            f"interval_steps={self._interval_steps}, n_min_trials={self._n_min_trials}, "
            f"estimator={self._estimator!r})"
        )


def _check_cost_attrs(cost_attrs: object) -> tuple[str, ...]:
    if isinstance(cost_attrs, str) or not isinstance(cost_attrs, Sequence):
        raise TypeError(
            "cost_attrs must be a sequence of user-attribute names such as ('params',), "
            f"got {cost_attrs!r}."
        )
    names = tuple(cost_attrs)
    for name in names:
        if not isinstance(name, str) or not name:
            raise TypeError(f"cost_attrs must hold non-empty strings, got {name!r} in {names!r}.")
    if len(set(names)) != len(names):
        raise ValueError(f"cost_attrs must not repeat a name, got {names!r}.")
    return names


def _costs(trial: FrozenTrial, names: tuple[str, ...]) -> list[float]:
    costs = []
    for name in names:
        if name not in trial.user_attrs:
            raise ValueError(
                f"Trial {trial.number} has no user attribute {name!r}, a cost SoTLParetoPruner "
                f"compares (cost_attrs={names!r}); set it with trial.set_user_attr({name!r}, "
                "value) before the first epoch."
            )
        value = trial.user_attrs[name]
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(
                f"Trial {trial.number}'s user attribute {name!r} must be a number (a cost), "
                f"got {value!r}."
            )
        costs.append(float(value))
    return costs


def _has_at_least(count: int, trials: list[FrozenTrial], state: TrialState) -> bool:
    # Stops at the count-th match: start-up is decided without a pass over a large study.
    if count == 0:
        return True
    matching = (other for other in trials if other.state == state)
    return next(itertools.islice(matching, count - 1, None), None) is not None
