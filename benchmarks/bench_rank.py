"""Rank quality of the estimators on the recorded curves: results/rank.md, rank.csv, rank.png."""

from __future__ import annotations

import argparse
import os
import sys


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import DEFAULT_DATA  # noqa: E402
from _common import header  # noqa: E402
from _common import require_data  # noqa: E402
from _common import results_path  # noqa: E402


# docs/data.md: T -> SoTL-E(E=1), SoTL, SoVL, val_acc at T.
REFERENCE = {
    1: (0.389, 0.389, 0.327, 0.342),
    5: (0.643, 0.527, 0.468, 0.543),
    10: (0.775, 0.632, 0.581, 0.666),
    20: (0.881, 0.750, 0.698, 0.781),
    30: (0.890, 0.808, 0.742, 0.828),
    50: (0.876, 0.854, 0.746, 0.927),
    100: (0.849, 0.880, 0.645, 0.960),
}
REFERENCE_COLUMNS = ("SoTL-E(E=1)", "SoTL", "SoVL", "val_acc@T")


def main() -> int:
    from optuna_sotl.curves import load_curves
    from optuna_sotl.curves import rank_estimators
    from optuna_sotl.curves._plots import plot_rank

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=DEFAULT_DATA)
    args = parser.parse_args()
    args.data = require_data(args.data)

    curves = load_curves(args.data)
    table = rank_estimators(curves)
    plot_rank(table, results_path("rank.png"))
    with open(results_path("rank.csv"), "w", encoding="utf-8") as file:
        file.write(table.to_csv())

    lines = []
    if os.path.basename(args.data) == "spikenas_cifar10.npz":
        mismatches = [
            (budget, name, expected, round(table.value(budget, name), 3))
            for budget, values in REFERENCE.items()
            for name, expected in zip(REFERENCE_COLUMNS, values)
            if round(table.value(budget, name), 3) != expected
        ]
        verdict = "**met**" if not mismatches else f"**not met**: {mismatches}"
        lines += [
            "## Goal: reproduce the reference figures of `docs/data.md`",
            "",
            f"All {len(REFERENCE) * len(REFERENCE_COLUMNS)} Spearman figures (SoTL-E(E=1), SoTL, "
            f"SoVL, val_acc at T for T in {sorted(REFERENCE)}) equal the reference to 3 decimals: "
            f"{verdict}.",
            "",
        ]
    with open(results_path("rank.md"), "w", encoding="utf-8") as file:
        file.write(
            header(
                "Estimator rank quality on recorded learning curves",
                [f"Data: `{os.path.basename(args.data)}`; no randomness (no seeds)"],
            )
        )
        file.write("\n![Spearman rho against T](rank.png)\n\n")
        file.write("\n".join(lines) + ("\n" if lines else ""))
        file.write(table.to_markdown().replace(curves.source, os.path.basename(curves.source)))
        file.write(
            "\nTop-10 % precision: of the ceil(N/10) architectures an estimator ranks best (ties "
            "in file order), the share whose result is at least the true 10th-percentile-best "
            "result. CSV of every figure with its n: `rank.csv`.\n"
        )
    print(open(results_path("rank.md"), encoding="utf-8").read())
    return 0


if __name__ == "__main__":
    sys.exit(main())
