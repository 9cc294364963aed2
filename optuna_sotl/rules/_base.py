"""The rule interface: scores in, a prune decision out."""

from __future__ import annotations

import abc

import numpy as np


class BaseRule(abc.ABC):
    """Decides from lower-is-better scores whether one trial should stop.

    A rule sees only numbers: the trial's own score at a step and the scores of the other trials at
    that step. It knows nothing of storages, curves or study directions, so any estimator can be
    paired with any rule.

    Example:

        .. code-block:: python

            import numpy as np
            from optuna_sotl import BaseRule


            class WorstOfAll(BaseRule):
                def should_prune(self, score, other_scores):
                    return bool(other_scores.size) and score > other_scores.max()


            assert WorstOfAll().should_prune(3.0, np.array([1.0, 2.0]))
    """

    @abc.abstractmethod
    def should_prune(self, score: float, other_scores: np.ndarray) -> bool:
        """Whether the trial with ``score`` should stop, given ``other_scores`` (may hold inf)."""
