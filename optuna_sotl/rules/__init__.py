"""Rules: the scores of the trials at a step in, a prune-or-continue decision out.

:class:`PercentileRule` compares one score with the others'; :func:`should_prune_dominated`
compares points (a score and costs) by Pareto dominance, for
:class:`~optuna_sotl.SoTLParetoPruner`.
"""

from optuna_sotl.rules._base import BaseRule
from optuna_sotl.rules._dominance import dominated_count
from optuna_sotl.rules._dominance import should_prune_dominated
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
    "dominated_count",
    "interpolate",
    "percentile_bounds",
    "percentile_of_sorted",
    "percentile_prunes",
    "should_prune_dominated",
]
