"""What both figures of the ranking share: titles, state colours and the axis scale.

The plotly figure (``optuna_sotl.dashboard``) and the matplotlib PNG (``optuna-sotl report
--png``) draw the same two panels from these, so that they look alike.
"""

from __future__ import annotations

import math

from optuna_sotl.ranking._rank import Ranking


# One colour per state, in both figures.
STATE_COLORS = {
    "COMPLETE": "#1f77b4",
    "PRUNED": "#ff7f0e",
    "RUNNING": "#7f7f7f",
    "FAIL": "#d62728",
    "WAITING": "#bcbd22",
}


def figure_titles(ranking: Ranking) -> tuple[str, str, str]:
    """The figure's title and its two panels' titles (left, right), for both figures."""
    # Short lines: the dashboard shows a saved figure in a card half the page wide.
    title = "SoTL ranking"
    if ranking.step is not None:
        title += f", {ranking.estimator_name} at step {ranking.step}"
    if ranking.spearman is not None and ranking.kendall is not None:
        title += (
            f"<br>vs final values: Spearman {ranking.spearman:+.2f}, "
            f"Kendall {ranking.kendall:+.2f} ({ranking.n_correlated} complete trials)"
        )
    else:
        title += f"<br>{ranking.n_correlated} complete trials: too few to correlate"
    return title, "Score by rank", "Final value vs score"


def bar_heights(ranking: Ranking) -> list[float | None]:
    """Each ranked trial's score, best first; None for a diverged (inf) one: it gets no bar."""
    return [
        row.score if row.score is not None and math.isfinite(row.score) else None
        for row in ranking.ranked
    ]


def complete_points(ranking: Ranking) -> list[tuple[int, float, float]]:
    """``(trial number, score, final value)`` of the complete trials with a finite score."""
    return [
        (row.number, row.score, row.value)
        for row in ranking.ranked
        if row.value is not None and row.score is not None and math.isfinite(row.score)
    ]


def use_log_scale(ranking: Ranking) -> bool:
    """Log axis when positive scores span more than two decades, as converging losses do."""
    finite = [score for score in bar_heights(ranking) if score is not None]
    return bool(finite) and min(finite) > 0 and max(finite) / min(finite) > 100
