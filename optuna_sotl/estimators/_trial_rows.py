"""What :class:`~optuna_sotl.SelfCalibratingEstimator` reads of each trial at a step, as arrays.

The estimator ranks a set of trials and calibrates on part of it, so every decision reads every
compared trial. A finished trial never changes, so the pruners' index
(``optuna_sotl.pruners._score_index``) reads it once into :class:`TrialRows` and keeps the rows;
a decision then reads only the running trials and works on arrays. The estimator's own
``score_trials`` builds its rows here too, so both paths score alike.
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
import math

import numpy as np
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_sotl._attrs import VAL_METRIC_CURVE
from optuna_sotl._scoring import score_at_step
from optuna_sotl.estimators._base import BaseEstimator


@dataclasses.dataclass(frozen=True)
class TrialRows:
    """One row per trial: the columns the self-calibrating choice and its scores are made of.

    ``loss`` is the training-loss estimator's lower-is-better score at the step (``+inf`` for a
    non-finite loss), ``metric`` the validation metric the reporter stored at the step as
    reported (NaN: none), ``best_high`` and ``best_low`` the highest and lowest metric stored up
    to the step (NaN wherever ``metric`` is), ``last_metric_step`` the last step with a finite
    metric (-1: none), ``value`` the objective of a COMPLETE trial (NaN otherwise), ``trials``
    the trials themselves, read again only for a calibration target at a later step.
    """

    trials: np.ndarray
    numbers: np.ndarray
    loss: np.ndarray
    metric: np.ndarray
    best_high: np.ndarray
    best_low: np.ndarray
    last_metric_step: np.ndarray
    value: np.ndarray

    @classmethod
    def of(
        cls, trials: Sequence[FrozenTrial], step: int, loss_estimator: BaseEstimator
    ) -> TrialRows:
        """The rows of ``trials``, every one of which reported ``step``."""
        curves = [trial.user_attrs.get(VAL_METRIC_CURVE) for trial in trials]
        objects = np.empty(len(trials), dtype=object)
        objects[:] = list(trials)
        metric = np.array([_metric_at(curve, step) for curve in curves], dtype=np.float64)
        best_high, best_low = _best_so_far(curves, step, metric)
        return cls(
            trials=objects,
            numbers=np.fromiter((t.number for t in trials), np.int64, len(trials)),
            loss=score_at_step(loss_estimator, trials, step),
            metric=metric,
            best_high=best_high,
            best_low=best_low,
            last_metric_step=np.fromiter(map(_last_reported, curves), np.int64, len(trials)),
            value=np.array(
                [
                    t.value if t.state == TrialState.COMPLETE and t.value is not None else math.nan
                    for t in trials
                ],
                dtype=np.float64,
            ),
        )

    @classmethod
    def concat(cls, parts: Sequence[TrialRows]) -> TrialRows:
        return cls(*(np.concatenate([getattr(part, name) for part in parts]) for name in _FIELDS))

    def take(self, index: np.ndarray | slice) -> TrialRows:
        """The rows at ``index`` (positions or a boolean mask), in its order."""
        return TrialRows(*(getattr(self, name)[index] for name in _FIELDS))

    def __len__(self) -> int:
        return int(self.numbers.size)

    def metric_at(self, step: int) -> np.ndarray:
        """Each trial's stored validation metric at ``step`` (NaN: none), read from its curve."""
        return np.array(
            [_metric_at(t.user_attrs.get(VAL_METRIC_CURVE), step) for t in self.trials],
            dtype=np.float64,
        )


# Looked up once: a pruner concatenates and slices rows at every decision.
_FIELDS = tuple(field.name for field in dataclasses.fields(TrialRows))


def _metric_at(curve: object, step: int) -> float:
    value = curve[step] if isinstance(curve, list) and step < len(curve) else None
    return math.nan if value is None else float(value)


def _best_so_far(
    curves: Sequence[object], step: int, metric: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    # The reporter stores finite floats or None, so a None is the only gap to skip.
    high = np.full(len(curves), np.nan)
    low = np.full(len(curves), np.nan)
    for index, curve in enumerate(curves):
        if math.isnan(metric[index]):
            continue
        assert isinstance(curve, list)  # a metric at the step came from a curve
        values = [float(v) for v in curve[: step + 1] if v is not None]
        high[index], low[index] = max(values), min(values)
    return high, low


def _last_reported(curve: object) -> int:
    if not isinstance(curve, list):
        return -1
    for index in range(len(curve) - 1, -1, -1):
        value = curve[index]
        if isinstance(value, (int, float)) and math.isfinite(value):
            return index
    return -1
