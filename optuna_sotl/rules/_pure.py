"""The pruners' decisions as pure functions of numbers, used by the pruner classes and the replay.

A pruner class reads the scores of the trials at a step out of a storage; the fast replay of
:mod:`optuna_sotl.curves` keeps them in sorted lists. Both call these functions, so the decision
rule exists once and the differential test between the two checks only how the scores are found.
"""

from __future__ import annotations

from collections.abc import Sequence
import math

import numpy as np


# np.percentile interpolates with (b - a) * t, which is NaN when b is inf; the largest float keeps
# a diverged trial worst while leaving the interpolation finite.
WORST_FINITE = float(np.finfo(np.float64).max)


def percentile_bounds(n_scores: int, percentile: float) -> tuple[int, int, float]:
    """The two ranks (from 0, ascending) a percentile interpolates between, and the weight.

    Linear interpolation between the closest ranks, as ``np.percentile``'s default method.

    Example:

        .. code-block:: python

            from optuna_sotl.rules import percentile_bounds

            assert percentile_bounds(5, 50.0) == (2, 3, 0.0)
    """
    position = (n_scores - 1) * percentile / 100.0
    lower = int(position)
    upper = min(lower + 1, n_scores - 1)
    return lower, upper, position - lower


def interpolate(low: float, high: float, fraction: float) -> float:
    """``low + (high - low) * fraction`` with non-finite scores read as the worst finite one."""
    low = _finite(low)
    high = _finite(high)
    return low + (high - low) * fraction


def percentile_of_sorted(sorted_scores: Sequence[float], percentile: float) -> float:
    """The ``percentile``-th percentile of ascending ``sorted_scores``; NaN when empty.

    Example:

        .. code-block:: python

            from optuna_sotl.rules import percentile_of_sorted

            assert percentile_of_sorted([1.0, 2.0, 4.0], 50.0) == 2.0
    """
    if not len(sorted_scores):
        return math.nan
    lower, upper, fraction = percentile_bounds(len(sorted_scores), percentile)
    return interpolate(sorted_scores[lower], sorted_scores[upper], fraction)


def percentile_prunes(score: float, threshold: float) -> bool:
    """The percentile rule: stop a non-finite score or one worse (larger) than the threshold.

    A NaN threshold (no other trial to compare with) keeps a finite score.
    """
    return not math.isfinite(score) or score > threshold


def asha_promoted(
    n_better: int, n_members: int, reduction_factor: int, bootstrap_count: int
) -> bool:
    """ASHA's promotion test at one rung from the trial's rank alone.

    ``n_better``: rung members (other than the trial) with a strictly better (lower) score;
    ``n_members``: members including the trial. The trial is promoted when it ranks within the
    best ``n_members // reduction_factor`` (at least the best one), ties with the last promoted
    score included, unless the rung holds no more than ``bootstrap_count`` members.

    Example:

        .. code-block:: python

            from optuna_sotl.rules import asha_promoted

            assert asha_promoted(0, 3, 4, 0)  # best of a rung smaller than the factor
            assert not asha_promoted(1, 3, 4, 0)
    """
    if n_members <= bootstrap_count:
        return False
    # The trial is at or above the k-th best of the members iff fewer than k others beat it.
    return n_better < max(n_members // reduction_factor, 1)


def _finite(value: float) -> float:
    if math.isnan(value) or value == math.inf:
        return WORST_FINITE
    if value == -math.inf:
        return -WORST_FINITE
    return float(value)
