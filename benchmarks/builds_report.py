"""The defaults against Optuna's pruners over several builds of the held-out sets.

    python benchmarks/builds_report.py --builds 2026,7,1,2,3 [--name defaults-builds]
    python benchmarks/builds_report.py --kind best-so-far --runs best-so-far \
        --name best-so-far-builds --builds 2026,7,1,2,3

Each build of a held-out set (``make_heldout_curves.py SET OUT --seed B``: its own data split,
corruption and initialisations) is one draw of "a learning-curve set we do not have". A paired
CI over search seeds on one build says whether a pruner is better *on that build*: the build's
few best architectures, whose validation and test results disagree by chance, can decide it.
Whether a default is worse *on such sets* needs the builds as the unit. For each set, sampler
and comparison of ``spare_report.PAIRS[kind]`` (``defaults`` unless ``--kind``) this report reads
the saved runs of ``make -C benchmarks heldout-builds`` (``results/builds-seed<B>_<set>_<sampler>
_run.pkl``; ``--runs best-so-far``: ``best-so-far-builds``' ``best-so-far-seed<B>_…``) and gives,
at the full budget,

- each build's mean paired difference of val and test regret with its 95 % CI over seeds;
- the mean over builds with a 95 % CI from Student's t over the builds' means (the builds as
  the unit), so that it is as wide as the builds disagree;
- how many builds the default wins, ties and loses (per-build CI).

It writes ``results/<name>.md``, ``.csv`` (one row per set, sampler, comparison and build, and
one "all builds" row each) and ``.png`` (each build's difference and the mean over builds).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys

import numpy as np


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import results_path  # noqa: E402
from spare_report import bootstrap_ci  # noqa: E402
from spare_report import ci_cell  # noqa: E402
from spare_report import DESCRIPTION  # noqa: E402
from spare_report import N_BOOTSTRAP  # noqa: E402
from spare_report import PAIRS  # noqa: E402
from spare_report import saved_runs  # noqa: E402


REGRETS = ("val", "test")
HELDOUT_SETS = ("digits_nb201", "tabular_mlp")
# Per kind: the report's heading and the make target that saves its runs.
HEADINGS = {
    "defaults": "The defaults against Optuna's pruners over several builds of the held-out sets",
    "best-so-far": "SoTLPruner ranking by the best metric so far, over several builds of the "
    "held-out sets",
    "best-so-far-halving": "Successive halving and Hyperband ranking by the best metric so far, "
    "over several builds of the held-out sets",
}
TARGETS = {"defaults": "heldout-builds", "best-so-far": "best-so-far-builds",
           "best-so-far-halving": "best-so-far-halving-builds"}
# When each kind's verdict rule was fixed.
RULE_FIXED = {
    "defaults": "the rule was fixed before any run on builds 1, 2 and 3",
    "best-so-far": "the rule was fixed before any run of the best-so-far configuration",
    "best-so-far-halving": "the rule was fixed after the SpikeNAS run and before any held-out "
    "run of these configurations",
}


def _over_builds_ci(build_means: list[float]) -> tuple[float, float]:
    """95 % CI of the mean over builds, the builds as the unit: Student's t on the builds' mean
    differences, whose scatter holds both how the builds disagree and each build's seed noise.
    (A bootstrap over five units would be too narrow.)"""
    from scipy import stats

    means = np.asarray(build_means, dtype=float)
    half = stats.t.ppf(0.975, means.size - 1) * means.std(ddof=1) / np.sqrt(means.size)
    return float(means.mean() - half), float(means.mean() + half)


def _verdict(low: float, high: float) -> str:
    return "win" if high < 0 else "loss" if low > 0 else "tie"


def collect(
    builds: list[int], kind: str = "defaults", runs_stem: str = "builds"
) -> dict[tuple[str, str, str], dict[int, dict[str, np.ndarray]]]:
    """Paired differences at the full budget: ``(set, sampler, comparison) -> build ->
    regret -> [seed]``, for every saved run of every build."""
    found: dict[tuple[str, str, str], dict[int, dict[str, np.ndarray]]] = {}
    for build in builds:
        stem = f"{runs_stem}-seed{build}"
        runs = list(saved_runs(kind, quiet=True, name=stem, sets=HELDOUT_SETS))
        for data_set in HELDOUT_SETS:
            if not any(run[0] == data_set for run in runs):
                print(f"missing results/{stem}_{data_set}_*_run.pkl: run `make -C benchmarks "
                      f"{TARGETS[kind]} HELDOUT_BUILDS={build}` first", file=sys.stderr)
        for data_set, sampler, result in runs:
            names = [config.pruner_name for config in result.configs]
            for label, config, baseline in PAIRS[kind]:
                if config not in names or baseline not in names:
                    continue
                found.setdefault((data_set, sampler, label), {})[build] = {
                    regret: getattr(result, regret)[names.index(config), :, -1]
                    - getattr(result, regret)[names.index(baseline), :, -1]
                    for regret in REGRETS
                }
    return found


def committed_rows(
    name: str, builds: list[int]
) -> dict[tuple[str, str, str], dict[int, dict[str, object]]]:
    """Per-build rows of ``builds`` from the report's committed ``results/<name>.csv``:
    ``(set, sampler, comparison) -> build -> row``.

    The saved runs (``*_run.pkl``) are not committed and a build costs most of an hour to
    rebuild and replay, so a build run in an earlier session is taken from the rows that
    session committed: its mean over seeds and its CI are all the over-builds CI needs."""
    kept: dict[tuple[str, str, str], dict[int, dict[str, object]]] = {}
    path = results_path(f"{name}.csv")
    if not builds or not os.path.exists(path):
        return kept
    with open(path, newline="", encoding="utf-8") as file:
        for row in csv.DictReader(file):
            if row["build"] == "all" or int(row["build"]) not in builds:
                continue
            key = (row["set"], row["sampler"], row["comparison"])
            kept.setdefault(key, {})[int(row["build"])] = {
                k: v for k, v in row.items() if not k.endswith("_builds_won_tied_lost")
            }
    return kept


def rows_of(
    found: dict[tuple[str, str, str], dict[int, dict[str, np.ndarray]]],
    kept: dict[tuple[str, str, str], dict[int, dict[str, object]]] | None = None,
) -> list[dict[str, object]]:
    """Per-build rows and one "all builds" row per comparison, from the saved runs in
    ``found`` and the committed rows in ``kept`` (builds whose runs are not saved here)."""
    rng = np.random.default_rng(0)
    rows: list[dict[str, object]] = []
    kept = kept or {}
    for key in dict.fromkeys([*kept, *found]):
        data_set, sampler, label = key
        by_build = found.get(key, {})
        per_build_rows = [
            row for build, row in kept.get(key, {}).items() if build not in by_build
        ]
        summary: dict[str, object] = {
            "set": data_set, "sampler": sampler, "comparison": label, "build": "all",
            "seeds": min([d["val"].size for d in by_build.values()]
                         + [int(str(r["seeds"])) for r in per_build_rows]),
        }
        for build, diffs in by_build.items():
            row: dict[str, object] = {
                "set": data_set, "sampler": sampler, "comparison": label, "build": build,
                "seeds": diffs["val"].size,
            }
            for regret in REGRETS:
                low, high = bootstrap_ci(diffs[regret], rng)
                row[f"{regret}_diff_mean"] = round(float(diffs[regret].mean()), 4)
                row[f"{regret}_diff_ci_low"] = round(low, 4)
                row[f"{regret}_diff_ci_high"] = round(high, 4)
                row[f"{regret}_verdict"] = _verdict(low, high)
            per_build_rows.append(row)
        for regret in REGRETS:
            build_means = [float(str(r[f"{regret}_diff_mean"])) for r in per_build_rows]
            if len(build_means) > 1:
                low, high = _over_builds_ci(build_means)
            else:  # one build: its own CI over seeds
                low, high = (float(per_build_rows[0][f"{regret}_diff_ci_{k}"])
                             for k in ("low", "high"))
            summary[f"{regret}_diff_mean"] = round(float(np.mean(build_means)), 4)
            summary[f"{regret}_diff_ci_low"] = round(low, 4)
            summary[f"{regret}_diff_ci_high"] = round(high, 4)
            summary[f"{regret}_verdict"] = _verdict(low, high)
            summary[f"{regret}_builds_won_tied_lost"] = "/".join(
                str(sum(r[f"{regret}_verdict"] == v for r in per_build_rows))
                for v in ("win", "tie", "loss")
            )
        rows += per_build_rows + [summary]
    return rows


def _plot(rows: list[dict[str, object]], builds: list[int], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(dict.fromkeys((r["set"], r["sampler"], r["comparison"]) for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.45 * len(keys) + 1.8), sharey=True)
    colours = plt.get_cmap("tab10")
    y = np.arange(len(keys))[::-1]
    for ax, regret in zip(axes, REGRETS):
        for i, key in enumerate(keys):
            for row in rows:
                if (row["set"], row["sampler"], row["comparison"]) != key:
                    continue
                mean = float(row[f"{regret}_diff_mean"])
                low = float(row[f"{regret}_diff_ci_low"])
                high = float(row[f"{regret}_diff_ci_high"])
                if row["build"] == "all":
                    ax.errorbar(mean, y[i], xerr=[[mean - low], [high - mean]], fmt="D",
                                color="black", capsize=4, ms=7, zorder=3)
                else:
                    offset = 0.3 * (builds.index(int(row["build"])) + 1) / (len(builds) + 1)
                    ax.errorbar(mean, y[i] + offset, xerr=[[mean - low], [high - mean]],
                                fmt="o", ms=3, lw=0.8,
                                color=colours(builds.index(int(row["build"]))))
        ax.axvline(0.0, color="grey", lw=0.8)
        ax.set_title(f"Δ {regret} regret (points), full budget; < 0: ours is better")
    labels = [f"{s} {p}: {c}".replace("`", "") for s, p, c in keys]
    axes[0].set_yticks(y, labels, fontsize=7)
    handles = [plt.Line2D([], [], marker="o", ls="", color=colours(i), label=f"build {b}")
               for i, b in enumerate(builds)]
    handles.append(plt.Line2D([], [], marker="D", ls="", color="black", label="mean of builds"))
    axes[1].legend(handles=handles, fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", required=True,
                        help="comma-separated build seeds, e.g. 2026,7,1,2,3")
    parser.add_argument("--name", default="defaults-builds", help="the report's file stem")
    parser.add_argument("--kind", default="defaults", choices=sorted(TARGETS),
                        help="the comparisons (spare_report.PAIRS)")
    parser.add_argument("--runs", default="builds",
                        help="saved runs: results/<runs>-seed<B>_<set>_<sampler>_run.pkl")
    args = parser.parse_args()
    try:
        builds = [int(b) for b in args.builds.split(",") if b.strip()]
    except ValueError:
        parser.error(f"--builds must be comma-separated integers, got {args.builds!r}")
    if not builds:
        parser.error(f"--builds names no build: {args.builds!r}")
    found = collect(builds, args.kind, args.runs)
    saved = {build for by_build in found.values() for build in by_build}
    from_csv = [build for build in builds if build not in saved]
    kept = committed_rows(args.name, from_csv)
    from_csv = [build for build in from_csv
                if any(build in by_build for by_build in kept.values())]
    if from_csv:
        print(f"builds {', '.join(map(str, from_csv))}: no saved runs here, their rows are "
              f"read from the committed results/{args.name}.csv", file=sys.stderr)
    rows = rows_of(found, kept)
    if not rows:
        return 2
    fields = list(dict.fromkeys(k for row in rows for k in row))
    with open(results_path(f"{args.name}.csv"), "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    _plot(rows, builds, results_path(f"{args.name}.png"))
    summaries = [r for r in rows if r["build"] == "all"]
    lines = [
        f"# {HEADINGS[args.kind]}",
        "",
        f"- Command: `make -C benchmarks {TARGETS[args.kind]}` (per build B the runs "
        f"`{args.runs}-seed<B>_digits_nb201.md` and `{args.runs}-seed<B>_tabular_mlp.md`, each "
        "with its exact command, machine and data fingerprint), then "
        "`python benchmarks/builds_report.py"
        + (f" --kind {args.kind}" if args.kind != "defaults" else "")
        + (f" --runs {args.runs}" if args.runs != "builds" else "")
        + (f" --name {args.name}" if args.name != "defaults-builds" else "")
        + f" --builds {','.join(map(str, builds))}`",
        f"- Builds: {', '.join(map(str, builds))} (`make_heldout_curves.py --seed B`: each its "
        "own data split, corruption and initialisations; 2026 is the first build, 7 the second, "
        "the others were added together and chose nothing)",
        *([f"- Builds {', '.join(map(str, from_csv))}: read from this report's earlier "
           "CSV (their saved runs are not committed); their rows are the ones that run wrote"]
          if from_csv else []),
        f"- Seeds per build: {sorted({int(r['seeds']) for r in rows if r['build'] != 'all'})}, "
        "paired (seed k proposes the same first architecture under every pruner)",
        "- Δ in points of regret at the full budget, ours − Optuna's: below 0 ours is better. "
        f"Per build: 95 % bootstrap CI over seeds ({N_BOOTSTRAP} resamples). All builds: the "
        "mean of the builds' means, 95 % CI from Student's t over them (the builds as the unit). "
        "Bold: the CI excludes 0. Won/tied/lost: builds whose own CI is below 0, spans it, is "
        "above it",
        f"- Compared: {DESCRIPTION[args.kind]}",
        "",
        f"![per build and over builds]({args.name}.png)",
        "",
        "## Over builds",
        "",
        "| set | sampler | comparison | Δ val, mean of builds | builds won/tied/lost | "
        "Δ test, mean of builds | builds won/tied/lost |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in summaries:
        lines.append(
            f"| {row['set']} | {row['sampler']} | {row['comparison']} | {ci_cell(row, 'val')} | "
            f"{row['val_builds_won_tied_lost']} | {ci_cell(row, 'test')} | "
            f"{row['test_builds_won_tied_lost']} |"
        )
    lines += ["", "## Verdict", "",
              "A configuration is worse than its baseline on held-out sets where the mean over "
              "builds is worse with a CI above 0, in either regret, for any set and sampler "
              f"({RULE_FIXED[args.kind]}).", ""]
    for label, _, _ in PAIRS[args.kind]:
        cells = [r for r in summaries if r["comparison"] == label]
        if not cells:  # a comparison this kind's runs did not make
            continue
        worse = [f"{r['set']} {r['sampler']} {regret}" for r in cells for regret in REGRETS
                 if r[f"{regret}_verdict"] == "loss"]
        better = [f"{r['set']} {r['sampler']} {regret}" for r in cells for regret in REGRETS
                  if r[f"{regret}_verdict"] == "win"]
        lines.append(
            f"- {label}: worse in {len(worse)} of {2 * len(cells)} cells"
            + (f" ({', '.join(worse)})" if worse else "")
            + f", better in {len(better)}" + (f" ({', '.join(better)})" if better else "")
        )
    lines += [
        "",
        "## Per build",
        "",
        "| set | sampler | comparison | build | seeds | Δ val | Δ test |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row["build"] != "all":
            lines.append(
                f"| {row['set']} | {row['sampler']} | {row['comparison']} | {row['build']} | "
                f"{row['seeds']} | {ci_cell(row, 'val')} | {ci_cell(row, 'test')} |"
            )
    with open(results_path(f"{args.name}.md"), "w", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")
    print(results_path(f"{args.name}.md"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
