"""The replay's fair baselines for sparing: Optuna's pruners sparing trials by the rule this
package's pruners use, which Optuna itself does not offer."""

from __future__ import annotations

import math

import optuna
from optuna.trial import FrozenTrial

from optuna_sotl._checks import check_count
from optuna_sotl._checks import check_spare_share
from optuna_sotl.pruners._sparing import spared_at_decision


class SparedPruner(optuna.pruners.BasePruner):
    """``pruner``'s decisions, except that a trial :class:`~optuna_sotl.SoTLPruner` with the same
    ``spare_every`` or ``spare_share`` would spare is never pruned on a finite value.

    ``pruner`` is asked at every step, spared trials included, so that a pruner that records
    what it saw (Optuna's successive halving stores each rung's value) keeps a spared trial in
    its rungs, as this package's rung pruners do.
    """

    def __init__(
        self, pruner: optuna.pruners.BasePruner, spare_every: int = 0, spare_share: float = 0.0
    ) -> None:
        self._pruner = pruner
        self._spare_every = check_count("spare_every", spare_every)
        self._spare_share = check_spare_share(spare_share)
        if bool(self._spare_every) == bool(self._spare_share):
            raise ValueError(
                "set one of spare_every and spare_share, got "
                f"spare_every={spare_every} and spare_share={spare_share}."
            )

    def prune(self, study: optuna.study.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        spared, _ = spared_at_decision(study, trial, self._spare_every, self._spare_share)
        prune = self._pruner.prune(study, trial)
        return prune and not (spared and math.isfinite(trial.intermediate_values[step]))

    def __repr__(self) -> str:
        return (
            f"SparedPruner({self._pruner!r}, spare_every={self._spare_every}, "
            f"spare_share={self._spare_share!r})"
        )
