"""PNG plots of the rank table and the replayed search (matplotlib, Agg, imported lazily)."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from optuna_sotl.curves._rank import RankTable
from optuna_sotl.curves._search_report import SearchSummary


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ImportError(
            "plots need matplotlib: pip install 'optuna-sotl[plot]' (or pip install matplotlib)."
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_rank(table: RankTable, path: str | os.PathLike[str]) -> None:
    """Spearman ρ against the budget T, one line per estimator."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    budgets = table.budgets
    for name in table.estimators:
        values = [table.value(budget, name) for budget in budgets]
        ax.plot(budgets, values, marker="o", markersize=3, label=name)
    if len(budgets) > 1 and budgets[-1] / budgets[0] >= 10:
        ax.set_xscale("log")
        ax.set_xticks(budgets, [str(budget) for budget in budgets])
        ax.minorticks_off()
    ax.set_xlabel("budget T (epochs)")
    ax.set_ylabel(f"Spearman ρ with {table.result_key}")
    ax.set_title(f"Rank correlation at T epochs ({table.n_archs} architectures)", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=130, format="png")  # exactly this path, whatever its suffix
    plt.close(fig)


def plot_search(summary: SearchSummary, path: str | os.PathLike[str]) -> None:
    """Test and validation regret against epochs spent: median line and inter-quartile band.

    One column per sampler, one row per regret; epochs with no result yet in the median are left
    blank.
    """
    plt = _pyplot()
    samplers = list(dict.fromkeys(config.name.split("/")[0] for config in summary.configs))
    pruners = list(dict.fromkeys(config.name.split("/")[1] for config in summary.configs))
    colors = {name: plt.get_cmap("tab10")(i % 10) for i, name in enumerate(pruners)}
    fig, axes = plt.subplots(
        2, len(samplers), figsize=(6.0 * len(samplers), 8.0), squeeze=False, sharex=True
    )
    budget = summary.result.budget
    # Every epoch is evaluated; a plot needs about a thousand points per line.
    stride = max(1, budget // 1000)
    grid = np.arange(0, budget + 1, stride)
    for row, (kind, label) in enumerate((("test", "test regret"), ("val", "validation regret"))):
        upper = 0.0
        for col, sampler in enumerate(samplers):
            ax = axes[row][col]
            for config in summary.configs:
                sampler_name, pruner_name = config.name.split("/")
                if sampler_name != sampler:
                    continue
                q1, median, q3 = (
                    np.where(np.isinf(q), np.nan, q) for q in config.quantiles[kind][:, grid]
                )
                color = colors[pruner_name]
                ax.plot(grid, median, color=color, label=pruner_name, linewidth=1.4)
                ax.fill_between(grid, q1, q3, color=color, alpha=0.15, linewidth=0)
                finite = q3[np.isfinite(q3)]
                # Scale to the later part of the search, where the lines separate.
                late = finite[len(finite) // 8 :] if finite.size else finite
                upper = max(upper, float(np.max(late)) if late.size else 0.0)
            ax.set_title(f"{sampler}: {label}", fontsize=10)
            key = summary.result.result_key if kind == "test" else summary.result.val_key
            ax.set_ylabel(f"{label} ({key} points)")
            ax.grid(True, alpha=0.3)
            if summary.target is not None and kind == "test":
                ax.axhline(
                    summary.target,
                    color="black",
                    linestyle=":",
                    linewidth=1,
                    label="best Optuna pruner, final median",
                )
            if row == 1:
                ax.set_xlabel("epochs spent")
        for col in range(len(samplers)):
            if upper > 0 and math.isfinite(upper):
                axes[row][col].set_ylim(0, upper * 1.05)
    axes[0][0].legend(fontsize=8, loc="upper right")
    n_seeds = len(summary.result.seeds)
    fig.suptitle(f"Replayed search: median and IQR over {n_seeds} seeds", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=130, format="png")  # exactly this path, whatever its suffix
    plt.close(fig)
