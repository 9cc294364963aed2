"""The Pareto pruning rule as a pure function: points in, a prune-or-continue decision out.

:class:`~optuna_sotl.SoTLParetoPruner` and the replay benchmark
``benchmarks/bench_multiobjective.py`` call the same function, so the benchmark measures exactly
the rule the pruner applies.
"""

from __future__ import annotations

import numpy as np


def dominated_count(point: np.ndarray, others: np.ndarray) -> int:
    """How many rows of ``others`` (``(N, K)``) dominate ``point`` (``(K,)``), all lower-is-better.

    A row dominates when it is no worse in every coordinate and better in at least one. NaN is
    read as ``+inf`` (worst), so a row with a NaN never dominates through that coordinate.
    """
    point = np.asarray(point, dtype=np.float64)
    others = np.asarray(others, dtype=np.float64)
    if others.size == 0:
        return 0
    point = np.where(np.isnan(point), np.inf, point)
    if np.isnan(others).any():
        others = np.where(np.isnan(others), np.inf, others)
    # Column by column: with few coordinates this is several times faster than all/any along
    # axis 1, and the pruner (and the benchmark replaying it) calls this at every report.
    no_worse = others[:, 0] <= point[0]
    better = others[:, 0] < point[0]
    for k in range(1, len(point)):
        no_worse &= others[:, k] <= point[k]
        better |= others[:, k] < point[k]
    return int(np.count_nonzero(no_worse & better))


def should_prune_dominated(point: np.ndarray, others: np.ndarray, max_fraction: float) -> bool:
    """Prune when more than ``max_fraction`` of ``others`` dominate ``point``.

    A point whose first coordinate (the SoTL score) is not finite is always pruned: a diverged
    run never recovers. With no others nothing dominates, so nothing is pruned.

    Example:

        .. code-block:: python

            import numpy as np
            from optuna_sotl.rules import should_prune_dominated

            others = np.array([[1.0, 1.0], [2.0, 3.0], [3.0, 0.5]])
            assert should_prune_dominated(np.array([2.5, 2.0]), others, 0.2)  # 1 of 3 dominate
            assert not should_prune_dominated(np.array([0.5, 2.0]), others, 0.2)
    """
    if not np.isfinite(point[0]):
        return True
    others = np.asarray(others, dtype=np.float64).reshape(-1, len(point))
    return dominated_count(point, others) > max_fraction * len(others)
