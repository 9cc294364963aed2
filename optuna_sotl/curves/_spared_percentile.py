"""The replay's fair baseline for ``SoTLPruner(spare_every=...)``: Optuna's percentile pruner
sparing the same trials, which Optuna itself does not offer."""

from __future__ import annotations

import math

import optuna
from optuna.trial import FrozenTrial

from optuna_sotl._checks import check_count
from optuna_sotl.pruners._sotl import is_spared


class SparedPercentile(optuna.pruners.BasePruner):
    """``pruner``'s decisions, except that a trial :class:`~optuna_sotl.SoTLPruner` with the same
    ``spare_every`` would spare is never pruned on a finite value."""

    def __init__(self, pruner: optuna.pruners.PercentilePruner, spare_every: int) -> None:
        self._pruner = pruner
        self._spare_every = check_count("spare_every", spare_every, minimum=1)

    def prune(self, study: optuna.study.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if (
            step is not None
            and math.isfinite(trial.intermediate_values[step])
            and is_spared(study.study_name, trial.number, self._spare_every)
        ):
            return False
        return self._pruner.prune(study, trial)

    def __repr__(self) -> str:
        return f"SparedPercentile({self._pruner!r}, spare_every={self._spare_every})"
