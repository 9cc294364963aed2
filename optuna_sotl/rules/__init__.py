"""Rules: the scores of the trials at a step in, a prune-or-continue decision out."""

from optuna_sotl.rules._base import BaseRule
from optuna_sotl.rules._percentile import PercentileRule
from optuna_sotl.rules._pure import asha_promoted
from optuna_sotl.rules._pure import interpolate
from optuna_sotl.rules._pure import percentile_bounds
from optuna_sotl.rules._pure import percentile_of_sorted
from optuna_sotl.rules._pure import percentile_prunes


__all__ = [
    "BaseRule",
    "PercentileRule",
    "asha_promoted",
    "interpolate",
    "percentile_bounds",
    "percentile_of_sorted",
    "percentile_prunes",
]
