"""The view of a study that a sampler gets inside one Hyperband bracket."""

from __future__ import annotations

from collections.abc import Container
from typing import TYPE_CHECKING

import optuna
from optuna.trial import FrozenTrial
from optuna.trial import TrialState


if TYPE_CHECKING:
    from optuna_sotl.pruners._hyperband import SoTLHyperbandPruner


class BracketStudy(optuna.Study):
    """``study`` restricted to the trials of one bracket of ``pruner``.

    Optuna hands this to every sampler call (``before_trial``, ``infer_relative_search_space``,
    ``sample_relative``, ``sample_independent``, ``after_trial``) through
    ``optuna.pruners._filter_study``. Both ``get_trials`` and ``_get_trials`` are filtered:
    Optuna 5.0's own bracket study filters only ``get_trials``, while TPE, CMA-ES, GP and QMC
    read ``_get_trials``, so with :class:`~optuna.pruners.HyperbandPruner` they see every bracket.
    Reading through the parent study keeps its per-trial cache and the cache invalidation Optuna
    does in ``ask`` and ``tell``. Everything else (storage, directions, attributes) is the
    parent's; ``stop`` stops the parent's optimisation loop.
    """

    def __init__(self, study: optuna.Study, pruner: SoTLHyperbandPruner, bracket: int) -> None:
        # A real Study, unlike the sampler's proxying view: the methods a sampler inherits from
        # Study (best trials, Pareto front...) must read the filtered trials too.
        super().__init__(
            study_name=study.study_name,
            storage=study._storage,
            sampler=study.sampler,
            pruner=pruner,
        )
        self._parent_study = study
        self._bracket_pruner = pruner
        self.bracket = bracket

    @property
    def parent_study(self) -> optuna.Study:
        """The unfiltered study, for a sampler that must see every trial."""
        return self._parent_study

    def _get_trials(
        self,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
        use_cache: bool = False,
    ) -> list[FrozenTrial]:
        trials = self._parent_study._get_trials(
            deepcopy=deepcopy, states=states, use_cache=use_cache
        )
        # Without a pass to the storage per trial; until max_resource="auto" is known every
        # trial is in bracket 0, so every trial is returned.
        bracket_of = self._bracket_pruner.bracket_of_number
        return [t for t in trials if bracket_of(self.study_name, t.number) == self.bracket]

    def stop(self) -> None:
        self._parent_study.stop()
