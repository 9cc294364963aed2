"""The replay's fair baseline for ``SoTLPruner``'s sparing: Optuna's percentile pruner sparing
trials by the same rule, which Optuna itself does not offer."""

from __future__ import annotations

import math

import optuna
from optuna.trial import FrozenTrial

from optuna_sotl._checks import check_count
from optuna_sotl._checks import check_real_in
from optuna_sotl.pruners._sparing import is_spared
from optuna_sotl.pruners._sparing import spared_by_share


class SparedPercentile(optuna.pruners.BasePruner):
    """``pruner``'s decisions, except that a trial :class:`~optuna_sotl.SoTLPruner` with the same
    ``spare_every`` or ``spare_share`` would spare is never pruned on a finite value."""

    def __init__(
        self, pruner: optuna.pruners.PercentilePruner, spare_every: int = 0,
        spare_share: float = 0.0,
    ) -> None:
        self._pruner = pruner
        self._spare_every = check_count("spare_every", spare_every)
        self._spare_share = check_real_in("spare_share", spare_share, 0.0, 1.0)
        if bool(self._spare_every) == bool(self._spare_share):
            raise ValueError(
                "set one of spare_every and spare_share, got "
                f"spare_every={spare_every} and spare_share={spare_share}."
            )

    def prune(self, study: optuna.study.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        spared = is_spared(study.study_name, trial.number, self._spare_every) or (
            self._spare_share > 0 and spared_by_share(study, trial, self._spare_share)
        )
        if spared and math.isfinite(trial.intermediate_values[step]):
            return False
        return self._pruner.prune(study, trial)

    def __repr__(self) -> str:
        return (
            f"SparedPercentile({self._pruner!r}, spare_every={self._spare_every}, "
            f"spare_share={self._spare_share!r})"
        )
