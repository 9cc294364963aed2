from __future__ import annotations

import numpy as np

from optuna_sotl._checks import check_real_in
from optuna_sotl.rules._base import BaseRule


# np.percentile interpolates with (b - a) * t, which is NaN when b is inf; the largest float keeps
# a diverged trial worst while leaving the interpolation finite.
_WORST_FINITE = np.finfo(np.float64).max


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
        scores = np.nan_to_num(
            np.asarray(other_scores, dtype=np.float64),
            nan=_WORST_FINITE,
            posinf=_WORST_FINITE,
            neginf=-_WORST_FINITE,
        )
        if scores.size == 0:
            return float("nan")
        position = (scores.size - 1) * self._percentile / 100.0
        lower = int(position)
        upper = min(lower + 1, scores.size - 1)
        partitioned = np.partition(scores, (lower, upper))
        low, high = partitioned[lower], partitioned[upper]
        return float(low + (high - low) * (position - lower))

    def should_prune(self, score: float, other_scores: np.ndarray) -> bool:
        if not np.isfinite(score):
            return True
        threshold = self.threshold(other_scores)
        return bool(score > threshold)

    def __repr__(self) -> str:
        return f"PercentileRule(percentile={self._percentile!r})"
