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
from optuna_sotl.curves._replay import fast_replay
from optuna_sotl.curves._replay import PrunerSpec
from optuna_sotl.curves._replay import ReplayData
from optuna_sotl.curves._replay import SamplerSpec
from optuna_sotl.curves._search import optuna_replay
from optuna_sotl.curves._search import run_search
from optuna_sotl.curves._search import SearchResult
from optuna_sotl.curves._search_configs import search_configs
from optuna_sotl.curves._search_configs import SearchConfig


__all__ = [
    "ConvertSummary",
    "LearningCurves",
    "PrunerSpec",
    "RankEntry",
    "RankTable",
    "ReplayData",
    "SamplerSpec",
    "SearchConfig",
    "SearchResult",
    "convert_spikenas",
    "default_rank_entries",
    "estimator_entry",
    "fast_replay",
    "load_curves",
    "optuna_replay",
    "rank_estimators",
    "run_search",
    "search_configs",
]
