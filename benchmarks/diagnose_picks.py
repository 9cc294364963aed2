"""Where a replayed search's pick lands: which architectures decide a regret difference.

    python benchmarks/diagnose_picks.py --data PATH --budget N --sampler random \
        --configs sha,sotl-sha [--seeds 200] [--name NAME]

A replayed search picks the completed trial with the best final validation metric (the first
of equals), and its regrets are that architecture's distance to the file's best validation and
test result. When two pruners differ in test regret but not in validation regret, the question
is whether one of them systematically favours architectures that generalise worse, or whether
the difference rests on a few architectures whose validation results are (nearly) equal. This
diagnosis (not in the package) replays each configuration on the same seeds, records every
seed's pick, and writes ``results/<name>.md``, ``.csv`` (one row per configuration and picked
architecture) and ``.png`` (each architecture's val and test regret, sized by how often it was
picked). It checks that its picks give the regrets ``bench_search.py`` reports. It also says
what each configuration did with the file's best architecture: completed it, pruned it (at
which step, and whether its metric was in a dip there) or never proposed it.
"""

from __future__ import annotations

import argparse
import collections
import csv
import math
import os
import sys

import numpy as np
from tqdm import tqdm


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import data_label  # noqa: E402
from _common import header  # noqa: E402
from _common import paired_ci_text  # noqa: E402
from _common import require_data  # noqa: E402
from _common import results_path  # noqa: E402

from optuna_sotl.curves import load_curves  # noqa: E402
from optuna_sotl.curves._replay import fast_replay  # noqa: E402
from optuna_sotl.curves._replay import ReplayData  # noqa: E402
from optuna_sotl.curves._replay_data import COMPLETE  # noqa: E402
from optuna_sotl.curves._replay_data import PRUNED  # noqa: E402
from optuna_sotl.curves._search import budget_grid  # noqa: E402
from optuna_sotl.curves._search import trace_of_log  # noqa: E402
from optuna_sotl.curves._search_configs import PRUNERS  # noqa: E402
from optuna_sotl.curves._search_configs import SAMPLERS  # noqa: E402


TOP_ROWS = 8  # the file's best architectures by final validation metric, listed


def pick_of_log(data: ReplayData, log: list[tuple[int, int, int]]) -> int:
    """The row the search picks: the first completed trial with the best final val metric."""
    final = data.final_val if data.higher else -data.final_val
    best, pick = -math.inf, -1
    for row, state, _ in log:
        if state == COMPLETE and final[row] > best:
            best, pick = float(final[row]), row
    return pick


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--budget", type=int, required=True)
    parser.add_argument("--sampler", choices=sorted(SAMPLERS), default="random")
    parser.add_argument("--configs", required=True, help="comma-separated pruner names")
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--name", default=None, help="results file stem")
    args = parser.parse_args()
    path = require_data(args.data)
    configs = [name for name in args.configs.split(",") if name]
    unknown = [name for name in configs if name not in PRUNERS]
    if unknown:
        print(f"unknown configuration(s) {unknown}; see optuna_sotl.curves._search_configs",
              file=sys.stderr)
        return 2
    stem = os.path.splitext(os.path.basename(path))[0]
    name = args.name or f"diagnose_picks_{stem}_{args.sampler}"
    data = ReplayData(load_curves(path))
    grid = budget_grid(args.budget)

    picks = np.empty((len(configs), args.seeds), dtype=np.int64)
    best_row = int(np.argsort(data.val_regret, kind="stable")[0])
    fates: list[list[tuple[str, int]]] = [[] for _ in configs]
    for c, config in enumerate(configs):
        for seed in tqdm(range(args.seeds), desc=config, unit="seed"):
            log = fast_replay(
                data, SAMPLERS[args.sampler], PRUNERS[config], seed, budget=args.budget, log=True
            ).log
            picks[c, seed] = pick_of_log(data, log)
            fates[c].append(_fate(best_row, log))
            test, val, _ = trace_of_log(data, log, args.budget, grid)
            # The same pick as the search's regrets, or this diagnosis explains something else.
            assert math.isclose(val[-1], data.val_regret[picks[c, seed]], abs_tol=1e-9)
            assert math.isclose(test[-1], data.test_regret[picks[c, seed]], abs_tol=1e-9)

    val_regret, test_regret = data.val_regret[picks], data.test_regret[picks]
    rng = np.random.default_rng(0)
    lines = [
        header(
            f"Where the pick lands: {stem}, {args.sampler} sampling",
            [f"Data: {data_label(path)}; budget {args.budget} epochs; seeds 0..{args.seeds - 1}",
             "Pick: the completed trial with the best final validation metric (the first of "
             "equals), as in `bench_search.py`; regrets in points against the file's best"],
        ),
        "## Regret of the picks",
        "",
        "| configuration | val regret | test regret | distinct picks | Δ val vs "
        f"`{configs[0]}` | Δ test vs `{configs[0]}` |",
        "|---|---|---|---|---|---|",
    ]
    for c, config in enumerate(configs):
        diffs = ("", "") if c == 0 else (
            paired_ci_text(val_regret[c] - val_regret[0], rng),
            paired_ci_text(test_regret[c] - test_regret[0], rng),
        )
        lines.append(
            f"| `{config}` | {val_regret[c].mean():.3f} | {test_regret[c].mean():.3f} | "
            f"{len(set(picks[c].tolist()))} | {diffs[0]} | {diffs[1]} |"
        )
    order = np.argsort(data.val_regret, kind="stable")[:TOP_ROWS]
    lines += [
        "",
        f"## The file's {TOP_ROWS} best architectures by final validation metric",
        "",
        "| row | val regret | test regret | " + " | ".join(f"share `{c}`" for c in configs) + " |",
        "|---|---|---|" + "---|" * len(configs),
    ]
    for row in order:
        shares = " | ".join(f"{np.mean(picks[c] == row):.0%}" for c in range(len(configs)))
        lines.append(
            f"| {row} | {data.val_regret[row]:.3f} | {data.test_regret[row]:.3f} | {shares} |"
        )
    lines += _fate_section(configs, fates, best_row, data)
    lines += ["", "## Each configuration's most frequent picks", ""]
    rows_out: list[dict[str, object]] = []
    for c, config in enumerate(configs):
        counts = collections.Counter(picks[c].tolist())
        lines.append(f"- `{config}`: " + ", ".join(
            f"row {row} ({count / args.seeds:.0%}; val {data.val_regret[row]:.3f}, "
            f"test {data.test_regret[row]:.3f})" for row, count in counts.most_common(5)
        ))
        for row, count in sorted(counts.items()):
            rows_out.append({
                "configuration": config, "row": row, "seeds": count,
                "share": round(count / args.seeds, 4),
                "val_regret": round(float(data.val_regret[row]), 4),
                "test_regret": round(float(data.test_regret[row]), 4),
            })
    lines += ["", f"![picks]({name}.png)", ""]
    with open(results_path(f"{name}.csv"), "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows_out[0]))
        writer.writeheader()
        writer.writerows(rows_out)
    _plot(configs, picks, data, results_path(f"{name}.png"))
    with open(results_path(f"{name}.md"), "w", encoding="utf-8") as file:
        file.write("\n".join(lines))
    print(results_path(f"{name}.md"))
    return 0


def _fate(row: int, log: list[tuple[int, int, int]]) -> tuple[str, int]:
    """What a study did with ``row``: ``("completed", -1)``, ``("pruned", step)`` (every time it
    was proposed; the first pruning step) or ``("not proposed", -1)``."""
    states = [(state, last) for r, state, last in log if r == row]
    if any(state == COMPLETE for state, _ in states):
        return "completed", -1
    pruned = [last for state, last in states if state == PRUNED]
    return ("pruned", pruned[0]) if pruned else ("not proposed", -1)


def _fate_section(
    configs: list[str], fates: list[list[tuple[str, int]]], row: int, data: ReplayData
) -> list[str]:
    """Table lines: how often each configuration completed, pruned or never proposed the file's
    best architecture by final validation metric, and where it pruned it: the metric there
    against the best the architecture had reported so far (Optuna's percentile pruners compare
    that best; a dip of one epoch does not prune there)."""
    sign = 1.0 if data.higher else -1.0
    lines = [
        "",
        f"## What each configuration did with the best architecture (row {row})",
        "",
        "Pruned: every time it was proposed. The metric at the pruning step against its best "
        "so far, in points (below 0: a dip).",
        "",
        "| configuration | completed | pruned | not proposed | most frequent pruning steps "
        "(share of seeds; metric − best so far) |",
        "|---|---|---|---|---|",
    ]
    for config, fate in zip(configs, fates):
        kinds = collections.Counter(kind for kind, _ in fate)
        steps = collections.Counter(step for kind, step in fate if kind == "pruned")
        where = ", ".join(
            f"step {step} ({count / len(fate):.0%}; "
            f"{sign * (data.val[row, step] - data.val_best[row, step]):+.2f})"
            for step, count in steps.most_common(3)
        )
        lines.append(
            f"| `{config}` | {kinds['completed'] / len(fate):.0%} | "
            f"{kinds['pruned'] / len(fate):.0%} | {kinds['not proposed'] / len(fate):.0%} | "
            f"{where or '—'} |"
        )
    return lines


def _plot(configs: list[str], picks: np.ndarray, data: ReplayData, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(configs), figsize=(4.2 * len(configs), 4), sharex=True, sharey=True, squeeze=False
    )
    for ax, config, chosen in zip(axes[0], configs, picks):
        counts = collections.Counter(chosen.tolist())
        rows = np.array(sorted(counts))
        share = np.array([counts[row] for row in rows]) / chosen.size
        ax.scatter(data.val_regret[rows], data.test_regret[rows], s=1500 * share, alpha=0.5)
        ax.set_title(f"{config}: picks (area: share of seeds)", fontsize=9)
        ax.set_xlabel("val regret of the architecture (points)")
    axes[0][0].set_ylabel("test regret of the architecture (points)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    raise SystemExit(main())
