from __future__ import annotations

import abc

import numpy as np


class BaseRule(abc.ABC):
    """Decides from lower-is-better scores whether one trial should stop.

    A rule sees only numbers: the trial's own score at a step and the scores of the other trials at
    that step. It knows nothing of storages, curves or study directions, so any estimator can be
    paired with any rule.
    """

    @abc.abstractmethod
    def should_prune(self, score: float, other_scores: np.ndarray) -> bool:
        """Return whether the trial with ``score`` should stop, given ``other_scores`` (may hold inf)."""
