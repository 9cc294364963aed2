"""Successive halving recomputed from stored losses.

The pruner keeps no rung state and writes nothing (but each trial's ``spare_share`` choice, when
that is set): a trial is a member of a rung exactly when the storage holds its intermediate value
at the rung's step, and its score there is recomputed from the stored values. Every worker sharing
the storage (an RDB, a journal or the gRPC proxy) therefore sees the same rungs and, given the same
stored trials, decides alike. Optuna's pruner records rungs in trial system attributes instead,
which Optuna 5 no longer lets user code write through a public API. While a rung holds fewer than
``reduction_factor`` trials only the best so far is promoted, because Optuna cannot pause a trial
and resume it later as ASHA would. Finished trials' scores cannot change, so each process
remembers them (``_score_index``) and a decision scores only the trials new since the last one
and the running ones.
"""

from __future__ import annotations

from collections.abc import Callable
import math

import numpy as np
import optuna
from optuna.pruners import BasePruner
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_sotl._checks import check_count
from optuna_sotl._checks import check_count_or_auto
from optuna_sotl._checks import check_pruning_estimator
from optuna_sotl._checks import check_spare_share
from optuna_sotl.estimators import BaseEstimator
from optuna_sotl.estimators import SelfCalibratingEstimator
from optuna_sotl.pruners._score_index import ScoreIndex
from optuna_sotl.pruners._sparing import spared_at_decision
from optuna_sotl.rules import asha_promoted


class SoTLSuccessiveHalvingPruner(BasePruner):
    """Asynchronous successive halving (ASHA) whose rungs rank trials by a training-loss score.

    Optuna's :class:`~optuna.pruners.SuccessiveHalvingPruner` (`Li et al., 2020
    <https://arxiv.org/abs/1810.05934>`__) with the same arguments, but a rung ranks trials by
    ``estimator``, lower is better in any study direction. The default, a
    :class:`~optuna_sotl.SelfCalibratingEstimator` with ``prior="metric-first"``, ranks by the
    validation metric the reporter stored (as Optuna's pruner does) until the study's own trials
    show that the training loss ranks better, and then gives the loss weight as that evidence
    grows; without a metric it ranks by SoTL-E. Rung ``k`` is at step
    ``min_resource * reduction_factor ** (min_early_stopping_rate + k)``; a trial that reports it
    is promoted if it ranks in the best ``1 / reduction_factor`` of the trials that reported it
    (complete, pruned or running, itself included; ties are promoted), or is the best while the
    rung holds fewer than ``reduction_factor`` trials, and is pruned otherwise. A NaN or infinite
    loss prunes at once. Rungs are recomputed from the stored losses at every decision, so workers
    sharing a storage agree; a rung is judged only when ``should_prune`` follows the report of its
    step (the reporter asks every epoch).

    Example:

        .. code-block:: python

            import optuna
            from optuna_sotl import SoTLSuccessiveHalvingPruner


            def objective(trial):
                lr = trial.suggest_float("lr", 1e-3, 1.0, log=True)
                loss = 1.0
                for epoch in range(27):
                    loss *= 1.0 - lr / 2  # a stand-in for one epoch of training
                    trial.report(loss, epoch)
                    if trial.should_prune():
                        raise optuna.TrialPruned()
                return 1.0 - loss  # an accuracy: the study maximises


            pruner = SoTLSuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
            study = optuna.create_study(direction="maximize", pruner=pruner)
            study.optimize(objective, n_trials=20)

    Args:
        min_resource:
            The step of the first rung when ``min_early_stopping_rate`` is 0 (``r`` in the
            paper), an int of at least 1, or ``"auto"``: one hundredth of the last step of the
            longest complete trial (at least 1), as Optuna's pruner estimates it, fixed once a
            trial has completed; nothing is pruned before then. Workers agree on ``"auto"`` when
            every complete trial runs the same number of epochs; pass an int otherwise.
        reduction_factor:
            ``eta`` in the paper: about ``1 / reduction_factor`` of a rung's trials are promoted,
            and each rung's step is ``reduction_factor`` times the previous one. At least 2.
            Default 4, as Optuna's pruner: 3 was better on SpikeNAS-Bench with SoTL-E rungs but
            lost on held-out curve sets (``benchmarks/results/heldout.md``).
        min_early_stopping_rate:
            ``s`` in the paper: the first rung is at step
            ``min_resource * reduction_factor ** min_early_stopping_rate``. At least 0.
        bootstrap_count:
            A trial reaching a rung that holds no more than this many trials, itself included, is
            pruned (as in Optuna). At least 0; must be 0 when ``min_resource`` is ``"auto"``.
        estimator:
            A training-loss estimator from :mod:`optuna_sotl.estimators` or a
            :class:`~optuna_sotl.SelfCalibratingEstimator` (default
            ``SelfCalibratingEstimator(prior="metric-first", metric_value="best-so-far")``:
            each trial's metric is its best value up to the rung, so a one-epoch dip at the
            rung does not decide; at the rung, the default before, lost to it on SpikeNAS-Bench,
            ``benchmarks/results/best-so-far-halving.md``. ``prior="metric"`` lost to Optuna's
            pruner on a held-out tabular set with random sampling,
            ``benchmarks/results/sha-prior.md``).
        spare_share:
            Never prune a trial on a finite loss when, at its first decision, the trials so
            spared have taken less than this share of the epochs the study's trials reported
            (in ``[0, 1)``), as :class:`~optuna_sotl.SoTLPruner` does. The choice is stored once
            per trial as the system attribute ``optuna_sotl:spared``; 0 stores nothing. With
            regularised evolution 0.2 lowered both regrets of the pick on SpikeNAS-Bench, with
            random sampling it did not, and on a noisy held-out set it traded test regret for
            validation regret (``benchmarks/results/sha-share.md``).
    """

    def __init__(
        self,
        min_resource: str | int = "auto",
        reduction_factor: int = 4,
        min_early_stopping_rate: int = 0,
        bootstrap_count: int = 0,
        *,
        estimator: BaseEstimator | SelfCalibratingEstimator | None = None,
        spare_share: float = 0.0,
    ) -> None:
        self._min_resource = check_count_or_auto("min_resource", min_resource)
        self._reduction_factor = check_count("reduction_factor", reduction_factor, minimum=2)
        self._min_early_stopping_rate = check_count(
            "min_early_stopping_rate", min_early_stopping_rate
        )
        self._bootstrap_count = check_count("bootstrap_count", bootstrap_count)
        if self._bootstrap_count > 0 and self._min_resource is None:
            raise ValueError(
                f"bootstrap_count must be 0 when min_resource is 'auto', got "
                f"bootstrap_count={bootstrap_count}."
            )
        self._estimator = check_pruning_estimator(
            SelfCalibratingEstimator(prior="metric-first", metric_value="best-so-far")
            if estimator is None
            else estimator
        )
        self._spare_share = check_spare_share(spare_share)
        # Rung members' scores, so that a call scores only what is new (see _score_index).
        self._index = ScoreIndex(self._estimator)

    @property
    def estimator(self) -> BaseEstimator | SelfCalibratingEstimator:
        return self._estimator

    @property
    def spare_share(self) -> float:
        return self._spare_share

    def rung_step(self, rung: int) -> int | None:
        """The step at which rung ``rung`` (from 0) judges trials; None while "auto" is unknown."""
        rung = check_count("rung", rung)
        if self._min_resource is None:
            return None
        return self._min_resource * self._reduction_factor ** (
            self._min_early_stopping_rate + rung
        )

    def prune(self, study: optuna.study.Study, trial: FrozenTrial) -> bool:
        return self.prune_among(study, trial, None)

    def prune_among(
        self,
        study: optuna.study.Study,
        trial: FrozenTrial,
        in_same_bracket: Callable[[FrozenTrial], bool] | None,
        trials: list[FrozenTrial] | None = None,
    ) -> bool:
        """:meth:`prune` with the rung members restricted to ``in_same_bracket`` (Hyperband's);
        ``trials``: the study's trials if the caller has just read them."""
        step = trial.last_step
        if step is None:
            return False
        # Decided before anything returns, so that every trial that reports is counted; the
        # study read for it is the one the rung comparison uses.
        spared, read = spared_at_decision(study, trial, 0, self._spare_share)
        trials = read if read is not None else trials
        if not math.isfinite(trial.intermediate_values[step]):
            return True
        if spared:
            return False
        if self._min_resource is None:
            self._min_resource = _estimate_min_resource(study)
            if self._min_resource is None:
                return False
        if self._rung_of_step(step) is None:
            return False

        compared = self._index.scores_at(
            study, trial, step, keep=in_same_bracket, trials=trials
        )
        assert compared is not None  # None only below a min_complete, and none is given
        own_score, other_scores = compared
        if not math.isfinite(own_score):
            return True
        return not is_promoted(
            own_score, other_scores, self._reduction_factor, self._bootstrap_count
        )

    def _rung_of_step(self, step: int) -> int | None:
        """The rung judged at ``step``, or None when ``step`` is not a rung's step."""
        assert self._min_resource is not None
        if step < self._min_resource or step % self._min_resource:
            return None
        quotient, exponent = step // self._min_resource, 0
        while quotient % self._reduction_factor == 0:
            quotient //= self._reduction_factor
            exponent += 1
        if quotient != 1 or exponent < self._min_early_stopping_rate:
            return None
        return exponent - self._min_early_stopping_rate

    def __repr__(self) -> str:
        min_resource = "auto" if self._min_resource is None else self._min_resource
        return (
            f"SoTLSuccessiveHalvingPruner(min_resource={min_resource!r}, "
            f"reduction_factor={self._reduction_factor}, "
            f"min_early_stopping_rate={self._min_early_stopping_rate}, "
            f"bootstrap_count={self._bootstrap_count}, estimator={self._estimator!r}, "
            f"spare_share={self._spare_share!r})"
        )


def is_promoted(
    own_score: float, other_scores: np.ndarray, reduction_factor: int, bootstrap_count: int
) -> bool:
    """ASHA's promotion test at one rung; scores are lower-is-better and ``own_score`` is finite.

    The trial is promoted when it ranks within the best ``n // reduction_factor`` of the ``n``
    rung members (itself included), or is the best when ``n < reduction_factor``; ties with the
    last promoted score are promoted. The rule itself is :func:`optuna_sotl.rules.asha_promoted`.
    """
    others = np.asarray(other_scores, dtype=np.float64)
    n_better = int(np.count_nonzero(others < own_score))
    return asha_promoted(n_better, others.size + 1, reduction_factor, bootstrap_count)


def _estimate_min_resource(study: optuna.study.Study) -> int | None:
    # Optuna's heuristic, so that "auto" means what users know: 1% of the longest complete run.
    last_steps = [
        trial.last_step
        for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if trial.last_step is not None
    ]
    if not last_steps:
        return None
    return max(max(last_steps) // 100, 1)
