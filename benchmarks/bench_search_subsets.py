"""Are the new defaults fitted to the file? The replayed search on random fifths of it.

Each subset is 20 % of the architectures, drawn at random (subset seeds 100..104); on each, every
configuration runs the same 40 seeds with random sampling, and the regrets are read at 1/4, 1/2 and
all of the budget. Writes results/search_subsets.md (``--name``: results/<name>.md), with paired
differences against ``--baseline``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

import numpy as np
from tqdm import tqdm


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import DEFAULT_DATA
from _common import header
from _common import results_path


CONFIGS = (
    "median", "sha", "sha-auto-e2", "sha-r1-e4", "sotl", "sotl-sotl-e", "sotl-sha",
    "sotl-sha-auto-e4",
)


def main() -> int:
    from optuna_sotl.curves import load_curves
    from optuna_sotl.curves._replay import fast_replay
    from optuna_sotl.curves._replay import ReplayData
    from optuna_sotl.curves._replay import SamplerSpec
    from optuna_sotl.curves._search_configs import PRUNERS

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--budget", type=int, default=20_000)
    parser.add_argument("--subsets", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--configs", default=",".join(CONFIGS),
                        help="comma-separated pruner names (random sampling)")
    parser.add_argument("--baseline", default="sha", help="one of --configs")
    parser.add_argument("--name", default="search_subsets", help="results file stem")
    args = parser.parse_args()
    names = args.configs.split(",")
    unknown = [name for name in names if name not in PRUNERS]
    if unknown or args.baseline not in names:
        parser.error(f"unknown configurations {unknown} or --baseline {args.baseline!r} "
                     "not among them")

    full = load_curves(args.data)
    checks = (args.budget // 4, args.budget // 2, args.budget)
    regrets: dict[str, list[list[tuple[float, float]]]] = {name: [] for name in names}
    progress = tqdm(total=args.subsets * len(names) * args.seeds, desc="subsets", unit="run")
    for subset in range(args.subsets):
        rng = np.random.default_rng(100 + subset)
        rows = np.sort(rng.choice(full.n_archs, size=full.n_archs // 5, replace=False))
        fields = {}
        for field in dataclasses.fields(full):
            value = getattr(full, field.name)
            if isinstance(value, np.ndarray) and value.shape[:1] == (full.n_archs,):
                value = value[rows]
            fields[field.name] = value
        data = ReplayData(dataclasses.replace(full, **fields))
        for name in names:
            for seed in range(args.seeds):
                progress.update()
                trace = fast_replay(data, SamplerSpec("random"), PRUNERS[name], seed, args.budget)
                at = np.searchsorted(trace.epochs, checks, side="right") - 1
                regrets[name].append([
                    (data.val_regret[trace.rows[k]], data.test_regret[trace.rows[k]])
                    if k >= 0 else (np.inf, np.inf)
                    for k in at
                ])
    progress.close()
    base = np.array(regrets[args.baseline])
    lines = [
        "| configuration | " + " | ".join(f"val @ {c}" for c in checks) + " | "
        + " | ".join(f"test @ {c}" for c in checks)
        + f" | Δval vs `{args.baseline}` @ all [95 % CI] | "
        f"Δtest vs `{args.baseline}` @ all [95 % CI] |",
        "|---|" + "---|" * (2 * len(checks) + 2),
    ]
    boot = np.random.default_rng(0).integers(len(base), size=(2000, len(base)))
    for name in names:
        values = np.array(regrets[name])
        means = values.mean(axis=0)
        cells = [f"{means[i, 0]:.3f}" for i in range(len(checks))]
        cells += [f"{means[i, 1]:.3f}" for i in range(len(checks))]
        for kind in (0, 1):
            diff = values[:, -1, kind] - base[:, -1, kind]
            low, high = np.percentile(diff[boot].mean(axis=1), [2.5, 97.5])
            cells.append(f"{diff.mean():+.3f} [{low:+.3f}, {high:+.3f}]")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    text = header(
        "Replayed search on random fifths of the file",
        [(f"Data: `{os.path.basename(args.data)}`; {args.subsets} subsets of 20 % of the "
         f"architectures (subset seeds 100..{99 + args.subsets}), {args.seeds} seeds each, "
         f"random sampling, budget {args.budget} epochs")],
    )
    text += "\nMean regret in points over subsets × seeds (val: final `val_acc`; test: "
    text += f"`test_acc`), paired differences against `{args.baseline}`.\n\n"
    text += "\n".join(lines) + "\n\n"
    text += "Configurations: see `search.md`.\n"
    text = text.replace(args.data, "$OPTUNA_SOTL_DATA/" + os.path.basename(args.data))
    with open(results_path(f"{args.name}.md"), "w", encoding="utf-8") as file:
        file.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
