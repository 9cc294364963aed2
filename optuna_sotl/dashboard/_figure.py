"""The ranking as a plotly figure for optuna-dashboard: scores by rank, values by score."""

from __future__ import annotations

import math
from typing import Any

from optuna_sotl._ranking import format_number
from optuna_sotl._ranking import Ranking


# One colour per state, shared with the matplotlib figure of ``optuna-sotl report --png``.
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


def use_log_scale(scores: list[float]) -> bool:
    """Log axis when positive scores span more than two decades, as converging losses do."""
    finite = [s for s in scores if math.isfinite(s)]
    return bool(finite) and min(finite) > 0 and max(finite) / min(finite) > 100


def ranking_figure(ranking: Ranking) -> Any:
    """A ``plotly.graph_objects.Figure`` of ``ranking``; needs plotly."""
    from plotly.subplots import make_subplots
    import plotly.graph_objects as go

    title, left, right = figure_titles(ranking)
    figure = make_subplots(rows=1, cols=2, subplot_titles=(left, right), horizontal_spacing=0.22)
    ranked = ranking.ranked
    # Plain lists, not numpy arrays: plotly would store those in a binary encoding that older
    # dashboard front ends cannot read. A diverged (inf) score has no bar; its label says so.
    for state in sorted({row.state for row in ranked}):
        rows = [row for row in ranked if row.state == state]
        figure.add_trace(
            go.Bar(
                x=[f"#{row.number}" for row in rows],
                y=[row.score if math.isfinite(row.score) else None for row in rows],
                name=state,
                legendgroup=state,
                marker_color=STATE_COLORS.get(state, "#17becf"),
                hovertext=[
                    f"rank {row.rank}, trial {row.number}, {row.epochs} epochs, "
                    f"score {format_number(row.score)}, value {format_number(row.value)}"
                    for row in rows
                ],
            ),
            row=1,
            col=1,
        )
    complete = [row for row in ranked if row.value is not None and math.isfinite(row.score)]
    figure.add_trace(
        go.Scatter(
            x=[row.score for row in complete],
            y=[row.value for row in complete],
            mode="markers+text",
            text=[f"#{row.number}" for row in complete],
            textposition="top center",
            name="complete trials",
            marker={"color": STATE_COLORS["COMPLETE"], "size": 9},
            showlegend=False,
        ),
        row=1,
        col=2,
    )
    scores = [row.score for row in ranked]
    log = use_log_scale(scores)
    figure.update_xaxes(
        title_text="trial, best first",
        categoryorder="array",
        categoryarray=[f"#{row.number}" for row in ranked],
        row=1,
        col=1,
    )
    figure.update_yaxes(
        title_text=ranking.estimator_name, type="log" if log else "linear", row=1, col=1
    )
    figure.update_xaxes(
        title_text=f"{ranking.estimator_name} at step {ranking.step}",
        type="log" if log else "linear",
        row=1,
        col=2,
    )
    figure.update_yaxes(title_text=f"final value ({ranking.direction or 'n/a'})", row=1, col=2)
    figure.update_layout(
        title={"text": title, "font": {"size": 14}},
        template="plotly_white",
        margin={"t": 90},
        legend={"orientation": "h", "yanchor": "top", "y": -0.25, "x": 0},
    )
    return figure
