"""Offline evaluation of the self-calibrating estimator: results/calibration.md, .csv and .png.

Small studies: calibration sets of 20 and 30 architectures (their final validation accuracy only),
drawn at random many times (seeds 0..N-1), on the whole file and on random subsets of 200-300
architectures; the other architectures are scored and compared with SoTL-E and the validation
metric on those same architectures. Also the large-study setting (10 % of the file).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import DEFAULT_DATA  # noqa: E402
from _common import header  # noqa: E402
from _common import require_data  # noqa: E402
from _common import results_path  # noqa: E402


BUDGETS = (5, 10, 20, 30, 50, 100)
SUBSET = (200, 300)
NOTES = """
CSV of every mean: `calibration.csv`. The calibration target is the final validation accuracy,
what a study knows of its completed trials; the test accuracy only scores the held-out
architectures. "metric weight" is the mean weight of the validation metric's ranks in the
estimator's blend (0: SoTL-E, ½: the rank mean, 1: the metric alone).

**How the rule was chosen, and what that means for these numbers.** With 20 calibration trials
the gap the estimator must detect is small next to the noise: on this file the rank mean is
0.02–0.03 *worse* than SoTL-E at T = 5–20 and 0.05 *better* at T = 50, while the standard
deviation of the difference of the two Spearman ρ over random sets of 20 is 0.04–0.07. Any rule
trades the early budgets against T = 50. Several rules were compared on draws that are *not* the
ones reported here (seeds 1000–1199, whole file and subsets): a hard switch to the rank mean
once it wins at least half of the bootstrap resamples (smallest margin −0.0108 on subsets), the
bagged choice (−0.0152), ramps of the metric weight with other end points (−0.0071 to −0.0138),
a control-variate correction with the SoTL-E/metric agreement of all trials (no gain). The ramp
kept (weight 0 up to 40 % of resamples, ½ from 70 %) had the best smallest margin there (−0.0082
on subsets, −0.0076 on the whole file). Its end points and the 90 % for the metric alone are round
values chosen by that comparison on this file, so the margins here are somewhat optimistic for
other learning-curve sets. The margins above, on seeds 0–199 that played no part in the choice,
are the honest figure for this file: the goal is met everywhere, but with little room at T = 50
(−0.0095 with 20 trials on subsets) and T = 5–10.
"""


def main() -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from optuna_sotl.curves import load_curves
    from optuna_sotl.curves._calibration import CSV_HEADER
    from optuna_sotl.curves._calibration import evaluate_self_calibrating

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--sizes", default="20,30", help="calibration sizes (architectures)")
    parser.add_argument("--seeds", type=int, default=200, help="random draws per setting")
    parser.add_argument("--fraction-seeds", type=int, default=20)
    args = parser.parse_args()
    args.data = require_data(args.data)
    sizes = [int(part) for part in args.sizes.split(",") if part.strip()]

    curves = load_curves(args.data)
    settings = []
    for size in sizes:
        for subset in (None, SUBSET):
            where = "whole file" if subset is None else f"subsets of {SUBSET[0]}–{SUBSET[1]}"
            table = evaluate_self_calibrating(
                curves, BUDGETS, calibration_size=size, seeds=range(args.seeds),
                subset_size=subset,
            )
            settings.append((f"{size} trials, {where}", table))
    fraction = evaluate_self_calibrating(
        curves, BUDGETS, fraction=0.1, seeds=range(args.fraction_seeds)
    )
    settings.append(("10 %, whole file", fraction))

    figure, axes = plt.subplots(1, len(settings), figsize=(3.6 * len(settings), 3.8), sharey=True)
    for axis, (label, table) in zip(np.atleast_1d(axes), settings):
        budgets = [row.budget for row in table.rows]
        for name, values, style in (
            ("self-calibrating", [row.self_calibrating for row in table.rows], "-o"),
            ("SoTL-E(E=1)", [row.sotl_e for row in table.rows], "--s"),
            (f"{table.val_metric_key}@T", [row.val_metric for row in table.rows], "--^"),
            ("rank mean", [row.rank_mean for row in table.rows], ":x"),
        ):
            axis.plot(budgets, [np.mean(v) for v in values], style, label=name, markersize=4)
        axis.set_xscale("log")
        axis.set_xticks(budgets, [str(b) for b in budgets])
        axis.set_xlabel("budget T (epochs)")
        axis.set_title(label, fontsize=9)
        axis.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel(f"mean Spearman ρ with {curves.result_key} (held out)")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(results_path("calibration.png"), dpi=110)

    with open(results_path("calibration.csv"), "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for label, table in settings:
            writer.writerows(table.to_csv_rows(label))

    lines = []
    for label, table in settings:
        worst = min(table.rows, key=lambda row: row.margin)
        state = "met" if table.goal_met else "**missed**"
        lines.append(
            f"| {label} | {state} | {worst.margin:+.4f} at T = {worst.budget} |"
        )
    text = header(
        "Self-calibrating estimator, offline",
        [
            f"Data: `{os.path.basename(args.data)}`; calibration sizes {sizes} with seeds "
            f"0..{args.seeds - 1} (each seed draws its subset and calibration set with "
            f"`numpy.random.default_rng(seed)`); 10 % with seeds 0..{args.fraction_seeds - 1}; "
            "bootstrap seed 0 inside the estimator",
        ],
    )
    text += (
        "\n![Mean Spearman rho against T](calibration.png)\n\n"
        "Goal (issue 12): with calibration sets of 20 and 30 trials, mean ρ of the estimator ≥ "
        "max(SoTL-E, validation metric at T) − 0.01 at every T in "
        f"{{{', '.join(map(str, BUDGETS))}}}, on the whole file and on random subsets of "
        f"{SUBSET[0]}–{SUBSET[1]} architectures. The margin is the estimator's mean ρ minus the "
        "better fixed signal's (≥ −0.01 meets the goal).\n\n"
        "| setting | goal | smallest margin |\n|---|---|---|\n" + "\n".join(lines) + "\n"
    )
    for label, table in settings:
        text += f"\n## {label}\n\n" + table.to_markdown()
    text += NOTES
    with open(results_path("calibration.md"), "w", encoding="utf-8") as file:
        file.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
