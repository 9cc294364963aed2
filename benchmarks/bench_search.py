"""Replayed architecture search on recorded curves: Optuna's pruners against this package's.

Runs the fast replay (``optuna_sotl.curves.run_search``) for every configuration with random
sampling and regularised evolution, writes results/<name>.md, .csv and .png, and states the
issue's goals as met or not met with the numbers. ``--tpe`` runs the TPE configurations instead
(real Optuna TPE: its own cost) into results/<name>_tpe.*.
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import resource
import sys
import time


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import data_label  # noqa: E402
from _common import DEFAULT_DATA  # noqa: E402
from _common import header  # noqa: E402
from _common import require_data  # noqa: E402
from _common import results_path  # noqa: E402


NOTES = """\
## How the search is replayed

- A study is sequential and asynchronous: one trial at a time proposes an architecture and
  replays its recorded curves one epoch per step; every replayed epoch costs one epoch of budget.
  A trial still running when the budget runs out is not a result. The pick is the completed
  trial with the best final validation accuracy (the earliest among ties, as
  `study.best_trial`); regrets are against the best of the file (test: `test_acc`; val: final
  `val_acc`).
- The replay is `optuna_sotl.curves._replay`: the decision rules of `SoTLPruner`,
  `SoTLSuccessiveHalvingPruner` and `SoTLHyperbandPruner` are the functions of
  `optuna_sotl.rules` that the classes call, on the same scores; Optuna's `PercentilePruner`
  (MedianPruner), `SuccessiveHalvingPruner` and `HyperbandPruner` are mirrored from Optuna's code,
  fed `val_acc` (how users configure them today). `tests/unit/curves/test_replay.py` runs real
  Optuna studies, through `SoTLReporter` and the real pruner classes, for several seeds of every
  pruner kind and checks that every trial proposes the same architecture and stops at the same
  step.
- Random sampling draws architectures uniformly from the file; seed k gives the same proposals
  under every pruner, so differences between pruners are paired. Regularised evolution is
  `RegularizedEvolutionSampler(population_size=20, tournament_size=5)` reproduced draw for draw
  (same random streams); a mutation that leaves the file costs no epoch. Pruned trials rank by
  the pruner's signal (training loss for this package's pruners, `val_acc` for Optuna's).
  Under Hyperband the population is the trial's bracket. Hyperband brackets are drawn from the
  study name `replay-<seed>` and the trial number, as both Hyperband classes do.
- Shapes: `sha-r<R>-e<E>`: first rung at step R (epoch R + 1), reduction factor E; the same
  shapes for Optuna's pruner on `val_acc` and for `SoTLSuccessiveHalvingPruner` with each
  estimator (`sotl-e`: SoTL-E with E=1; `sotl`: the sum; `ema0.9`: SoTL-EMA, γ = 0.9).
  `median-w<W>` / `sotl-w<W>`: warm-up of W steps. Unsuffixed names are the classes' defaults.
- The best configuration of a family is picked on the same seeds it is measured on; with many
  SoTL configurations the best one's figures are optimistic (selection), so the goals are also
  stated for the classes' defaults.
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--budget", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--samplers", default="random,re", help="comma-separated, run one after the other"
    )
    parser.add_argument(
        "--block", type=int, default=50,
        help="seeds per block: results are saved and rendered after each block",
    )
    parser.add_argument("--name", default="search", help="results file stem")
    parser.add_argument(
        "--configs", default=None,
        help="comma-separated configurations instead of each sampler's default set",
    )
    parser.add_argument(
        "--run-tag", default=None,
        help="the saved run is results/<name>_<sampler>-<tag>_run.pkl; "
        "the tables merge every saved run of <name>",
    )
    parser.add_argument("--note", action="append", default=[], help="extra header line")
    parser.add_argument(
        "--from-results", action="store_true",
        help="rebuild the markdown, CSV and plot from the saved runs instead of searching",
    )
    args = parser.parse_args()
    if not args.from_results:
        args.data = require_data(args.data)

    for suffix in (".md", ".csv", ".png"):
        path = results_path(args.name + suffix)
        if os.path.isdir(path) or not os.access(os.path.dirname(path), os.W_OK):
            raise SystemExit(f"cannot write {path}")
    samplers = [s for s in args.samplers.split(",") if s]
    tag = f"-{args.run_tag}" if args.run_tag else ""
    saved = {s: results_path(f"{args.name}_{s}{tag}_run.pkl") for s in samplers}
    if args.from_results:
        render(args)
        return 0
    from optuna_sotl.curves._search import run_search
    from optuna_sotl.curves._search import run_tpe_search
    from optuna_sotl.curves._search_configs import default_names
    from optuna_sotl.curves._search_configs import tpe_names

    for sampler in samplers:
        names = tpe_names() if sampler == "tpe" else default_names(sampler)
        if args.configs:  # a sampler none of them names keeps its default set
            names = [n for n in args.configs.split(",") if n.startswith(sampler + "/")] or names
        done = None
        wall = cpu = 0.0
        for start in range(0, args.seeds, args.block):
            seeds = list(range(start, min(start + args.block, args.seeds)))
            started = time.perf_counter()
            before = _cpu()
            if sampler == "tpe":  # real Optuna TPE: its own cost, 30 seeds is the target
                part = run_tpe_search(
                    args.data, budget=args.budget, seeds=seeds, configs=names, jobs=args.jobs
                )
            else:
                part = run_search(
                    args.data, budget=args.budget, seeds=seeds, configs=names, jobs=args.jobs,
                )
            wall += time.perf_counter() - started
            cpu += _cpu() - before
            done = part if done is None else concat(done, part)
            # Kept (not committed): the tables can be rebuilt without searching again.
            with open(saved[sampler], "wb") as file:
                pickle.dump((done, wall, cpu), file)
            render(args)
    return 0


def _cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF)
    return children.ru_utime + children.ru_stime + own.ru_utime + own.ru_stime


def concat(first: object, second: object) -> object:
    """One result with the seeds of both (same configurations and budget)."""
    import dataclasses

    import numpy as np

    return dataclasses.replace(
        first,
        seeds=first.seeds + second.seeds,  # type: ignore[attr-defined]
        test=np.concatenate([first.test, second.test], axis=1),  # type: ignore[attr-defined]
        val=np.concatenate([first.val, second.val], axis=1),  # type: ignore[attr-defined]
        counts=np.concatenate([first.counts, second.counts], axis=1),  # type: ignore[attr-defined]
        seconds=first.seconds + second.seconds,  # type: ignore[attr-defined]
        cpu_seconds=first.cpu_seconds + second.cpu_seconds,  # type: ignore[attr-defined]
    )


def load_runs(name: str) -> dict[str, tuple]:
    """Every saved run of ``name``, merged per sampler (configurations side by side, on the
    seeds all of them finished), each configuration named by the registry's first entry with
    its arguments (a run made before a default changed keeps its meaning)."""
    import dataclasses
    import glob

    import numpy as np

    from optuna_sotl.curves._search_configs import PRUNERS

    by_sampler: dict[str, list[tuple]] = {}
    for path in sorted(glob.glob(results_path(f"{name}_*_run.pkl"))):
        with open(path, "rb") as file:
            result, wall, cpu = pickle.load(file)
        configs = []
        for config in result.configs:
            label = next(
                (k for k, spec in PRUNERS.items() if spec == config.pruner),
                config.pruner_name + "(old)",  # arguments no entry has any more
            )
            configs.append(dataclasses.replace(
                config, name=f"{config.sampler_name}/{label}", pruner_name=label
            ))
        result = dataclasses.replace(result, configs=tuple(configs))
        by_sampler.setdefault(configs[0].sampler_name, []).append((result, wall, cpu))
    runs = {}
    for sampler, parts in by_sampler.items():
        n = min(len(p[0].seeds) for p in parts)
        seen: set[str] = set()
        keep = []
        for result, _, _ in parts:
            for i, config in enumerate(result.configs):
                if config.name not in seen:
                    seen.add(config.name)
                    keep.append((result, i))
        first = parts[0][0]
        merged = dataclasses.replace(
            first,
            configs=tuple(r.configs[i] for r, i in keep),
            seeds=first.seeds[:n],
            test=np.stack([r.test[i, :n] for r, i in keep]),
            val=np.stack([r.val[i, :n] for r, i in keep]),
            counts=np.stack([r.counts[i, :n] for r, i in keep]),
        )
        runs[sampler] = (merged, sum(p[1] for p in parts), sum(p[2] for p in parts))
    return runs


def render(args: argparse.Namespace) -> None:
    from optuna_sotl.curves._search_report import plot_search
    from optuna_sotl.curves._search_report import search_stats

    runs = load_runs(args.name)
    if not runs:
        return
    stats_by_sampler = {sampler: search_stats(run[0]) for sampler, run in runs.items()}
    shown: dict[str, list[str]] = {}
    for sampler, stats in stats_by_sampler.items():
        chosen = [f"{sampler}/{p}" for p in ("median", "sha", "sotl", "sotl-sha")]
        for kind in ("val", "test"):
            ref = stats.reference.get((sampler, kind))
            best = best_sotl(stats, sampler, kind)
            chosen += [n for n in (ref, best) if n]
        shown[sampler] = [n for n in dict.fromkeys(chosen) if n in stats.curves]
    plot_search(stats_by_sampler, results_path(f"{args.name}.png"), shown)
    with open(results_path(f"{args.name}.csv"), "w", encoding="utf-8") as file:
        for i, stats in enumerate(stats_by_sampler.values()):
            text = stats.to_csv()
            file.write(text if i == 0 else text.split("\n", 1)[1])
    first = next(iter(runs.values()))[0]
    data_name = os.path.basename(first.source)
    extra = [
        f"Data: {data_label(first.source)}; budget {first.budget} epochs; "
        f"{args.jobs} worker processes"
    ]
    for sampler, (result, wall, cpu) in runs.items():
        extra.append(
            f"`{sampler}`: seeds {result.seeds[0]}..{result.seeds[-1]} ({len(result.seeds)} per "
            f"configuration) × {len(result.configs)} configurations; {wall:.0f} s wall, "
            f"{cpu:.0f} s CPU (this process and its workers) on the shared 2-core machine"
        )
    extra += args.note
    text = header("Replayed architecture search", extra)
    text += f"\n![regret against epochs]({args.name}.png)\n\n"
    text += goals(stats_by_sampler)
    text += "\n## All configurations\n\n"
    for stats in stats_by_sampler.values():
        text += stats.to_markdown().replace(stats.result.source, data_name)
    text += f"\nEvery number above, per configuration and budget: `{args.name}.csv`.\n\n"
    text += "## Configurations\n\n"
    specs = {c.pruner_name: c.pruner for run in runs.values() for c in run[0].configs}
    for name in sorted(specs):
        text += f"- `{name}`: {specs[name].describe()}\n"
    text += "\n" + NOTES
    # No machine paths in committed files: the data file is named by the team's variable.
    text = text.replace(args.data, "$OPTUNA_SOTL_DATA/" + data_name)
    with open(results_path(f"{args.name}.md"), "w", encoding="utf-8") as file:
        file.write(text)


def best_sotl(stats: object, sampler: str, kind: str) -> str | None:
    """The SoTL configuration of ``sampler`` that reaches the ``kind`` target in fewest epochs."""
    candidates = [
        c.name for c in stats.result.configs  # type: ignore[attr-defined]
        if c.sampler_name == sampler and c.family == "sotl"
    ]
    if not candidates:
        return None
    budget = stats.result.budget  # type: ignore[attr-defined]

    def key(name: str) -> tuple[float, float]:
        info = stats.per_config[name]  # type: ignore[attr-defined]
        row = stats.row(name, budget)  # type: ignore[attr-defined]
        return (info.get(f"epochs_to_{kind}_target", math.inf), row[f"{kind}_regret_mean"])

    return min(candidates, key=key)


def goals(stats_by_sampler: dict[str, object]) -> str:
    from optuna_sotl.curves._search_report import fmt_ci
    from optuna_sotl.curves._search_report import fmt_epochs

    lines = ["## Goals", ""]
    for sampler, stats in stats_by_sampler.items():
        budget = stats.result.budget  # type: ignore[attr-defined]
        for kind, limit, ci_limit in (("val", 0.5, 0.6), ("test", 0.7, None)):
            ref = stats.reference.get((sampler, kind))  # type: ignore[attr-defined]
            best = best_sotl(stats, sampler, kind)
            if ref is None or best is None:
                continue
            info = stats.per_config[best]  # type: ignore[attr-defined]
            point = info[f"epochs_to_{kind}_target"]
            ci = info[f"epochs_to_{kind}_target_ci"]
            met = point <= limit * budget and (ci_limit is None or ci[1] <= ci_limit * budget)
            target = info[f"{kind}_target"]
            lines.append(
                f"- **{sampler}, {kind} regret: {'met' if met else 'not met'}** "
                f"(≤ {100 * limit:.0f} % of the epochs"
                + (f", CI upper end ≤ {100 * ci_limit:.0f} %" if ci_limit else "")
                + f"). Target: {target:.3f}, the final mean {kind} regret of `{ref}`. Best SoTL "
                f"configuration `{best}`: {fmt_epochs(point, ci, budget)}."
            )
        for kind, theirs in (("sotl", "median"), ("sotl-sha", "sha")):
            ours = default_row(stats, sampler, kind)
            if ours is None:
                lines.append(f"- {sampler}: the current default of `{kind}` is not in this run.")
                continue
            a, b = f"{sampler}/{ours}", f"{sampler}/{theirs}"
            try:
                ra, rb = stats.row(a, budget), stats.row(b, budget)  # type: ignore[attr-defined]
            except KeyError:
                continue
            diffs = {}
            for kind in ("val", "test"):
                diffs[kind] = paired(stats, a, b, kind)
            val_better = diffs["val"][2] < 0
            test_ok = diffs["test"][1] <= 0
            lines.append(
                f"- **{sampler}, `{ours}` (defaults) vs `{theirs}` (Optuna defaults, val_acc): "
                f"{'met' if val_better and test_ok else 'not met'}**. Final mean val regret "
                f"{_mean_ci(ra, 'val')} vs {_mean_ci(rb, 'val')}, paired difference "
                f"{fmt_ci(*diffs['val'])}; test regret {_mean_ci(ra, 'test')} vs "
                f"{_mean_ci(rb, 'test')}, paired difference {fmt_ci(*diffs['test'])}."
            )
    return "\n".join(lines) + "\n"


def _mean_ci(row: dict, kind: str) -> str:
    from optuna_sotl.curves._search_report import fmt_ci

    return fmt_ci(
        row[f"{kind}_regret_mean"], row[f"{kind}_regret_ci_low"], row[f"{kind}_regret_ci_high"]
    )


def default_row(stats: object, sampler: str, kind: str) -> str | None:
    """The pruner entry that is the class's current default (the run may predate a change)."""
    from optuna_sotl.curves._replay import PrunerSpec

    default = PrunerSpec(kind).explicit()
    for config in stats.result.configs:  # type: ignore[attr-defined]
        if config.sampler_name == sampler and config.pruner == default:
            return config.pruner_name
    return None


def paired(stats: object, a: str, b: str, kind: str) -> tuple[float, float, float]:
    """Mean of (a - b) over seeds at the full budget with a 95 % paired bootstrap CI."""
    import numpy as np

    result = stats.result  # type: ignore[attr-defined]
    i, j = result.names.index(a), result.names.index(b)
    values = result.test if kind == "test" else result.val
    diff = np.minimum(values[i, :, -1], 1e6) - np.minimum(values[j, :, -1], 1e6)
    rng = np.random.default_rng(1)
    boot = diff[rng.integers(diff.size, size=(2000, diff.size))].mean(axis=1)
    low, high = np.percentile(boot, [2.5, 97.5])
    return float(diff.mean()), float(low), float(high)


if __name__ == "__main__":
    sys.exit(main())
