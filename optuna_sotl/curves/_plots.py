"""PNG plots of the rank table and the replayed search (matplotlib, Agg, imported lazily)."""

from __future__ import annotations

import os
from typing import Any

from optuna_sotl.curves._rank import RankTable


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
