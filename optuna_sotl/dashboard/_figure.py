"""The ranking as a plotly figure for optuna-dashboard: scores by rank, values by score."""

from __future__ import annotations

from typing import Any

from optuna_sotl.ranking import bar_heights
from optuna_sotl.ranking import complete_points
from optuna_sotl.ranking import figure_titles
from optuna_sotl.ranking import format_number
from optuna_sotl.ranking import Ranking
from optuna_sotl.ranking import STATE_COLORS
from optuna_sotl.ranking import use_log_scale


def ranking_figure(ranking: Ranking) -> Any:
    """A ``plotly.graph_objects.Figure`` of ``ranking``; needs plotly."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    title, left, right = figure_titles(ranking)
    figure = make_subplots(rows=1, cols=2, subplot_titles=(left, right), horizontal_spacing=0.22)
    ranked = ranking.ranked
    height_of = {row.number: height for row, height in zip(ranked, bar_heights(ranking))}
    # Plain lists, not numpy arrays: plotly would store those in a binary encoding that older
    # dashboard front ends cannot read. A diverged (inf) score has no bar; its label says so.
    for state in sorted({row.state for row in ranked}):
        rows = [row for row in ranked if row.state == state]
        figure.add_trace(
            go.Bar(
                x=[f"#{row.number}" for row in rows],
                y=[height_of[row.number] for row in rows],
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
    points = complete_points(ranking)
    figure.add_trace(
        go.Scatter(
            x=[score for _, score, _ in points],
            y=[value for _, _, value in points],
            mode="markers+text",
            text=[f"#{number}" for number, _, _ in points],
            textposition="top center",
            name="complete trials",
            marker={"color": STATE_COLORS["COMPLETE"], "size": 9},
            showlegend=False,
        ),
        row=1,
        col=2,
    )
    log = use_log_scale(ranking)
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
