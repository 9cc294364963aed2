"""``optuna-sotl report --png``: the ranking's two panels drawn with matplotlib into a file."""

from __future__ import annotations

import math
import os

from optuna_sotl.ranking import bar_heights
from optuna_sotl.ranking import complete_points
from optuna_sotl.ranking import figure_titles
from optuna_sotl.ranking import Ranking
from optuna_sotl.ranking import STATE_COLORS
from optuna_sotl.ranking import use_log_scale


def write_png(ranking: Ranking, path: str | os.PathLike[str]) -> None:
    """Draw ``ranking`` (scores by rank, final values by score) into the PNG file ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.patches import Patch
    import matplotlib.pyplot as plt

    title, left, right = figure_titles(ranking)
    ranked = ranking.ranked
    figure, (bars, scatter) = plt.subplots(1, 2, figsize=(12, 5))
    try:
        figure.suptitle(title.replace("<br>", "\n"))
        labels = [f"#{row.number}" for row in ranked]
        # A diverged trial (inf score) keeps its place on the axis with no bar.
        heights = [math.nan if h is None else h for h in bar_heights(ranking)]
        colors = [STATE_COLORS.get(row.state, "#17becf") for row in ranked]
        bars.bar(range(len(ranked)), heights, color=colors)
        bars.set_xticks(range(len(ranked)), labels, rotation=90 if len(ranked) > 20 else 0)
        bars.set_title(left + ", lower is better")
        bars.set_xlabel("trial, best first")
        bars.set_ylabel(ranking.estimator_name)
        states = sorted({row.state for row in ranked})
        bars.legend(handles=[Patch(color=STATE_COLORS.get(s, "#17becf"), label=s) for s in states])

        points = complete_points(ranking)
        scatter.scatter(
            [score for _, score, _ in points],
            [value for _, _, value in points],
            color=STATE_COLORS["COMPLETE"],
        )
        for number, score, value in points:
            scatter.annotate(
                f"#{number}", (score, value), textcoords="offset points", xytext=(3, 3)
            )
        scatter.set_title(right)
        scatter.ticklabel_format(axis="y", useOffset=False)
        scatter.set_xlabel(f"{ranking.estimator_name} at step {ranking.step}")
        scatter.set_ylabel(f"final value ({ranking.direction or 'n/a'})")
        if use_log_scale(ranking):
            bars.set_yscale("log")
            scatter.set_xscale("log")
        figure.tight_layout()
        figure.savefig(path, dpi=100, format="png")  # exactly this path, whatever its suffix
    finally:
        plt.close(figure)
