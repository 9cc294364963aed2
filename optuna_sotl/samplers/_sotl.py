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

    Optuna's samplers read a pruned trial's *last intermediate value in the study's direction*:
    :class:`~optuna.samplers.TPESampler` ranks pruned trials by the step they reached (deeper is
    better) and then by that value, and :class:`~optuna.samplers.CmaEsSampler` with
    ``consider_pruned_trials=True`` takes it as the trial's objective value. When the trials report
    training losses (lower is better) into a study that maximises accuracy, TPE therefore counts
    the *highest-loss* pruned trials among the best ones and steers the search toward them.

    This wrapper hands the base sampler a view of the study in which every PRUNED or RUNNING
    trial's intermediate value at each step is replaced with ``estimator``'s score at that step
    (the score :class:`~optuna_sotl.SoTLPruner` ranks by, ``+inf`` for a non-finite loss),
    negated when the study maximises; so is a pruned trial's value, which Optuna sets to its last
    intermediate value, and the value ``after_trial`` is given for it. Read in the study's
    direction, a lower score is then a better trial, whatever that direction is. Nothing else
    changes: the steps are kept (so TPE
    still prefers trials that got further), COMPLETE trials and their objective values are not
    touched, nor are the storage or the trials' parameters, and seeding, ``reseed_rng``,
    ``before_trial``/``after_trial``, relative and independent sampling are the base sampler's
    own. The view reads trials through the study it is given, so
    :class:`~optuna.pruners.HyperbandPruner`'s per-bracket study keeps filtering them. In a
    minimise study reporting losses with the default ``SoTLE(1)`` the scores equal the losses,
    and the base sampler behaves exactly as without the wrapper. Multi-objective studies are
    passed through unchanged (they have no single direction to map the scores into).

    When it matters: TPE fills its "good" group with complete trials first and takes pruned ones
    only when fewer than ``gamma(n)`` trials are complete (by default ``ceil(n / 10)``, at most
    25). The wrapper changes TPE's suggestions early in a study and under pruning that lets few
    trials complete, such as successive halving or Hyperband; where at least ``gamma(n)`` trials
    are complete it changes nothing.

    Report training losses with :class:`~optuna_sotl.SoTLReporter` (or ``trial.report(loss,
    epoch)``); the wrapper reads every intermediate value as a training loss.

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
        if state == TrialState.PRUNED and values is not None and maximize is not None:
            # Optuna passes a pruned trial's last intermediate value as its value: map it too.
            values = [self._transform.mapped_curve(trial, maximize)[trial.last_step]]
        self._base_sampler.after_trial(self._view(study), trial, state, values)

    def reseed_rng(self) -> None:
        self._base_sampler.reseed_rng()

    def __repr__(self) -> str:
        return f"SoTLSampler({self._base_sampler!r}, estimator={self._estimator!r})"
