"""The sampler wrapper: a base sampler that sees SoTL scores for unfinished trials."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_sotl._checks import check_loss_estimator
from optuna_sotl.estimators import BaseEstimator
from optuna_sotl.samplers._sotl_study_view import maximizes
from optuna_sotl.samplers._sotl_study_view import ScoreTransform
from optuna_sotl.samplers._sotl_study_view import SoTLStudyView


class SoTLSampler(BaseSampler):
    """Let any Optuna sampler rank pruned and running trials by their training-loss score.

    Optuna's samplers read a pruned trial's last intermediate value in the study's direction:
    TPE ranks pruned trials by it, CMA-ES with ``consider_pruned_trials=True`` takes it as the
    objective. When trials report training losses into a study that maximises accuracy, the
    highest-loss pruned trials therefore count as the best. This wrapper hands ``base_sampler`` a
    view of the study in which each PRUNED or RUNNING trial's intermediate values (and a pruned
    trial's value) are ``estimator``'s scores, the ones :class:`~optuna_sotl.SoTLPruner` ranks by,
    negated when the study maximises. Steps, COMPLETE trials, parameters and storage are
    untouched, the base sampler's own hooks and seeding are used, and the view reads trials
    through the study it is given, so Hyperband's bracket study keeps filtering them. It matters
    while few trials are complete (TPE's ``gamma(n)``); multi-objective studies pass through.

    Example:

        .. code-block:: python

            import optuna
            from optuna_sotl import SoTLPruner
            from optuna_sotl import SoTLSampler


            def objective(trial):
                lr = trial.suggest_float("lr", 1e-3, 1.0, log=True)
                loss = 1.0
                for epoch in range(10):
                    loss *= 1.0 - lr / 2  # a stand-in for one epoch of training
                    trial.report(loss, epoch)
                    if trial.should_prune():
                        raise optuna.TrialPruned()
                return 1.0 - loss  # an accuracy: the study maximises


            sampler = SoTLSampler(optuna.samplers.TPESampler(seed=0))
            study = optuna.create_study(direction="maximize", sampler=sampler, pruner=SoTLPruner())
            study.optimize(objective, n_trials=20)

    Args:
        base_sampler:
            The Optuna sampler that does the sampling, e.g.
            :class:`~optuna.samplers.TPESampler`.
        estimator:
            A training-loss estimator from :mod:`optuna_sotl.estimators` (default ``SoTLE(1)``,
            as in :class:`~optuna_sotl.SoTLPruner`).
    """

    def __init__(self, base_sampler: BaseSampler, estimator: BaseEstimator | None = None) -> None:
        if not isinstance(base_sampler, BaseSampler):
            raise TypeError(
                "base_sampler must be an Optuna sampler such as optuna.samplers.TPESampler(), "
                f"got {base_sampler!r}."
            )
        self._base_sampler = base_sampler
        self._estimator = check_loss_estimator(estimator)
        self._transform = ScoreTransform(self._estimator)

    @property
    def base_sampler(self) -> BaseSampler:
        return self._base_sampler

    @property
    def estimator(self) -> BaseEstimator:
        return self._estimator

    def _view(self, study: optuna.Study) -> optuna.Study:
        return SoTLStudyView(study, self._transform)

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self._base_sampler.infer_relative_search_space(self._view(study), trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._base_sampler.sample_relative(self._view(study), trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._base_sampler.sample_independent(
            self._view(study), trial, param_name, param_distribution
        )

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._base_sampler.before_trial(self._view(study), trial)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        maximize = maximizes(study)
        step = trial.last_step
        pruned = state == TrialState.PRUNED and values is not None
        if pruned and maximize is not None and step is not None:
            # Optuna passes a pruned trial's last intermediate value as its value: map it too.
            values = [self._transform.mapped_curve(trial, maximize)[step]]
        self._base_sampler.after_trial(self._view(study), trial, state, values)

    def reseed_rng(self) -> None:
        self._base_sampler.reseed_rng()

    def __repr__(self) -> str:
        return f"SoTLSampler({self._base_sampler!r}, estimator={self._estimator!r})"
