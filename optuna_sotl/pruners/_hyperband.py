"""Hyperband over stateless successive halving, with a bracket study for the samplers.

Optuna gives samplers a per-bracket study (``optuna.pruners._filter_study``) only when
``isinstance(study.pruner, HyperbandPruner)``, by calling the pruner's ``_get_bracket_id`` and
``_create_bracket_study``. The pruner therefore subclasses :class:`~optuna.pruners.HyperbandPruner`
and overrides exactly those two hooks and ``prune``; none of the parent's successive-halving state
is used. Its :class:`~optuna_sotl.pruners._bracket_study.BracketStudy` filters ``_get_trials``
too, which TPE, CMA-ES, GP and QMC read and Optuna 5.0's own bracket study does not filter. A
sampler that wraps another should pass the ``study`` it is given on unchanged.
"""

from __future__ import annotations

import math
import zlib

import optuna
from optuna.pruners import HyperbandPruner
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_sotl._checks import check_count
from optuna_sotl._checks import check_count_or_auto
from optuna_sotl._checks import check_pruning_estimator
from optuna_sotl._checks import check_spare_share
from optuna_sotl.estimators import BaseEstimator
from optuna_sotl.estimators import SelfCalibratingEstimator
from optuna_sotl.pruners._bracket_study import BracketStudy
from optuna_sotl.pruners._sparing import spared_at_decision
from optuna_sotl.pruners._successive_halving import SoTLSuccessiveHalvingPruner


class SoTLHyperbandPruner(HyperbandPruner):
    """Hyperband whose brackets are :class:`~optuna_sotl.SoTLSuccessiveHalvingPruner`\\ s.

    Hyperband (`Li et al., 2018 <https://jmlr.org/papers/v18/16-558.html>`__) runs successive
    halving in brackets that trade the number of trials against the steps before the first rung:
    bracket ``b`` has ``min_early_stopping_rate=b``. The brackets, their sizes and the
    trial-to-bracket assignment (a hash of the study name and trial number, so workers agree) are
    those of Optuna's :class:`~optuna.pruners.HyperbandPruner` with the same arguments; a trial is
    ranked only against its bracket, by ``estimator`` (by default the self-calibrating one of
    :class:`~optuna_sotl.SoTLSuccessiveHalvingPruner`), lower is better in any study direction.
    By default a fifth of the epochs goes to trials spared from pruning (``spare_share``). As
    with Optuna's pruner, samplers get a study holding only the trial's bracket; this one filters
    ``Study._get_trials`` too, which TPE reads. :meth:`bracket_of` tells a trial's bracket and
    ``study.parent_study`` gives the whole study.

    Example:

        .. code-block:: python

            import optuna
            from optuna_sotl import SoTLHyperbandPruner


            def objective(trial):
                lr = trial.suggest_float("lr", 1e-3, 1.0, log=True)
                loss = 1.0
                for epoch in range(27):
                    loss *= 1.0 - lr / 2  # a stand-in for one epoch of training
                    trial.report(loss, epoch)
                    if trial.should_prune():
                        raise optuna.TrialPruned()
                return 1.0 - loss  # an accuracy: the study maximises


            pruner = SoTLHyperbandPruner(min_resource=1, max_resource=27, reduction_factor=3)
            study = optuna.create_study(direction="maximize", pruner=pruner)
            study.optimize(objective, n_trials=30)
            print(pruner.n_brackets, [pruner.bracket_of(study, t) for t in study.trials])

    Args:
        min_resource:
            The step of the first rung of bracket 0, an int of at least 1 (see
            :class:`~optuna_sotl.SoTLSuccessiveHalvingPruner`).
        max_resource:
            The number of steps a full trial reports (its epochs), an int of at least
            ``min_resource``, or ``"auto"``: the last step plus one of the longest complete trial
            once one has completed. Until then no trial is pruned and samplers see every trial.
            There are ``floor(log_eta(max_resource / min_resource)) + 1`` brackets.
        reduction_factor:
            ``eta``, at least 2 (see :class:`~optuna_sotl.SoTLSuccessiveHalvingPruner`).
        bootstrap_count:
            At least 0; must be 0 when ``max_resource`` is ``"auto"`` (see
            :class:`~optuna_sotl.SoTLSuccessiveHalvingPruner`).
        estimator:
            A training-loss estimator from :mod:`optuna_sotl.estimators` or a
            :class:`~optuna_sotl.SelfCalibratingEstimator` (default
            ``SelfCalibratingEstimator(prior="metric")``).
        spare_share:
            Never prune a trial on a finite loss when, at its first decision, the trials so
            spared (in every bracket) have taken less than this share of the epochs the study's
            trials reported (in ``[0, 1)``), as :class:`~optuna_sotl.SoTLPruner` does; a spared
            trial still counts in its bracket's rungs. The choice is stored once per trial as
            the system attribute ``optuna_sotl:spared``; 0 stores nothing and spares none. The
            default 0.2 was never worse than Optuna's :class:`~optuna.pruners.HyperbandPruner`
            on SpikeNAS-Bench and two held-out sets, where 0 lost on one
            (``benchmarks/results/hyperband-share.md``).
    """

    def __init__(
        self,
        min_resource: int = 1,
        max_resource: str | int = "auto",
        reduction_factor: int = 3,
        bootstrap_count: int = 0,
        *,
        estimator: BaseEstimator | SelfCalibratingEstimator | None = None,
        spare_share: float = 0.2,
    ) -> None:
        min_resource = check_count("min_resource", min_resource, minimum=1)
        max_steps = check_count_or_auto(
            "max_resource", max_resource, minimum=min_resource, why="min_resource"
        )
        reduction_factor = check_count("reduction_factor", reduction_factor, minimum=2)
        bootstrap_count = check_count("bootstrap_count", bootstrap_count)
        if bootstrap_count > 0 and max_steps is None:
            raise ValueError(
                f"bootstrap_count must be 0 when max_resource is 'auto', got "
                f"bootstrap_count={bootstrap_count}."
            )
        # The parent keeps the arguments for anything in Optuna that reads them; its brackets of
        # Optuna SuccessiveHalvingPruners are never built, since prune() is overridden.
        super().__init__(min_resource, max_resource, reduction_factor, bootstrap_count)
        # Our own copies: nothing here depends on the parent's private attribute names.
        self._first_rung_step = min_resource
        self._max_steps: str | int = "auto" if max_steps is None else max_steps
        self._eta = reduction_factor
        self._bootstrap = bootstrap_count
        self._estimator = check_pruning_estimator(
            SelfCalibratingEstimator(prior="metric") if estimator is None else estimator
        )
        self._spare_share = check_spare_share(spare_share)
        self._brackets: list[SoTLSuccessiveHalvingPruner] = []
        self._bracket_budgets: list[int] = []
        if max_steps is not None:
            self._build_brackets(max_steps)

    @property
    def estimator(self) -> BaseEstimator | SelfCalibratingEstimator:
        return self._estimator

    @property
    def spare_share(self) -> float:
        return self._spare_share

    @property
    def n_brackets(self) -> int | None:
        """The number of brackets; None while ``max_resource="auto"`` is not yet known."""
        return len(self._brackets) or None

    def bracket_of(self, study: optuna.Study, trial: FrozenTrial | optuna.Trial | int) -> int:
        """The bracket of ``trial`` (a trial or a trial number) in ``study``, from 0.

        Bracket ``b`` first judges trials at step ``min_resource * reduction_factor ** b``.
        Every trial is in bracket 0 while ``max_resource="auto"`` is not yet known.
        """
        if not self._brackets:
            self._try_building_brackets(study)
        number = trial.number if isinstance(trial, (FrozenTrial, optuna.Trial)) else int(trial)
        return self.bracket_of_number(study.study_name, number)

    def bracket_of_number(self, study_name: str, number: int) -> int:
        """The bracket of trial ``number`` of ``study_name``; 0 while brackets are unknown."""
        if not self._brackets:
            return 0
        # Hyperband's share of trials per bracket, drawn by a hash every worker computes alike.
        ticket = zlib.crc32(f"{study_name}_{number}".encode()) % sum(self._bracket_budgets)
        for bracket, budget in enumerate(self._bracket_budgets):
            ticket -= budget
            if ticket < 0:
                return bracket
        raise AssertionError("unreachable: the tickets cover every bracket")

    def prune(self, study: optuna.study.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        # Decided here, across brackets and before the brackets are known, so that every trial
        # that reports is counted; the brackets' own pruners do not spare.
        spared, trials = spared_at_decision(study, trial, 0, self._spare_share)
        finite = math.isfinite(trial.intermediate_values[step])
        if not self._brackets:
            self._try_building_brackets(study)
            if not self._brackets:
                return not finite
        if spared and finite:
            return False
        bracket = self.bracket_of(study, trial)

        def in_same_bracket(other: FrozenTrial) -> bool:
            return self.bracket_of_number(study.study_name, other.number) == bracket

        # The study read for the share, if any, is the one the bracket's rung compares.
        return self._brackets[bracket].prune_among(study, trial, in_same_bracket, trials)

    # The two hooks optuna.pruners._filter_study calls to restrict samplers to a bracket.
    def _get_bracket_id(self, study: optuna.Study, trial: FrozenTrial) -> int:
        return self.bracket_of(study, trial)

    def _create_bracket_study(self, study: optuna.Study, bracket_id: int) -> optuna.Study:
        return BracketStudy(study, self, bracket_id)

    def _try_building_brackets(self, study: optuna.Study) -> None:
        # Straight from storage: ``study`` may be a bracket study, whose trials need brackets.
        complete = study._storage.get_all_trials(
            study._study_id, deepcopy=False, states=(TrialState.COMPLETE,)
        )
        last_steps = [trial.last_step for trial in complete if trial.last_step is not None]
        if last_steps:
            self._build_brackets(max(last_steps) + 1)

    def _build_brackets(self, max_resource: int) -> None:
        min_resource, eta = self._first_rung_step, self._eta
        # floor(log_eta(max_resource / min_resource)) + 1, in integers to avoid float rounding.
        n_brackets = 1
        while min_resource * eta**n_brackets <= max_resource:
            n_brackets += 1
        self._bracket_budgets = [
            math.ceil(n_brackets * eta**s / (s + 1))
            for s in (n_brackets - 1 - bracket for bracket in range(n_brackets))
        ]
        self._brackets = [
            SoTLSuccessiveHalvingPruner(
                min_resource,
                eta,
                min_early_stopping_rate=bracket,
                bootstrap_count=self._bootstrap,
                estimator=self._estimator,
            )
            for bracket in range(n_brackets)
        ]

    def __repr__(self) -> str:
        return (
            f"SoTLHyperbandPruner(min_resource={self._first_rung_step}, "
            f"max_resource={self._max_steps!r}, reduction_factor={self._eta}, "
            f"bootstrap_count={self._bootstrap}, estimator={self._estimator!r}, "
            f"spare_share={self._spare_share!r})"
        )
