from __future__ import annotations

import math

import numpy as np
import pytest

from optuna_sotl import PercentileRule


@pytest.mark.parametrize("size", [1, 2, 3, 10, 101, 1000])
@pytest.mark.parametrize("percentile", [0.0, 12.5, 25.0, 50.0, 99.9, 100.0])
def test_threshold_is_numpys_linear_percentile(size: int, percentile: float) -> None:
    scores = np.random.default_rng(size).normal(size=size)
    assert PercentileRule(percentile).threshold(scores) == pytest.approx(
        np.percentile(scores, percentile)
    )


def test_prunes_strictly_worse_keeps_ties_and_treats_non_finite_as_worst() -> None:
    rule = PercentileRule(50.0)
    others = np.array([1.0, 2.0, 3.0])
    assert rule.should_prune(2.5, others)
    assert not rule.should_prune(2.0, others)
    assert rule.should_prune(math.nan, others)
    assert rule.should_prune(math.inf, others)
    assert not rule.should_prune(1e6, np.array([1.0, math.inf, math.nan]))
    assert not rule.should_prune(1.0, np.array([]))


@pytest.mark.parametrize(
    "value, error", [(100.5, ValueError), (-0.1, ValueError), ("5", TypeError)]
)
def test_invalid_percentile(value, error) -> None:
    with pytest.raises(error, match="percentile"):
        PercentileRule(value)
