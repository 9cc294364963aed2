"""Rung pruners' overhead: one rung decision of SoTLSuccessiveHalvingPruner() against Optuna's.

Both pruners at their defaults decide at a rung for a RUNNING trial of a study of N finished
trials (100, 1,000, 10,000; in-memory, SQLite and PostgreSQL storage), in the two set-ups of
``bench_overhead.py``. Optuna's pruner writes a rung to the trial at its first call at or after
the rung's step and answers later calls from it, so every timed call is a fresh trial's decision
at the rung, after it called ``should_prune`` (untimed) at the earlier rungs, as a training loop
that asks every epoch does. The finished trials carry what each pruner reads in a real study:
the validation-metric curve the reporter stores (ours) and the rungs Optuna's pruner recorded
(``completed_rung_k``, the value at each rung step the trial reached). Writes
results/overhead_rungs.md, overhead_rungs.json and overhead_rungs.png.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import DEFAULT_DATA  # noqa: E402
from _common import header  # noqa: E402
from _common import portable  # noqa: E402
from _common import require_data  # noqa: E402
from _common import results_path  # noqa: E402
from bench_overhead import build_inmemory  # noqa: E402
from bench_overhead import build_rdb  # noqa: E402
from bench_overhead import curves_for  # noqa: E402
from bench_overhead import plot_latency  # noqa: E402
from bench_overhead import POSTGRES_URL  # noqa: E402
from bench_overhead import SETUPS  # noqa: E402
from bench_overhead import summary  # noqa: E402
from bench_overhead import trials_for  # noqa: E402


# Both defaults: min_resource "auto" = 1 (trials complete at step 99), reduction factor 4, so
# rungs at steps 1, 4, 16, 64. The probe is a rung most finished trials reached.
RUNG_STEPS = (1, 4, 16, 64)
PROBE_STEPS = {"complete": 16, "pruned": 4}
LABELS = ("SoTLSuccessiveHalvingPruner", "SuccessiveHalvingPruner")


def attrs_for(setup: str, n_trials: int, data: str) -> list[tuple[dict, dict]]:
    """(user attributes, system attributes) of each finished trial of ``setup``.

    The validation-metric curve (the recorded accuracy of the same architecture, to the trial's
    last step), and the rungs Optuna's successive halving would have recorded on the way.
    """
    from optuna_sotl._attrs import VAL_METRIC_CURVE

    rows = trials_for(setup, n_trials, data)
    loss, value = curves_for(n_trials, data)
    metric = _metric_curves(n_trials, data, loss.shape[1])
    attrs = []
    for i, (_, values, _) in enumerate(rows):
        last = max(values)
        user = {VAL_METRIC_CURVE: [float(v) for v in metric[i, : last + 1]]}
        system = {
            f"completed_rung_{rung}": values[step]
            for rung, step in enumerate(RUNG_STEPS)
            if step <= last
        }
        attrs.append((user, system))
    return attrs


def _metric_curves(n_trials: int, data: str, n_steps: int):  # type: ignore[no-untyped-def]
    import numpy as np

    # The rows curves_for draws (same seed), so each trial's metric belongs to its losses.
    rng = np.random.default_rng(0)
    if os.path.exists(data):
        from optuna_sotl.curves import load_curves

        curves = load_curves(data)
        rows = rng.choice(curves.n_archs, size=n_trials, replace=n_trials > curves.n_archs)
        return curves.val_metric[rows][:, :n_steps]
    loss, _ = curves_for(n_trials, data)
    return 100.0 - 30.0 * loss


def time_rung_decisions(
    storage: object, name: str, probe_step: int, repeats: int, data: str
) -> dict[str, dict[str, float]]:
    """Median wall-clock and CPU seconds of one rung decision per pruner, fresh trials."""
    import optuna

    from optuna_sotl import SoTLSuccessiveHalvingPruner
    from optuna_sotl._attrs import VAL_METRIC_CURVE

    pruners = {
        LABELS[0]: SoTLSuccessiveHalvingPruner(),
        LABELS[1]: optuna.pruners.SuccessiveHalvingPruner(),
    }
    studies = {
        label: optuna.load_study(study_name=name, storage=storage, pruner=pruner)
        for label, pruner in pruners.items()
    }
    # Optuna's pruner reads the losses in the study's direction (maximize): a trial it promotes
    # at every earlier rung decides once at the probe, with one write, as in a real study.
    loss = 10.0
    metric = _metric_curves(1, data, probe_step + 1)
    wall: dict[str, list[float]] = {label: [] for label in studies}
    cpu: dict[str, list[float]] = {label: [] for label in studies}
    for repeat in range(repeats + 1):
        order = list(studies) if repeat % 2 == 0 else list(studies)[::-1]
        for label in order:
            trial = studies[label].ask()
            for step in range(probe_step + 1):
                trial.report(loss, step)
                trial.set_user_attr(VAL_METRIC_CURVE, [float(v) for v in metric[0, : step + 1]])
                if step in RUNG_STEPS and step < probe_step:
                    trial.should_prune()  # the earlier rungs, untimed
            started, started_cpu = time.perf_counter(), time.process_time()
            trial.should_prune()
            wall[label].append(time.perf_counter() - started)
            cpu[label].append(time.process_time() - started_cpu)
            studies[label].tell(trial, state=optuna.trial.TrialState.FAIL)
    return summary(wall, cpu)


def main() -> int:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--setups", default="complete,pruned")
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--storages", default="inmemory,sqlite,postgresql")
    parser.add_argument("--repeats", type=int, default=51, help="timed decisions per pruner")
    parser.add_argument(
        "--before", metavar="FILE", help="a saved run of older code, whose ratios are shown too"
    )
    parser.add_argument("--from-json", metavar="FILE", help="rewrite the markdown and plot")
    args = parser.parse_args()
    before = None
    if args.before:
        with open(args.before, encoding="utf-8") as file:
            before = json.load(file)
    if args.from_json:
        with open(args.from_json, encoding="utf-8") as file:
            saved_run = json.load(file)
        write_results(saved_run["rows"], argparse.Namespace(**saved_run["args"]), before)
        return 0
    args.data = require_data(args.data)
    from tqdm import tqdm

    cases = [
        (kind, setup, int(size))
        for kind in args.storages.split(",")
        for setup in args.setups.split(",")
        for size in args.sizes.split(",")
    ]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for kind, setup, size in tqdm(cases, desc="overhead-rungs", unit="study"):
            url = {
                "inmemory": None,
                "sqlite": f"sqlite:///{os.path.join(folder, 'overhead.db')}",
                "postgresql": POSTGRES_URL,
            }[kind]
            attrs = attrs_for(setup, size, args.data)
            if url is None:
                storage, name, build = build_inmemory(setup, size, args.data, attrs)
            else:
                name, build = build_rdb(url, setup, size, args.data, attrs)
                storage = optuna.storages.get_storage(url)
            timings = time_rung_decisions(
                storage, name, PROBE_STEPS[setup], args.repeats, args.data
            )
            rows.append(
                {"setup": setup, "storage": kind, "size": size, "build": build, "timings": timings}
            )
            if url is not None:
                optuna.delete_study(study_name=name, storage=storage)
    saved = vars(args) | {"data": portable(args.data)}
    with open(results_path("overhead_rungs.json"), "w", encoding="utf-8") as file:
        json.dump({"rows": rows, "args": saved}, file, indent=1)
    write_results(rows, argparse.Namespace(**saved), before)
    return 0


def _ratio(timings: dict, clock: str = "median") -> float:
    return timings[LABELS[0]][clock] / max(timings[LABELS[1]][clock], 1e-9)


def write_results(rows: list[dict], args: argparse.Namespace, before: dict | None) -> None:
    from optuna_sotl import SoTLSuccessiveHalvingPruner

    before_by_key = {
        (row["setup"], row["storage"], row["size"]): row["timings"]
        for row in (before or {}).get("rows", [])
    }

    lines = [
        "",
        "![latency of a rung decision against finished trials](overhead_rungs.png)",
        "",
        f"Median of {args.repeats} rung decisions per pruner (one untimed decision first, shown "
        "as *first call*), each a fresh RUNNING trial's `trial.should_prune()` at the probe "
        "step after it asked at the earlier rungs. Both pruners at their defaults "
        f"(`{SoTLSuccessiveHalvingPruner()!r}`; `SuccessiveHalvingPruner()`), on the same "
        "study and storage object, called in turn in alternating order. Optuna's pruner writes "
        "the rung to the trial (one storage write per decision), ours writes nothing and reads "
        "the stored losses and validation metrics instead.",
        "",
    ]
    for setup in args.setups.split(","):
        lines += [
            f"### {setup}: {SETUPS[setup]}, rung decision at step {PROBE_STEPS[setup]}",
            "",
            "| storage | finished trials | SoTL SHA (ms) | Optuna SHA (ms) | SoTL / Optuna | "
            "CPU ratio | SoTL first call (ms) | "
            + ("SoTL / Optuna before the rows | " if before else "")
            + "build (s) |",
            "|---|---|---|---|---|---|---|" + ("---|" if before else "") + "---|",
        ]
        for row in rows:
            if row["setup"] != setup:
                continue
            ours, theirs = (row["timings"][label] for label in LABELS)
            old = before_by_key.get((setup, row["storage"], row["size"]))
            old_cell = "" if not before else (f"{_ratio(old):.2f} | " if old else "— | ")
            lines.append(
                f"| {row['storage']} | {row['size']:,} | {1000 * ours['median']:.3f} | "
                f"{1000 * theirs['median']:.3f} | **{_ratio(row['timings']):.2f}** | "
                f"{_ratio(row['timings'], 'cpu'):.2f} | {1000 * ours['first']:.1f} | "
                f"{old_cell}{row['build']:.1f} |"
            )
        lines.append("")
    over = [row for row in rows if _ratio(row["timings"]) > 1.0]
    lines += [
        "### Goal",
        "",
        "- A rung decision of `SoTLSuccessiveHalvingPruner()` costs no more than one of "
        f"`SuccessiveHalvingPruner()` at every size, storage and set-up: "
        f"**{'met' if not over else 'not met'}** on wall-clock medians.",
        *[
            f"  - exceeded: {row['setup']}, {row['storage']}, {row['size']:,} trials: "
            f"{_ratio(row['timings']):.2f}× (CPU {_ratio(row['timings'], 'cpu'):.2f}×)."
            for row in over
        ],
        "",
        "### Notes",
        "",
        "- The default estimator, `SelfCalibratingEstimator(prior=\"metric\")`, ranks a rung by "
        "the validation metric, SoTL-E or a blend, chosen by a bootstrap over calibration "
        "trials. The pruners' index (`optuna_sotl/pruners/_score_index.py`) keeps each finished "
        "trial's row of what the estimator reads (`optuna_sotl/estimators/_trial_rows.py`), and "
        "the choice is kept until the calibration set changes; in these static studies it does "
        "not change between timed calls, so the bootstrap's own cost (a few ms, bounded by "
        "50,000 resample cells) is in the *first call* column only.",
        "- The studies are built as in `overhead.md`, with two kinds of attribute more: the "
        "recorded validation-accuracy curve of each trial (the reporter's `val_metric_curve`) "
        "and Optuna's `completed_rung_k` system attributes at steps 1, 4, 16 and 64.",
        "- The machine was shared with two replayed searches during the run; calls alternate, "
        "so their load falls on both pruners alike.",
    ]
    if before:
        lines.append(
            "- *Before the rows*: the same script on the code before the index kept the "
            f"estimator's rows (commit {before.get('commit', 'unknown')}: every decision read "
            "every compared trial's curves), in-memory only, saved as "
            "`results/overhead_rungs_before.json`."
        )
    extra = [
        f"Set-ups {args.setups}; sizes {args.sizes}; storages {args.storages}; {args.repeats} "
        f"timed decisions per pruner; PostgreSQL at `{POSTGRES_URL}`",
        "Timings saved in `results/overhead_rungs.json` (`--from-json` renders them again, "
        "`--before` adds an older run's ratios)",
    ]
    with open(results_path("overhead_rungs.md"), "w", encoding="utf-8") as file:
        title = "Rung pruners' overhead: SoTL successive halving against Optuna's"
        file.write(header(title, extra))
        file.write("\n".join(lines) + "\n")
    plot(rows, args.setups.split(","))
    print(open(results_path("overhead_rungs.md"), encoding="utf-8").read())


def plot(rows: list[dict], setups: list[str]) -> None:
    plot_latency(
        rows,
        LABELS,
        {setup: f"{setup}: rung at step {PROBE_STEPS[setup]}" for setup in setups},
        ylabel="median rung decision latency (ms)",
        title="Rung pruners' overhead, same study, alternating calls",
        path=results_path("overhead_rungs.png"),
    )


if __name__ == "__main__":
    sys.exit(main())
