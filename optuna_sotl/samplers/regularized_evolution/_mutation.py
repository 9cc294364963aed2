"""Uniform sampling and one-step mutation of a value within an Optuna distribution."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution


# Continuous and log-int mutations redraw until the value changes; after this many equal draws
# (a log-int range of two values, or a float range of width ~0) the neighbour is taken.
_MAX_REDRAWS = 64


def sample_uniform(distribution: BaseDistribution, rng: np.random.Generator) -> Any:
    """A value drawn uniformly from ``distribution`` (log-uniformly when it is ``log``)."""
    if isinstance(distribution, CategoricalDistribution):
        return distribution.choices[int(rng.integers(len(distribution.choices)))]
    if isinstance(distribution, IntDistribution):
        if distribution.log:
            return _log_int(distribution, rng)
        return _grid_value(distribution, int(rng.integers(_grid_size(distribution))))
    if isinstance(distribution, FloatDistribution):
        if distribution.step is not None:
            return _grid_value(distribution, int(rng.integers(_grid_size(distribution))))
        return _continuous(distribution, rng)
    raise TypeError(f"unsupported distribution {distribution!r}.")


def can_mutate(distribution: BaseDistribution) -> bool:
    """Whether the distribution holds another value than any given one."""
    return (
        isinstance(distribution, (CategoricalDistribution, IntDistribution, FloatDistribution))
        and not distribution.single()
    )


def mutate(distribution: BaseDistribution, value: Any, rng: np.random.Generator) -> Any:
    """A value of ``distribution`` other than ``value``, drawn as :func:`sample_uniform` would.

    Categorical: another choice, uniformly. Int, and float with a step: another point of the
    grid ``low + k * step``, uniformly (log-uniformly for a log int). Float: redrawn in the range,
    log-uniformly for ``log=True``.
    """
    if not can_mutate(distribution):
        raise ValueError(f"distribution {distribution!r} has a single value to mutate to.")
    if isinstance(distribution, CategoricalDistribution):
        index = distribution.to_internal_repr(value)
        return distribution.choices[_other_index(int(index), len(distribution.choices), rng)]
    if isinstance(distribution, IntDistribution) and distribution.log:
        for _ in range(_MAX_REDRAWS):
            candidate = _log_int(distribution, rng)
            if candidate != value:
                return candidate
        return value + 1 if value < distribution.high else value - 1
    assert isinstance(distribution, (IntDistribution, FloatDistribution))  # can_mutate's types
    if isinstance(distribution, IntDistribution) or distribution.step is not None:
        index = int(round((value - distribution.low) / _step(distribution)))
        return _grid_value(distribution, _other_index(index, _grid_size(distribution), rng))
    for _ in range(_MAX_REDRAWS):
        drawn = _continuous(distribution, rng)
        if drawn != value:
            return drawn
    return distribution.high if value != distribution.high else distribution.low


def _other_index(index: int, size: int, rng: np.random.Generator) -> int:
    # Uniform over the size - 1 other indices, without redraws.
    other = int(rng.integers(size - 1))
    return other + 1 if other >= index else other


def _step(distribution: IntDistribution | FloatDistribution) -> float:
    return 1 if distribution.step is None else distribution.step


def _grid_size(distribution: IntDistribution | FloatDistribution) -> int:
    # Optuna adjusts ``high`` so that ``high - low`` is a multiple of the step.
    return int(round((distribution.high - distribution.low) / _step(distribution))) + 1


def _grid_value(distribution: IntDistribution | FloatDistribution, index: int) -> Any:
    if isinstance(distribution, IntDistribution):
        return int(distribution.low + index * distribution.step)
    value = distribution.low + index * _step(distribution)
    return float(min(max(value, distribution.low), distribution.high))


def _log_int(distribution: IntDistribution, rng: np.random.Generator) -> int:
    # Each integer owns [k - 0.5, k + 0.5), drawn log-uniformly, as in Optuna's RandomSampler.
    low = math.log(distribution.low - 0.5)
    high = math.log(distribution.high + 0.5)
    value = int(round(math.exp(rng.uniform(low, high))))
    return min(max(value, distribution.low), distribution.high)


def _continuous(distribution: FloatDistribution, rng: np.random.Generator) -> float:
    if distribution.log:
        value = math.exp(rng.uniform(math.log(distribution.low), math.log(distribution.high)))
    else:
        value = rng.uniform(distribution.low, distribution.high)
    return float(min(max(value, distribution.low), distribution.high))
