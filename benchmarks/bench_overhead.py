"""Pruner overhead: median ``trial.should_prune()`` latency of SoTLPruner and MedianPruner.

Both pruners are timed in the same run, on the same study, alternating call by call, with
100, 1,000 and 10,000 finished trials of 100 steps each, on in-memory, SQLite and PostgreSQL
storage. Writes results/overhead.md and overhead.png.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
import uuid

import numpy as np


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import DEFAULT_DATA  # noqa: E402
from _common import header  # noqa: E402
from _common import results_path  # noqa: E402


POSTGRES_URL = os.environ.get(
    "OPTUNA_SOTL_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)
N_STEPS = 100
PROBE_STEP = 50  # the running trial is timed after reporting steps 0..PROBE_STEP


def curves_for(n_trials: int, data: str) -> tuple[np.ndarray, np.ndarray]:
    """Training-loss curves and final values of ``n_trials`` finished trials.

    Rows of the recorded curves (repeated when more trials than rows are needed), so the values
    the pruners read are real; synthetic decreasing curves when the file is absent.
    """
    rng = np.random.default_rng(0)
    if os.path.exists(data):
        from optuna_sotl.curves import load_curves

        curves = load_curves(data)
        rows = rng.choice(curves.n_archs, size=n_trials, replace=n_trials > curves.n_archs)
        loss = curves.train_loss[rows][:, :N_STEPS]
        value = curves.val_metric[rows, -1]
    else:
        start = rng.uniform(1.5, 2.5, size=(n_trials, 1))
        loss = start * np.exp(
            -np.linspace(0, 3, N_STEPS)[None, :] * rng.uniform(0.3, 1, (n_trials, 1))
        )
        value = 100 - 30 * loss[:, -1]
    return loss, value


def build_inmemory(n_trials: int, data: str) -> tuple[object, str, float]:
    import optuna

    loss, value = curves_for(n_trials, data)
    storage = optuna.storages.InMemoryStorage()
    name = f"bench-overhead-{uuid.uuid4().hex[:12]}"
    started = time.perf_counter()
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize")
    study.add_trials(
        [
            optuna.trial.create_trial(
                value=float(value[i]),
                intermediate_values={step: float(loss[i, step]) for step in range(loss.shape[1])},
            )
            for i in range(n_trials)
        ]
    )
    return storage, name, time.perf_counter() - started


def build_rdb(url: str, n_trials: int, data: str) -> tuple[str, float]:
    """Fill a new study with SQL bulk inserts into Optuna's own tables (its SQLAlchemy models).

    ``study.add_trials`` writes one trial per transaction (timed separately, see the notes); the
    bulk insert writes the same rows in one transaction. The study is then read back through
    Optuna and checked.
    """
    import optuna
    from optuna.storages._rdb import models
    import sqlalchemy

    loss, value = curves_for(n_trials, data)
    name = f"bench-overhead-{uuid.uuid4().hex[:12]}"
    started = time.perf_counter()
    storage = optuna.storages.RDBStorage(url)
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize")
    study_id = study._study_id
    now = datetime.datetime.now()
    finite_value = models.TrialValueModel.TrialValueType.FINITE
    finite_step = models.TrialIntermediateValueModel.TrialIntermediateValueType.FINITE
    with storage.engine.begin() as connection:
        connection.execute(
            sqlalchemy.insert(models.TrialModel.__table__),
            [
                {
                    "number": i,
                    "study_id": study_id,
                    "state": optuna.trial.TrialState.COMPLETE,
                    "datetime_start": now,
                    "datetime_complete": now,
                }
                for i in range(n_trials)
            ],
        )
        table = models.TrialModel.__table__
        ids = dict(
            connection.execute(
                sqlalchemy.select(table.c.number, table.c.trial_id).where(
                    table.c.study_id == study_id
                )
            ).all()
        )
        connection.execute(
            sqlalchemy.insert(models.TrialValueModel.__table__),
            [
                {
                    "trial_id": ids[i],
                    "objective": 0,
                    "value": float(value[i]),
                    "value_type": finite_value,
                }
                for i in range(n_trials)
            ],
        )
        connection.execute(
            sqlalchemy.insert(models.TrialIntermediateValueModel.__table__),
            [
                {
                    "trial_id": ids[i],
                    "step": step,
                    "intermediate_value": float(loss[i, step]),
                    "intermediate_value_type": finite_step,
                }
                for i in range(n_trials)
                for step in range(loss.shape[1])
            ],
        )
    seconds = time.perf_counter() - started
    check = optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)
    assert len(check) == n_trials and all(t.state.is_finished() for t in check)
    assert np.allclose([check[-1].intermediate_values[s] for s in range(loss.shape[1])], loss[-1])
    storage.engine.dispose()
    return name, seconds


def api_build_seconds_per_trial(url: str, n_trials: int, data: str) -> float:
    """Seconds per trial of ``study.add_trials`` (one transaction per trial), for the notes."""
    import optuna

    loss, value = curves_for(n_trials, data)
    name = f"bench-overhead-api-{uuid.uuid4().hex[:12]}"
    study = optuna.create_study(storage=url, study_name=name, direction="maximize")
    trials = [
        optuna.trial.create_trial(
            value=float(value[i]),
            intermediate_values={step: float(loss[i, step]) for step in range(loss.shape[1])},
        )
        for i in range(n_trials)
    ]
    started = time.perf_counter()
    study.add_trials(trials)
    seconds = (time.perf_counter() - started) / n_trials
    optuna.delete_study(study_name=name, storage=url)
    return seconds


def time_pruners(storage: object, name: str, repeats: int) -> dict[str, dict[str, float]]:
    """Median wall-clock and CPU seconds of should_prune for each pruner, calls interleaved.

    CPU time is this process's only (a database server's work is not in it); on a machine shared
    with other work it is the steadier of the two.
    """
    import optuna

    from optuna_sotl import SoTLPruner

    pruners = {"SoTLPruner": SoTLPruner(), "MedianPruner": optuna.pruners.MedianPruner()}
    studies = {
        label: optuna.load_study(study_name=name, storage=storage, pruner=pruner)
        for label, pruner in pruners.items()
    }
    first = studies["SoTLPruner"]
    running = first.ask()
    for step in range(PROBE_STEP + 1):
        running.report(1.0 / (step + 1), step)
    trials = {
        label: optuna.trial.Trial(study, running._trial_id) for label, study in studies.items()
    }
    wall: dict[str, list[float]] = {label: [] for label in trials}
    cpu: dict[str, list[float]] = {label: [] for label in trials}
    for repeat in range(repeats + 1):
        # Alternate the order so neither pruner always runs on a warmer cache.
        order = list(trials) if repeat % 2 == 0 else list(trials)[::-1]
        for label in order:
            started, started_cpu = time.perf_counter(), time.process_time()
            trials[label].should_prune()
            if repeat > 0:  # the first call of each is untimed
                wall[label].append(time.perf_counter() - started)
                cpu[label].append(time.process_time() - started_cpu)
    first.tell(running, state=optuna.trial.TrialState.FAIL)
    return {
        label: {"median": statistics.median(wall[label]), "cpu": statistics.median(cpu[label])}
        for label in trials
    }


def main() -> int:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--storages", default="inmemory,sqlite,postgresql")
    parser.add_argument("--repeats", type=int, default=51, help="timed calls per pruner and size")
    parser.add_argument(
        "--api-trials", type=int, default=50, help="trials for the add_trials timing"
    )
    parser.add_argument(
        "--from-json", metavar="FILE", help="rewrite the markdown and plot from a saved run"
    )
    args = parser.parse_args()
    if args.from_json:
        with open(args.from_json, encoding="utf-8") as file:
            saved = json.load(file)
        write_results(saved["rows"], saved["api_notes"], argparse.Namespace(**saved["args"]))
        return 0
    sizes = [int(size) for size in args.sizes.split(",")]
    storages = args.storages.split(",")

    rows = []
    api_notes = []
    with tempfile.TemporaryDirectory() as folder:
        for kind in storages:
            url = {
                "inmemory": None,
                "sqlite": f"sqlite:///{os.path.join(folder, 'overhead.db')}",
                "postgresql": POSTGRES_URL,
            }[kind]
            if url is not None:
                per_trial = api_build_seconds_per_trial(url, args.api_trials, args.data)
                api_notes.append(
                    f"{kind}: `study.add_trials` took {1000 * per_trial:.0f} ms per trial of "
                    f"{N_STEPS} steps ({args.api_trials} trials timed), so 10,000 trials would "
                    f"take about {10_000 * per_trial / 60:.0f} min"
                )
            for size in sizes:
                if url is None:
                    storage, name, build = build_inmemory(size, args.data)
                else:
                    name, build = build_rdb(url, size, args.data)
                    # What create_study / load_study give for a URL (Optuna's cached RDB storage).
                    storage = optuna.storages.get_storage(url)
                timings = time_pruners(storage, name, args.repeats)
                rows.append((kind, size, build, timings))
                print(kind, size, f"build {build:.1f}s", timings, flush=True)
                if url is not None:
                    optuna.delete_study(study_name=name, storage=storage)
    with open(results_path("overhead.json"), "w", encoding="utf-8") as file:
        json.dump({"rows": rows, "api_notes": api_notes, "args": vars(args)}, file, indent=1)
    write_results(rows, api_notes, args)
    return 0


def write_results(rows: list, api_notes: list[str], args: argparse.Namespace) -> None:
    lines = [
        "",
        "![latency against finished trials](overhead.png)",
        "",
        f"Median of {args.repeats} `trial.should_prune()` calls per pruner (after one untimed "
        f"call each) for a RUNNING trial at step {PROBE_STEP} in a study of N COMPLETE trials × "
        f"{N_STEPS} steps. Both pruners use their defaults (`SoTLPruner()`: SoTL-E, E=1; "
        "`MedianPruner()`), share the study and the storage object (for SQLite and PostgreSQL "
        "Optuna's cached RDB storage, what a storage URL gives; its cache of finished trials is "
        "filled by `study.ask()` before the timing), and are called alternately.",
        "",
        "| storage | finished trials | SoTLPruner (ms) | MedianPruner (ms) | SoTL / Median | "
        "CPU ms SoTL / Median | CPU ratio | build (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind, size, build, timings in rows:
        sotl, median = timings["SoTLPruner"], timings["MedianPruner"]
        lines.append(
            f"| {kind} | {size:,} | {1000 * sotl['median']:.3f} | {1000 * median['median']:.3f} | "
            f"{sotl['median'] / median['median']:.2f} | "
            f"{1000 * sotl['cpu']:.3f} / {1000 * median['cpu']:.3f} | "
            f"{sotl['cpu'] / max(median['cpu'], 1e-9):.2f} | {build:.1f} |"
        )
    lines += [
        "",
        "### Growth from 1,000 to 10,000 finished trials (latency ratio; linear = 10)",
        "",
    ]
    lines += [
        "| storage | SoTLPruner | MedianPruner | SoTLPruner (CPU) | MedianPruner (CPU) |",
        "|---|---|---|---|---|",
    ]
    by_key = {(kind, size): timings for kind, size, _, timings in rows}
    goals = []
    for kind in dict.fromkeys(kind for kind, *_ in rows):
        small, large = by_key.get((kind, 1000)), by_key.get((kind, 10000))
        if small is None or large is None:
            continue
        growth = {
            (label, clock): large[label][clock] / max(small[label][clock], 1e-9)
            for label in small
            for clock in ("median", "cpu")
        }
        lines.append(
            f"| {kind} | {growth['SoTLPruner', 'median']:.2f} | "
            f"{growth['MedianPruner', 'median']:.2f} | {growth['SoTLPruner', 'cpu']:.2f} | "
            f"{growth['MedianPruner', 'cpu']:.2f} |"
        )
        goals.append((kind, growth["SoTLPruner", "median"], growth["SoTLPruner", "cpu"]))
    not_slower = all(t["SoTLPruner"]["median"] <= t["MedianPruner"]["median"] for *_, t in rows)
    not_slower_cpu = all(t["SoTLPruner"]["cpu"] <= t["MedianPruner"]["cpu"] for *_, t in rows)
    sublinear = bool(goals) and all(wall < 10 for _, wall, _ in goals)
    sublinear_cpu = bool(goals) and all(cpu < 10 for _, _, cpu in goals)
    lines += [
        "",
        "### Goals",
        "",
        f"- SoTLPruner's latency ≤ MedianPruner's at every size and storage: "
        f"**{'met' if not_slower else 'not met'}** on wall-clock medians "
        f"({'met' if not_slower_cpu else 'not met'} on CPU-time medians).",
        f"- Less than linear growth of SoTLPruner's latency from 1,000 to 10,000 trials: "
        f"**{'met' if sublinear else 'not met'}** on wall-clock medians "
        f"({'met' if sublinear_cpu else 'not met'} on CPU-time medians)"
        + ("" if goals else " (not measured: a size is missing)")
        + ".",
        "",
        "### Notes",
        "",
        "- Each study is built with the recorded training-loss curves of randomly chosen "
        "architectures of the data file as intermediate values (the pruners' cost does not "
        "depend on what the values mean). The in-memory study is filled with "
        "`study.add_trials`; the SQLite and PostgreSQL studies with SQL bulk inserts into "
        "Optuna's own tables through Optuna's SQLAlchemy models (one transaction), then read back "
        "through Optuna and checked. The build column times that.",
        *[
            f"- {note}: too slow to build the larger studies that way on this machine."
            for note in api_notes
        ],
        "- Only COMPLETE trials are finished here. In a pruned search most finished trials are "
        "PRUNED: MedianPruner skips them, while SoTLPruner compares against them too (by "
        "design), so its cost there grows with all trials, not just the completed ones.",
    ]
    extra = [
        f"Sizes {args.sizes}; storages {args.storages}; {args.repeats} timed calls per pruner; "
        f"PostgreSQL at `{POSTGRES_URL}`",
    ]
    with open(results_path("overhead.md"), "w", encoding="utf-8") as file:
        file.write(header("Pruner overhead: SoTLPruner against MedianPruner", extra))
        file.write("\n".join(lines) + "\n")
    plot(rows)
    print(open(results_path("overhead.md"), encoding="utf-8").read())


def plot(rows: list) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = {"SoTLPruner": "-", "MedianPruner": "--"}
    kinds = list(dict.fromkeys(kind for kind, *_ in rows))
    colors = {kind: plt.get_cmap("tab10")(i) for i, kind in enumerate(kinds)}
    for kind in kinds:
        sizes = [size for k, size, *_ in rows if k == kind]
        for label, style in styles.items():
            values = [1000 * t[label]["median"] for k, _, _, t in rows if k == kind]
            ax.plot(sizes, values, style, marker="o", color=colors[kind], label=f"{label}, {kind}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("finished trials (100 steps each)")
    ax.set_ylabel("median should_prune latency (ms)")
    ax.set_title("Pruner overhead, same study, alternating calls", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(results_path("overhead.png"), dpi=130)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
