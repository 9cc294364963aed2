"""Paired differences of the ``make -C benchmarks spare``, ``share``, ``sha-share``,
``hyperband-share`` and ``sha-prior`` runs: does sparing (or the estimator's prior) help?

    python benchmarks/spare_report.py [--kind KIND] [--name STEM]

Reads the saved runs ``results/<kind>_<set>_<sampler>_run.pkl`` that ``bench_search.py --name
<kind>_<set>`` wrote (SpikeNAS and the held-out sets, random sampling and regularised evolution)
and writes ``results/<kind>.md``, ``.csv`` and ``.png``: for each set, sampler and budget (half
and all), the mean paired difference of val and test regret, with a 95 % bootstrap CI over
seeds, of

- ``SoTLPruner(spare_every=20, spare_share=0)`` (``spare``) or ``SoTLPruner()`` (``share``, whose
  default is ``spare_share=0.2``) against ``SoTLPruner(spare_share=0)`` (does sparing help
  SoTLPruner?), against ``MedianPruner()`` and
  against ``MedianPruner`` sparing by the same rule (the fair baseline: sparing is not SoTL's);
- ``MedianPruner`` sparing against ``MedianPruner()``;
- for ``share``, the shares 0.1 and 0.3 against 0.2 where the run has them;
- for ``sha-share``, the same for ``SoTLSuccessiveHalvingPruner(spare_share=0.2)`` against its
  default, ``SuccessiveHalvingPruner()`` and ``SuccessiveHalvingPruner`` sparing by the share;
- for ``sha-prior``, ``SoTLSuccessiveHalvingPruner()`` (the ``"metric-first"`` prior) against
  the ``"metric"`` prior and ``SuccessiveHalvingPruner()``;
- for ``defaults`` (``--name defaults-seed7``: the second build of the held-out sets), each
  default against Optuna's counterpart.
"""

from __future__ import annotations

import argparse
import csv
import os
import pickle
import sys
from typing import Any
from typing import Iterator

import numpy as np


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import results_path  # noqa: E402

from optuna_sotl.curves._replay_data import COMPLETE  # noqa: E402


SETS = ("spikenas", "digits_nb201", "tabular_mlp")
# Kinds whose held-out runs live per build (builds_report.py): here, SpikeNAS only.
SETS_OF = {"best-so-far": ("spikenas",), "best-so-far-halving": ("spikenas",)}
SAMPLERS_RUN = ("random", "re")
# Seeds replayed again to measure the spared trials' share of the epochs.
SHARE_SEEDS = 4
# Per kind: (label, configuration, baseline) with pruner names of
# optuna_sotl.curves._search_configs, and the sparing configurations whose cost is measured.
PAIRS = {
    "spare": (
        ("spared − unspared", "sotl-spare20", "sotl-unspared"),
        ("spared − `MedianPruner()`", "sotl-spare20", "median"),
        ("spared − `MedianPruner` sparing the same", "sotl-spare20", "median-spare20"),
        ("`MedianPruner` sparing − `MedianPruner()`", "median-spare20", "median"),
    ),
    # "sotl" is SoTLPruner() of this version: spare_share=0.2.
    "share": (
        ("share − unspared", "sotl", "sotl-unspared"),
        ("share − `MedianPruner()`", "sotl", "median"),
        ("share − `MedianPruner` by the same share", "sotl", "median-share20"),
        ("`MedianPruner` by the share − `MedianPruner()`", "median-share20", "median"),
        ("share 0.1 − share 0.2", "sotl-share10", "sotl"),
        ("share 0.3 − share 0.2", "sotl-share30", "sotl"),
    ),
    # SoTLSuccessiveHalvingPruner(spare_share=0.2): does sparing help successive halving?
    "sha-share": (
        ("share − unspared", "sotl-sha-share20", "sotl-sha"),
        ("share − `SuccessiveHalvingPruner()`", "sotl-sha-share20", "sha"),
        ("share − `SuccessiveHalvingPruner` by the same share", "sotl-sha-share20",
         "sha-share20"),
        ("`SuccessiveHalvingPruner` by the share − `SuccessiveHalvingPruner()`", "sha-share20",
         "sha"),
        ("unspared − `SuccessiveHalvingPruner()`", "sotl-sha", "sha"),
        ("share 0.1 − share 0.2", "sotl-sha-share10", "sotl-sha-share20"),
    ),
    # SoTLSuccessiveHalvingPruner()'s estimator prior: "metric-first" (its default since this
    # comparison) against "metric" (before) and SuccessiveHalvingPruner().
    "sha-prior": (
        ("metric-first − `SuccessiveHalvingPruner()`", "sotl-sha", "sha"),
        ("metric − `SuccessiveHalvingPruner()`", "sotl-sha-cal-metric-e4", "sha"),
        ("metric-first − metric", "sotl-sha", "sotl-sha-cal-metric-e4"),
    ),
    # Every default against Optuna's counterpart (a second build of the held-out sets).
    "defaults": (
        ("`SoTLPruner()` − `MedianPruner()`", "sotl", "median"),
        ("`SoTLSuccessiveHalvingPruner()` − `SuccessiveHalvingPruner()`", "sotl-sha", "sha"),
        ("`SoTLHyperbandPruner()` − `HyperbandPruner`", "sotl-hyperband", "hyperband"),
    ),
    # SoTLPruner() ranking by each trial's best metric so far (its default since this
    # comparison) against the same at the step (the default before).
    "best-so-far": (
        ("best so far − at the step", "sotl", "sotl-at-step"),
        ("best so far − `MedianPruner()`", "sotl", "median"),
        ("at the step − `MedianPruner()`", "sotl-at-step", "median"),
    ),
    # The same reading in successive halving (its default since this comparison) and
    # Hyperband, whose rungs Optuna compares at the rung (not by the best value so far).
    "best-so-far-halving": (
        ("SHA: best so far − at the rung", "sotl-sha", "sotl-sha-at-rung"),
        ("SHA: best so far − `SuccessiveHalvingPruner()`", "sotl-sha", "sha"),
        ("SHA at the rung − `SuccessiveHalvingPruner()`", "sotl-sha-at-rung", "sha"),
        ("Hyperband: best so far − at the rung", "sotl-hyperband-best", "sotl-hyperband"),
        ("Hyperband: best so far − `HyperbandPruner`", "sotl-hyperband-best", "hyperband"),
        ("`SoTLHyperbandPruner` − `HyperbandPruner`", "sotl-hyperband", "hyperband"),
    ),
    # SoTLHyperbandPruner(spare_share=0.2): the same question for Hyperband.
    "hyperband-share": (
        ("share − unspared", "sotl-hyperband-share20", "sotl-hyperband-unspared"),
        ("share − `HyperbandPruner`", "sotl-hyperband-share20", "hyperband"),
        ("unspared − `HyperbandPruner`", "sotl-hyperband-unspared", "hyperband"),
        ("share 0.1 − share 0.2", "sotl-hyperband-share10", "sotl-hyperband-share20"),
    ),
}
SPARING = {
    "spare": ("sotl-spare20", "median-spare20"),
    "share": ("sotl", "median-share20"),
    "sha-share": ("sotl-sha-share20", "sha-share20"),
    "hyperband-share": ("sotl-hyperband-share20",),
    "sha-prior": (),
    "defaults": (),
    "best-so-far": (),
    "best-so-far-halving": (),
}
# The make targets that write a kind's runs under another stem (a second build of the sets).
SECOND_BUILD_TARGETS = {"sha-prior": "sha-prior-second-build", "defaults": "heldout-second-build"}
TITLE = {
    "sha-prior": "Successive halving's estimator prior: paired differences",
    "defaults": "The defaults against Optuna's pruners: paired differences",
    "best-so-far": "SoTLPruner ranking by the best metric so far: paired differences",
    "best-so-far-halving": "Successive halving and Hyperband ranking by the best metric so far: "
    "paired differences",
}
_UNSPARED = (
    ", \"unspared\" `SoTLPruner(spare_share=0)`; both rank by the training loss, `MedianPruner` "
    "by `val_acc`"
)
DESCRIPTION = {
    "spare": "`SoTLPruner(spare_every=20, spare_share=0)`" + _UNSPARED,
    "share": "`SoTLPruner()`, whose default is `spare_share=0.2` (0.1 and 0.3: `share 0.1`, "
    "`share 0.3`)" + _UNSPARED,
    "sha-share": "`SoTLSuccessiveHalvingPruner(spare_share=0.2)`, \"unspared\" its default "
    "`SoTLSuccessiveHalvingPruner()`; it ranks by the self-calibrating estimator (the metric "
    "until the study shows the loss ranks better), `SuccessiveHalvingPruner` by `val_acc`",
    "sha-prior": "`SoTLSuccessiveHalvingPruner()` with "
    "`SelfCalibratingEstimator(prior=\"metric-first\")` (its default since this comparison: the "
    "metric's weight stays 1 while it ranks the calibration trials better in at least half the "
    "bootstrap resamples), \"metric\" the same with `prior=\"metric\"` (the default before: the "
    "weight is that share); `SuccessiveHalvingPruner()` ranks by `val_acc`. No sparing",
    "defaults": "this version's defaults (`SoTLHyperbandPruner` and `HyperbandPruner` with "
    "`min_resource=1, reduction_factor=3`, Optuna's set-up for 100 epochs) against Optuna's "
    "pruners fed `val_acc`",
    "best-so-far": "`SoTLPruner(estimator=SelfCalibratingEstimator(loss_estimator=SoTL(), "
    "metric_value=\"best-so-far\"))` (\"best so far\": a trial's metric is its best value up "
    "to the step, as `MedianPruner` reads the judged trial; `SoTLPruner()`'s default since this "
    "comparison) against the same with `metric_value=\"at-step\"` (\"at the step\", the "
    "default before) and `MedianPruner()` fed `val_acc`",
    "best-so-far-halving": "`SoTLSuccessiveHalvingPruner()` and `SoTLHyperbandPruner("
    "min_resource=1, reduction_factor=3)` (Optuna's set-up for 100 epochs) with their "
    "self-calibrating estimator ranking by each trial's best metric so far "
    "(`metric_value=\"best-so-far\"`, successive halving's default since this comparison) "
    "against the same at the rung (the defaults before; Hyperband's still) and "
    "Optuna's `SuccessiveHalvingPruner()` and `HyperbandPruner` fed `val_acc`",
    "hyperband-share": "`SoTLHyperbandPruner(min_resource=1, reduction_factor=3, "
    "spare_share=0.2)` (its default since this comparison), \"unspared\" the same with "
    "`spare_share=0`, both with the self-calibrating estimator per bracket; "
    "`HyperbandPruner(min_resource=1, reduction_factor=3)` by `val_acc`",
}
N_BOOTSTRAP = 5000


def bootstrap_ci(diff: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """95 % bootstrap CI of the mean of paired differences over seeds."""
    means = diff[rng.integers(0, diff.size, size=(N_BOOTSTRAP, diff.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def make_target(kind: str, name: str) -> str:
    """The ``make -C benchmarks`` target that writes the runs of ``kind`` stored as ``name``."""
    return kind if name == kind else SECOND_BUILD_TARGETS.get(kind, kind)


def saved_runs(
    kind: str = "spare", quiet: bool = False, name: str | None = None,
    sets: tuple[str, ...] | None = None,
) -> Iterator[tuple[str, str, Any]]:
    """``(set, sampler, SearchResult)`` of every saved run of ``make -C benchmarks <kind>``
    (stored under the stem ``name``, the kind's own by default) on ``sets`` (the kind's)."""
    name = name or kind
    for data_set in sets or SETS_OF.get(kind, SETS):
        for sampler in SAMPLERS_RUN:
            path = results_path(f"{name}_{data_set}_{sampler}_run.pkl")
            if not os.path.exists(path):
                if not quiet:
                    print(f"missing {path}: run `make -C benchmarks {make_target(kind, name)}` "
                          "first", file=sys.stderr)
                continue
            with open(path, "rb") as file:
                result, _, _ = pickle.load(file)
            yield data_set, sampler, result


def _rows(kind: str, name: str) -> list[dict[str, object]]:
    rng = np.random.default_rng(0)
    rows: list[dict[str, object]] = []
    for data_set, sampler, result in saved_runs(kind, name=name):
        names = [config.pruner_name for config in result.configs]
        for fraction, g in (("1/2", result.grid.size // 2 - 1), ("all", -1)):
            for label, config, baseline in PAIRS[kind]:
                if config not in names or baseline not in names:
                    continue
                row: dict[str, object] = {
                    "set": data_set, "sampler": sampler, "budget": fraction,
                    "epochs": int(result.grid[g]), "seeds": len(result.seeds),
                    "comparison": label, "configuration": config, "baseline": baseline,
                }
                for regret in ("val", "test"):
                    values = getattr(result, regret)[:, :, g]
                    diff = values[names.index(config)] - values[names.index(baseline)]
                    low, high = (
                        bootstrap_ci(diff, rng) if np.isfinite(diff).all() else (np.nan, np.nan)
                    )
                    row[f"{regret}_diff_mean"] = round(float(diff.mean()), 4)
                    row[f"{regret}_diff_ci_low"] = round(low, 4)
                    row[f"{regret}_diff_ci_high"] = round(high, 4)
                rows.append(row)
    return rows


def _spared_shares(kind: str, n_seeds: int) -> list[str]:
    """Table lines: the share of the epochs the spared trials took, per set, sampler and pruner
    (``n_seeds`` seeds replayed again with the trial log; the saved runs keep no epochs)."""
    from optuna_sotl.curves import load_curves
    from optuna_sotl.curves._replay import fast_replay
    from optuna_sotl.curves._replay import ReplayData
    from optuna_sotl.curves._replay import study_name
    from optuna_sotl.curves._replay_pruners import spared_in_log
    from optuna_sotl.curves._search_configs import PRUNERS
    from optuna_sotl.curves._search_configs import SAMPLERS

    lines = [
        "| set | sampler | pruner | spared trials' share of the epochs | trials | completed |",
        "|---|---|---|---|---|---|",
    ]
    for data_set, sampler, result in saved_runs(kind, quiet=True):
        data = ReplayData(load_curves(result.source))
        for name in SPARING[kind]:
            spec = PRUNERS[name]
            every = int(spec.option("spare_every", 0))
            share = float(spec.option("spare_share", 0.0))
            shares, trials, completed = [], [], []
            for seed in range(n_seeds):
                log = fast_replay(
                    data, SAMPLERS[sampler], spec, seed, budget=result.budget, log=True
                ).log
                epochs = np.array([last + 1 for _, _, last in log], dtype=float)
                spared = np.array(spared_in_log(log, study_name(seed), every, share))
                shares.append(epochs[spared].sum() / epochs.sum())
                trials.append(len(log))
                completed.append(sum(state == COMPLETE for _, state, _ in log))
            lines.append(
                f"| {data_set} | {sampler} | `{name}` | {np.mean(shares):.0%} | "
                f"{np.mean(trials):.0f} | {np.mean(completed):.0f} |"
            )
    return lines


def ci_cell(row: dict[str, object], regret: str) -> str:
    """A table cell ``mean [low, high]`` of a row's difference, bold when the CI excludes 0."""
    mean, low, high = (float(row[f"{regret}_diff_{k}"]) for k in ("mean", "ci_low", "ci_high"))
    text = f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"
    return f"**{text}**" if low > 0 or high < 0 else text


def _plot(rows: list[dict[str, object]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    full = [r for r in rows if r["budget"] == "all"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.32 * len(full) + 1.5), sharey=True)
    labels = [f"{r['set']} {r['sampler']}: {r['comparison']}".replace("`", "") for r in full]
    y = np.arange(len(full))[::-1]
    for ax, regret in zip(axes, ("val", "test")):
        mean = np.array([float(r[f"{regret}_diff_mean"]) for r in full])
        low = np.array([float(r[f"{regret}_diff_ci_low"]) for r in full])
        high = np.array([float(r[f"{regret}_diff_ci_high"]) for r in full])
        ax.errorbar(mean, y, xerr=[mean - low, high - mean], fmt="o", capsize=3)
        ax.axvline(0.0, color="grey", lw=0.8)
        ax.set_title(f"Δ {regret} regret (points), full budget; < 0: the first is better")
    axes[0].set_yticks(y, labels, fontsize=7)
    fig.tight_layout()
    # The long comparison labels would otherwise be cut at the left edge.
    fig.savefig(path, dpi=110, bbox_inches="tight")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=sorted(PAIRS), default="spare")
    parser.add_argument(
        "--name", default=None,
        help="the runs' and the report's file stem when not the kind's (another build)",
    )
    args = parser.parse_args()
    kind, name = args.kind, args.name or args.kind
    rows = _rows(kind, name)
    if not rows:
        return 2
    with open(results_path(f"{name}.csv"), "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    _plot(rows, results_path(f"{name}.png"))
    command = ("" if kind == "spare" else f" --kind {kind}") + (
        f" --name {name}" if name != kind else ""
    )
    lines = [
        "# " + TITLE.get(kind, "Sparing trials from pruning: paired differences"),
        "",
        f"- Command: `make -C benchmarks {make_target(kind, name)}` (the runs: "
        + ", ".join(
            f"`{name}_{data_set}.md`" + (" where there is one" if data_set == "spikenas" else "")
            for data_set in SETS_OF.get(kind, SETS)
        )
        + ", each with its exact command, machine and data fingerprint), "
        f"then `python benchmarks/spare_report.py{command}`",
        f"- Seeds: {sorted({int(r['seeds']) for r in rows})} per configuration, paired (seed k "
        "proposes the same first architecture under every pruner); 95 % bootstrap CI over seeds "
        f"({N_BOOTSTRAP} resamples); bold: the CI excludes 0",
        f"- Δ in points of regret, first − second: below 0 the first is better. \"{kind}\" is "
        f"{DESCRIPTION[kind]}",
        "",
        f"![paired differences]({name}.png)",
        "",
        "| set | sampler | budget | comparison | Δ val | Δ test |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['set']} | {row['sampler']} | {row['budget']} ({row['epochs']}) | "
            f"{row['comparison']} | {ci_cell(row, 'val')} | {ci_cell(row, 'test')} |"
        )
    if SPARING[kind]:
        lines += _cost_section(kind)
    with open(results_path(f"{name}.md"), "w", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")
    print(results_path(f"{name}.md"))
    return 0


def _cost_section(kind: str) -> list[str]:
    return [
        "",
        "## What sparing costs",
        "",
        f"Seeds 0..{SHARE_SEEDS - 1} replayed again at the full budget with the trial log: the "
        "epochs the spared trials took, as a share of all; mean trials and completed trials "
        "per study.",
        "",
        *_spared_shares(kind, SHARE_SEEDS),
    ]


if __name__ == "__main__":
    raise SystemExit(main())
