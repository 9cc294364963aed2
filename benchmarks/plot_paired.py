"""Paired differences of `optuna-sotl curves search --csv` files, one panel per file and regret.

    python benchmarks/plot_paired.py OUT.png LABEL=FILE.csv [LABEL=FILE.csv ...]

Each configuration's Δ (its mean regret minus that of the run's best Optuna configuration, the
columns ``*_diff_mean`` and ``*_diff_ci_*``) at the full budget, with its 95 % paired bootstrap
CI, so that candidates can be compared across data sets at a glance.
"""

from __future__ import annotations

import csv
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 2 or any("=" not in arg for arg in argv[1:]):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = [arg.split("=", 1) for arg in argv[1:]]
    fig, axes = plt.subplots(
        2, len(files), figsize=(4.6 * len(files), 6), squeeze=False
    )
    for column, (label, path) in enumerate(files):
        with open(path, encoding="utf-8") as file:
            rows = list(csv.DictReader(file))
        full = max(int(row["epochs"]) for row in rows)
        rows = [row for row in rows if int(row["epochs"]) == full]
        for line, kind in enumerate(("val", "test")):
            ax = axes[line][column]
            names = [row["configuration"] for row in rows]
            means = [float(row[f"{kind}_diff_mean"]) for row in rows]
            low = [m - float(row[f"{kind}_diff_ci_low"]) for m, row in zip(means, rows)]
            high = [float(row[f"{kind}_diff_ci_high"]) - m for m, row in zip(means, rows)]
            ax.errorbar(means, range(len(rows)), xerr=[low, high], fmt="o", capsize=3)
            ax.axvline(0.0, color="grey", lw=0.8)
            ax.set_yticks(range(len(rows)), names, fontsize=7)
            ax.set_xlabel(f"Δ {kind} regret vs {rows[0][f'{kind}_diff_vs']} (points)", fontsize=8)
            ax.set_title(f"{label}, {full} epochs", fontsize=9)
            ax.grid(True, axis="x", alpha=0.3)
    fig.suptitle("Paired Δ regret at the full budget, 95 % bootstrap CI (left of 0: better)")
    fig.tight_layout()
    fig.savefig(argv[0], dpi=130)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
