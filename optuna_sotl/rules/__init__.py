"""Rules: the scores of the trials at a step in, a prune-or-continue decision out."""

from optuna_sotl.rules._base import BaseRule
from optuna_sotl.rules._percentile import PercentileRule


__all__ = ["BaseRule", "PercentileRule"]
