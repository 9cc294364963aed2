"""Recorded learning curves: building, loading and ranking them, replaying searches on them.

Everything here reads a file in the documented ``.npz`` layout (see :func:`load_curves`), so the
same tools run on any set of recorded training runs. Importing this package does not import
matplotlib or scipy; they are imported when a table is computed or a plot drawn.
"""

from optuna_sotl.curves._convert import convert_spikenas
from optuna_sotl.curves._convert import ConvertSummary
from optuna_sotl.curves._loader import LearningCurves
from optuna_sotl.curves._loader import load_curves
from optuna_sotl.curves._rank import default_rank_entries
from optuna_sotl.curves._rank import estimator_entry
from optuna_sotl.curves._rank import rank_estimators
from optuna_sotl.curves._rank import RankEntry
from optuna_sotl.curves._rank import RankTable
from optuna_sotl.curves._search import replay_search
from optuna_sotl.curves._search import run_search
from optuna_sotl.curves._search import RunTrace
from optuna_sotl.curves._search import SearchResult
from optuna_sotl.curves._search_configs import register_pruner
from optuna_sotl.curves._search_configs import register_sampler
from optuna_sotl.curves._search_configs import search_configs
from optuna_sotl.curves._search_configs import SearchConfig


__all__ = [
    "ConvertSummary",
    "LearningCurves",
    "RankEntry",
    "RankTable",
    "RunTrace",
    "SearchConfig",
    "SearchResult",
    "convert_spikenas",
    "default_rank_entries",
    "estimator_entry",
    "load_curves",
    "rank_estimators",
    "register_pruner",
    "register_sampler",
    "replay_search",
    "run_search",
    "search_configs",
]
