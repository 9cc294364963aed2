"""results/heldout.md: the classes' defaults against Optuna's pruners on the held-out curve sets.

Reads the runs bench_search.py saved (``results/heldout_<set>_<sampler>_run.pkl``, made by
``make -C benchmarks heldout``) and writes, per set, sampler and budget (all of it and half of
it: a study's regret after half the budget is what a study with half the budget ends with, since
every decision depends only on the trials before it), the final mean val and test regret with
95 % bootstrap CIs of the defaults ``sotl``, ``sotl-sha``, ``sotl-hyperband``, of Optuna's
``median``, ``sha``, ``hyperband`` fed val_acc, of the best Optuna shape, and the paired
differences (same seeds: random sampling proposes the same architectures under every pruner).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import header  # noqa: E402
from _common import results_path  # noqa: E402
from bench_search import load_runs  # noqa: E402


SETS = {
    "heldout_digits_nb201": (
        "digits-nb201",
        "NAS-Bench-201 cells (216: the chain 0->1->2->3 of skip / conv1x1 / conv3x3, shortcuts "
        "0->2, 0->3, 1->3 none / skip) on noisy, occluded 8x8 digits; 30 epochs",
    ),
    "heldout_tabular_mlp": (
        "tabular-mlp",
        "MLP hyperparameter grid (432: widths, activation, dropout, learning rate, batch size) "
        "on a fixed make_classification problem; 40 epochs",
    ),
}
OURS = ("sotl", "sotl-sha", "sotl-hyperband")
THEIRS = ("median", "sha", "hyperband")
N_BOOT = 2000
NO_RESULT = 1e6  # a seed with no completed trial yet: counted as a huge regret, as elsewhere


def boot_ci(values: np.ndarray) -> tuple[float, float, float]:
    values = np.minimum(values, NO_RESULT)
    rng = np.random.default_rng(1)
    boot = values[rng.integers(values.size, size=(N_BOOT, values.size))].mean(axis=1)
    low, high = np.percentile(boot, [2.5, 97.5])
    return float(values.mean()), float(low), float(high)


def fmt(stat: tuple[float, float, float]) -> str:
    mean, low, high = stat
    if mean >= NO_RESULT / 1000:
        return "no result on some seeds"
    return f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def verdict(diff: tuple[float, float, float]) -> str:
    # Differences are ours - theirs in regret points: below zero is better for ours.
    if diff[2] < 0:
        return "win"
    if diff[1] > 0:
        return "LOSS"
    return "tie"


def section(name: str, sampler: str, result: object) -> tuple[str, list[str]]:
    names = [c.pruner_name for c in result.configs]  # type: ignore[attr-defined]
    families = {c.pruner_name: c.family for c in result.configs}  # type: ignore[attr-defined]
    grid = result.grid  # type: ignore[attr-defined]
    budget = result.budget  # type: ignore[attr-defined]
    regrets = {"val": result.val, "test": result.test}  # type: ignore[attr-defined]
    n_seeds = len(result.seeds)  # type: ignore[attr-defined]
    lines: list[str] = []
    summary: list[str] = []
    for epochs in (budget // 2, budget):
        g = int(np.searchsorted(grid, epochs))
        assert grid[g] == epochs

        def at(pruner: str, kind: str) -> np.ndarray:
            return regrets[kind][names.index(pruner), :, g]

        optuna = [p for p in names if families[p] == "optuna"]
        best = {
            kind: min(optuna, key=lambda p: np.minimum(at(p, kind), NO_RESULT).mean())
            for kind in ("val", "test")
        }
        lines += [
            f"#### `{sampler}`, {epochs} epochs ({epochs * 100 // budget} % of the budget, "
            f"{epochs // result.n_epochs} full trainings; {n_seeds} seeds)",  # type: ignore[attr-defined]
            "",
            "| pruner | val regret | test regret |",
            "|---|---|---|",
        ]
        shown = ["none", *OURS, *THEIRS]
        shown += [best[k] for k in ("val", "test") if best[k] not in shown]
        for pruner in dict.fromkeys(shown):
            if pruner not in names:
                continue
            tag = ""
            if pruner == best["val"]:
                tag += " (best Optuna by val)"
            if pruner == best["test"]:
                tag += " (best Optuna by test)"
            lines.append(
                f"| `{pruner}`{tag} | {fmt(boot_ci(at(pruner, 'val')))} | "
                f"{fmt(boot_ci(at(pruner, 'test')))} |"
            )
        lines += ["", "| ours − theirs (paired) | Δ val regret | | Δ test regret | |",
                  "|---|---|---|---|---|"]
        pairs = list(zip(OURS, THEIRS))
        pairs += [(ours, best["val"]) for ours in OURS]
        if best["test"] != best["val"]:
            pairs += [(ours, best["test"]) for ours in OURS]
        for ours, theirs in dict.fromkeys(pairs):
            if ours not in names or theirs not in names:
                continue
            cells = []
            for kind in ("val", "test"):
                diff = boot_ci(at(ours, kind) - at(theirs, kind))
                cells += [fmt(diff), verdict(diff)]
                if epochs == budget and (ours, theirs) in zip(OURS, THEIRS):
                    summary.append(
                        f"{SETS[name][0]}, {sampler}, `{ours}` vs `{theirs}`, {kind}: "
                        f"{verdict(diff)} ({fmt(diff)})"
                    )
            lines.append(f"| `{ours}` − `{theirs}` | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines) + "\n", summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--note", action="append", default=[], help="extra header line")
    args = parser.parse_args()
    body: list[str] = []
    summary: list[str] = []
    for name, (label, description) in SETS.items():
        runs = load_runs(name)
        if not runs:
            body.append(f"## {label}\n\nNo saved run (results/{name}_*_run.pkl).\n")
            continue
        body.append(f"## {label}\n\n{description}. Full report: [{name}.md]({name}.md).\n")
        for sampler, (result, wall, cpu) in runs.items():
            body.append(
                f"Sampler `{sampler}`: {len(result.seeds)} seeds, budget {result.budget} epochs "
                f"(= {result.budget // result.n_epochs} full trainings of {result.n_epochs} "
                f"epochs), replay {wall:.0f} s wall / {cpu:.0f} s CPU.\n"
            )
            text, lines = section(name, sampler, result)
            body.append(text)
            summary += lines
    text = header("Held-out learning-curve sets: the defaults against Optuna's pruners", args.note)
    text += "\n## Summary (full budget; Δ = ours − theirs in regret points, 95 % paired CI)\n\n"
    text += "".join(f"- {line}\n" for line in summary) + "\n"
    text += "\n".join(body)
    with open(results_path("heldout.md"), "w", encoding="utf-8") as file:
        file.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
