"""The study a wrapped sampler sees: pruned and running trials' curves turned into SoTL scores."""

from __future__ import annotations

import copy
from typing import Any

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_sotl._scoring import scores_by_step
from optuna_sotl._scoring import UNFINISHED_STATES
from optuna_sotl.estimators import BaseEstimator


# Scores depend only on the reported curve, so they are memoised by its content. The bound keeps
# a long-lived sampler's memory flat; clearing everything at once is simpler than an LRU and only
# costs recomputation.
_MAX_CACHED_CURVES = 50_000


class ScoreTransform:
    """Maps a pruned or running trial to a copy whose intermediate values are SoTL scores.

    The scores are put into the study's direction (negated when it maximises), so that whoever
    reads "the last intermediate value, in the study's direction" reads "lower SoTL is better".
    """

    def __init__(self, estimator: BaseEstimator) -> None:
        self._estimator = estimator
        self._cache: dict[tuple[bool, tuple[tuple[int, float], ...]], dict[int, float]] = {}
        self._pruned_views: dict[tuple[Any, ...], FrozenTrial] = {}

    def __call__(self, trials: list[FrozenTrial], maximize: bool) -> list[FrozenTrial]:
        return [self._one(trial, maximize) for trial in trials]

    def _one(self, trial: FrozenTrial, maximize: bool) -> FrozenTrial:
        if trial.state not in UNFINISHED_STATES or not trial.intermediate_values:
            return trial
        # A pruned trial never changes again, and samplers read every trial on every call: its
        # view is built once (copying and scoring each call cost TPE ten times its own work).
        # Number, start, length and last loss guard against another storage reusing the id.
        key = None
        if trial.state == TrialState.PRUNED:
            curve = trial.intermediate_values
            key = (
                trial._trial_id, trial.number, trial.datetime_start, maximize, len(curve),
                next(reversed(curve.values())),
            )
            cached = self._pruned_views.get(key)
            if cached is not None:
                return cached
        values = self.mapped_curve(trial, maximize)
        # A shallow copy: the study's (possibly cached) trial is never modified.
        view = copy.copy(trial)
        view.intermediate_values = dict(values)
        if trial.values is not None and len(trial.values) == 1:
            # Optuna stores a pruned trial's last intermediate value as its value.
            view.values = [values[max(values)]]
        if key is not None:
            if len(self._pruned_views) >= _MAX_CACHED_CURVES:
                self._pruned_views.clear()
            self._pruned_views[key] = view
        return view

    def mapped_curve(self, trial: FrozenTrial, maximize: bool) -> dict[int, float]:
        """The trial's score at each reported step, in the study's direction. Do not modify."""
        key = (maximize, tuple(trial.intermediate_values.items()))
        values = self._cache.get(key)
        if values is None:
            scores = scores_by_step(self._estimator, trial)
            values = {step: -s if maximize else s for step, s in scores.items()}
            if len(self._cache) >= _MAX_CACHED_CURVES:
                self._cache.clear()
            self._cache[key] = values
        return values


def maximizes(study: optuna.Study) -> bool | None:
    """Whether the study maximises; ``None`` for several objectives (no single direction)."""
    directions = study.directions
    if len(directions) != 1:
        return None
    return directions[0] == StudyDirection.MAXIMIZE


class SoTLStudyView(optuna.Study):
    """A stand-in for ``study`` that differs only in the trials ``get_trials`` returns.

    Every other attribute (storage, directions, ``stop``, ``_BracketStudy``'s bracket filter...)
    is the wrapped study's own, so the view composes with any study wrapper: trials are read
    through the wrapped study's ``get_trials``/``_get_trials`` and only then transformed.
    """

    _OWN = frozenset(
        {
            "get_trials",
            "_get_trials",
            "trials",
            "_sotl_study",
            "_sotl_transform",
            "_sotl_maximize",
            "_sotl_transformed",
            "direction",
        }
    )

    def __init__(self, study: optuna.Study, transform: ScoreTransform) -> None:
        # Study.__init__ is not called, unlike in the bracket study: it would read the storage on
        # every sampler call, and every other attribute must stay the wrapped study's own.
        object.__setattr__(self, "_sotl_study", study)
        object.__setattr__(self, "_sotl_transform", transform)

    def __getattribute__(self, name: str) -> Any:
        if name in SoTLStudyView._OWN or (name.startswith("__") and name.endswith("__")):
            return object.__getattribute__(self, name)
        return getattr(object.__getattribute__(self, "_sotl_study"), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._sotl_study, name, value)

    def _sotl_maximize(self) -> bool | None:
        return maximizes(self._sotl_study)

    def _sotl_transformed(self, trials: list[FrozenTrial]) -> list[FrozenTrial]:
        maximize = self._sotl_maximize()
        # Several objectives: the scores stay lower-is-better, the view's ``direction``.
        return self._sotl_transform(trials, bool(maximize))

    @property
    def direction(self) -> StudyDirection:
        study = self._sotl_study
        if len(study.directions) == 1:
            return study.direction
        # A multi-objective study has no single direction, yet TPE ranks PRUNED trials by "the
        # last intermediate value in the study's direction" even then (and raises asking for it).
        # In this view those values are SoTL scores, lower is better.
        return StudyDirection.MINIMIZE

    # Both readers pass their arguments through unchanged: the wrapped study (perhaps a bracket
    # study) decides which trials there are, the view only rewrites them.
    def get_trials(self, *args: Any, **kwargs: Any) -> list[FrozenTrial]:
        return self._sotl_transformed(self._sotl_study.get_trials(*args, **kwargs))

    def _get_trials(self, *args: Any, **kwargs: Any) -> list[FrozenTrial]:
        return self._sotl_transformed(self._sotl_study._get_trials(*args, **kwargs))

    @property
    def trials(self) -> list[FrozenTrial]:
        return self.get_trials(deepcopy=True, states=None)

    def __repr__(self) -> str:
        return f"SoTLStudyView({self._sotl_study!r})"
