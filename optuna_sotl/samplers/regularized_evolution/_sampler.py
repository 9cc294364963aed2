"""Regularized evolution: the sampler; mutation and uniform draws are in ``_mutation``.

Parameters the parent lacks, or whose inherited value lies outside the distribution the child
suggests, are drawn uniformly. Under a Hyperband pruner whose bracket study filters the trials
(:class:`~optuna_sotl.SoTLHyperbandPruner`) the population is drawn from the trial's bracket.
"""

from __future__ import annotations

from collections.abc import Callable
import math
from typing import Any
import zlib

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_sotl._checks import check_count
from optuna_sotl._checks import check_loss_estimator
from optuna_sotl._checks import check_optional_count
from optuna_sotl._scoring import FINISHED_STATES
from optuna_sotl._scoring import score_at_step
from optuna_sotl.estimators import BaseEstimator
from optuna_sotl.samplers.regularized_evolution._mutation import can_mutate
from optuna_sotl.samplers.regularized_evolution._mutation import mutate
from optuna_sotl.samplers.regularized_evolution._mutation import sample_uniform


#: Trial system attribute recording a child's lineage: ``{"parent": number, "mutated": name}``.
PARENT_ATTR = "regularized_evolution:parent"

# Independent random streams drawn from (seed, trial number, stream): one per purpose, so that
# the values a trial gets do not depend on how many draws another purpose made.
_TOURNAMENT_STREAM = 0
_MUTATION_STREAM = 1
_PARAM_STREAM = 2


class RegularizedEvolutionSampler(BaseSampler):
    """Regularised (aging) evolution, Real et al. 2019, with pruned trials ranked by SoTL.

    The first ``population_size`` trials are random. Each later trial takes the
    ``population_size`` most recent COMPLETE or PRUNED trials (highest numbers: the oldest ages
    out), draws ``tournament_size`` of them, and mutates exactly one parameter of the fittest.
    Fitness, best first: COMPLETE trials by objective value in the study's direction; then PRUNED
    trials by the last step they reached (deeper first, as TPE does), then by ``estimator``'s
    score at that step, lower first (the rank :class:`~optuna_sotl.SoTLPruner` uses); ties go to
    the lower trial number. The population is read from storage at every trial and each trial's
    random draws come from ``(seed, trial number)``, so workers sharing a storage cooperate as one
    population. Each child records ``{"parent": number, "mutated": name}`` in the trial system
    attribute ``"regularized_evolution:parent"``. Single-objective studies only.

    Example:

        .. code-block:: python

            import optuna
            from optuna_sotl import RegularizedEvolutionSampler
            from optuna_sotl import SoTLPruner


            def objective(trial):
                width = trial.suggest_categorical("width", [16, 32, 64])
                lr = trial.suggest_float("lr", 1e-3, 1.0, log=True)
                loss = 1.0
                for epoch in range(10):
                    loss *= 1.0 - lr * width / 128  # a stand-in for one epoch of training
                    trial.report(loss, epoch)
                    if trial.should_prune():
                        raise optuna.TrialPruned()
                return 1.0 - loss  # an accuracy: the study maximises


            sampler = RegularizedEvolutionSampler(population_size=10, tournament_size=3, seed=0)
            study = optuna.create_study(direction="maximize", sampler=sampler, pruner=SoTLPruner())
            study.optimize(objective, n_trials=30)

    Args:
        population_size:
            ``P``: the number of random initial trials and of most recent finished trials that
            form the population (at least 1).
        tournament_size:
            ``S``: how many population members compete to be the parent (from 1 to ``P``).
        seed:
            Seed of the random draws (a non-negative int); ``None`` draws one from the OS.
        estimator:
            A training-loss estimator from :mod:`optuna_sotl.estimators` ranking pruned trials
            (default ``SoTLE(1)``, as in :class:`~optuna_sotl.SoTLPruner`).
    """

    def __init__(
        self,
        population_size: int = 20,
        tournament_size: int = 5,
        *,
        seed: int | None = None,
        estimator: BaseEstimator | None = None,
    ) -> None:
        self._population_size = check_count("population_size", population_size, minimum=1)
        self._tournament_size = check_count("tournament_size", tournament_size, minimum=1)
        if self._tournament_size > self._population_size:
            raise ValueError(
                f"tournament_size cannot exceed population_size, got "
                f"tournament_size={tournament_size} and population_size={population_size}."
            )
        checked_seed = check_optional_count("seed", seed)
        self._seed = _fresh_seed() if checked_seed is None else checked_seed
        self._estimator = check_loss_estimator(estimator)
        # The parent chosen in infer_relative_search_space, handed to sample_relative of the same
        # trial (a study wrapper such as HyperbandPruner's may not share a trial cache between
        # the two calls). Transient: popped at once, never read by another trial.
        self._chosen_parents: dict[tuple[int, int, int], FrozenTrial] = {}

    @property
    def population_size(self) -> int:
        return self._population_size

    @property
    def tournament_size(self) -> int:
        return self._tournament_size

    @property
    def estimator(self) -> BaseEstimator:
        return self._estimator

    def reseed_rng(self) -> None:
        self._seed = _fresh_seed()

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        self._raise_error_if_multi_objective(study)
        parent = self._select_parent(study, trial)
        if parent is None:
            return {}
        if len(self._chosen_parents) > 1000:
            # Only reachable if sample_relative is skipped for many trials; keep memory flat.
            self._chosen_parents.clear()
        self._chosen_parents[_trial_key(study, trial)] = parent
        return {
            name: distribution
            for name, distribution in parent.distributions.items()
            if not distribution.single()
        }

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        parent = self._chosen_parents.pop(_trial_key(study, trial), None)
        if not search_space:
            return {}
        if parent is None:
            parent = self._select_parent(study, trial)
            if parent is None:
                return {}
        params = {name: parent.params[name] for name in search_space if name in parent.params}
        mutable = sorted(name for name in params if can_mutate(search_space[name]))
        mutated = None
        if mutable:
            rng = self._rng(trial.number, _MUTATION_STREAM)
            mutated = mutable[int(rng.integers(len(mutable)))]
            params[mutated] = mutate(search_space[mutated], params[mutated], rng)
        study._storage.set_trial_system_attr(
            trial._trial_id, PARENT_ATTR, {"parent": parent.number, "mutated": mutated}
        )
        return params

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        rng = self._rng(trial.number, _PARAM_STREAM, zlib.crc32(param_name.encode("utf-8")))
        return sample_uniform(param_distribution, rng)

    def _select_parent(self, study: optuna.Study, trial: FrozenTrial) -> FrozenTrial | None:
        if trial.number < self._population_size:
            return None
        finished = study._get_trials(deepcopy=False, states=FINISHED_STATES, use_cache=True)
        population = sorted(
            (t for t in finished if t.number != trial.number), key=lambda t: t.number
        )[-self._population_size :]
        if not population:
            # Every earlier trial is still running (or failed): nothing to evolve from yet.
            return None
        rng = self._rng(trial.number, _TOURNAMENT_STREAM)
        size = min(self._tournament_size, len(population))
        picked = sorted(rng.choice(len(population), size=size, replace=False).tolist())
        return min((population[i] for i in picked), key=self._fitness_key(study))

    def _fitness_key(self, study: optuna.Study) -> Callable[[FrozenTrial], tuple]:
        sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0
        estimator = self._estimator

        def key(trial: FrozenTrial) -> tuple:
            if trial.state == TrialState.COMPLETE:
                return (0, sign * trial.values[0], trial.number)
            step = trial.last_step
            if step is None:
                return (1, 1, math.inf, trial.number)
            return (1, -step, float(score_at_step(estimator, [trial], step)[0]), trial.number)

        return key

    def _rng(self, trial_number: int, *stream: int) -> np.random.Generator:
        return np.random.default_rng([self._seed, trial_number, *stream])

    def __repr__(self) -> str:
        return (
            f"RegularizedEvolutionSampler(population_size={self._population_size}, "
            f"tournament_size={self._tournament_size}, estimator={self._estimator!r})"
        )


def _fresh_seed() -> int:
    entropy = np.random.SeedSequence().entropy  # an int when drawn from the OS
    assert isinstance(entropy, int)
    return entropy


def _trial_key(study: optuna.Study, trial: FrozenTrial) -> tuple[int, int, int]:
    return (id(study._storage), trial._trial_id, trial.number)
