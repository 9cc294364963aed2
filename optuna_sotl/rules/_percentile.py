from __future__ import annotations

import numpy as np

from optuna_sotl._checks import check_real_in
from optuna_sotl.rules._base import BaseRule
from optuna_sotl.rules._pure import interpolate
from optuna_sotl.rules._pure import percentile_bounds
from optuna_sotl.rules._pure import percentile_prunes


class PercentileRule(BaseRule):
    """Stop a trial whose score is worse (larger) than the ``percentile``-th percentile of others.

    Scores are lower-is-better, so ``percentile=25`` keeps roughly the best quarter and
    ``percentile=50`` the better half. A score equal to the percentile is kept. A non-finite own
    score always stops; non-finite other scores count as the worst.

    Example:

        .. code-block:: python

            import numpy as np
            from optuna_sotl.rules import PercentileRule

            rule = PercentileRule(50.0)
            assert rule.should_prune(3.0, np.array([1.0, 2.0, 4.0]))
            assert not rule.should_prune(1.5, np.array([1.0, 2.0, 4.0]))

    Args:
        percentile:
            A float in ``[0, 100]``.
    """

    def __init__(self, percentile: float = 50.0) -> None:
        self._percentile = check_real_in("percentile", percentile, 0.0, 100.0)

    @property
    def percentile(self) -> float:
        return self._percentile

    def threshold(self, other_scores: np.ndarray) -> float:
        """The score at the percentile of ``other_scores``; NaN when there are none.

        Linear interpolation between the closest ranks, as ``np.percentile``'s default; computed
        with a partial sort, since the pruners ask on every report.
        """
        scores = np.asarray(other_scores, dtype=np.float64)
        if scores.size == 0:
            return float("nan")
        # The two ranks by a partial sort (the pruners ask on every report), then the same
        # interpolation as the replay's sorted lists: one rule, two ways to find the ranks.
        lower, upper, fraction = percentile_bounds(scores.size, self._percentile)
        partitioned = np.partition(np.where(np.isnan(scores), np.inf, scores), (lower, upper))
        return interpolate(float(partitioned[lower]), float(partitioned[upper]), fraction)

    def should_prune(self, score: float, other_scores: np.ndarray) -> bool:
        return percentile_prunes(float(score), self.threshold(other_scores))

    def __repr__(self) -> str:
        return f"PercentileRule(percentile={self._percentile!r})"
