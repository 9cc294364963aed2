"""The SoTL ranking of a study's trials, computed once and rendered by every front end.

:func:`rank_study` scores every trial that reached one step with a training-loss estimator,
measures how well that order agrees with the final values of the completed trials, and counts
the epochs pruning saved. It reads storage and returns a plain :class:`Ranking`; the sentences,
the text table and the figure style here are what the terminal report (``optuna_sotl.report``),
the optuna-dashboard note and figure (``optuna_sotl.dashboard``) and the demo's closing table
(``optuna_sotl.demo``) render it with. This package is internal: its names may change.
"""

from optuna_sotl.ranking._figures import bar_heights
from optuna_sotl.ranking._figures import complete_points
from optuna_sotl.ranking._figures import figure_titles
from optuna_sotl.ranking._figures import STATE_COLORS
from optuna_sotl.ranking._figures import use_log_scale
from optuna_sotl.ranking._rank import MIN_CORRELATED
from optuna_sotl.ranking._rank import rank_study
from optuna_sotl.ranking._rank import RankedTrial
from optuna_sotl.ranking._rank import Ranking
from optuna_sotl.ranking._text import agreement_sentence
from optuna_sotl.ranking._text import fill
from optuna_sotl.ranking._text import format_number
from optuna_sotl.ranking._text import ranking_table
from optuna_sotl.ranking._text import savings_sentence
from optuna_sotl.ranking._text import step_sentence


__all__ = [
    "MIN_CORRELATED",
    "RankedTrial",
    "Ranking",
    "STATE_COLORS",
    "agreement_sentence",
    "bar_heights",
    "complete_points",
    "figure_titles",
    "fill",
    "format_number",
    "rank_study",
    "ranking_table",
    "savings_sentence",
    "step_sentence",
    "use_log_scale",
]
