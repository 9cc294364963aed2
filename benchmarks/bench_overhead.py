"""Pruner overhead: median ``trial.should_prune()`` latency of SoTLPruner and MedianPruner.

Both pruners are timed in the same run, on the same study, alternating call by call, with
100, 1,000 and 10,000 finished trials, on in-memory, SQLite and PostgreSQL storage, in two
set-ups: every trial COMPLETE after 100 steps (probed at step 50), and a pruning-heavy study
where one trial in seven completed 100 steps and the others were PRUNED after 1-29 (probed at
step 9). Writes results/overhead.md, overhead.json and overhead.png.
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
from _common import portable  # noqa: E402
from _common import REPO  # noqa: E402
from _common import require_data  # noqa: E402
from _common import results_path  # noqa: E402


POSTGRES_URL = os.environ.get(
    "OPTUNA_SOTL_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)
N_STEPS = 100
# set-up -> the step the running trial is timed at (after reporting steps 0 .. that step).
PROBE_STEPS = {"complete": 50, "pruned": 9}
SETUPS = {
    "complete": "every trial COMPLETE after 100 steps",
    "pruned": "1 in 7 COMPLETE after 100 steps, the rest PRUNED after 1-29",
}


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


def trials_for(setup: str, n_trials: int, data: str) -> list[tuple[bool, dict[int, float], float]]:
    """(complete?, intermediate values, value) of each finished trial of ``setup``.

    In "pruned", trial ``i`` completes when ``i % 7 == 0``; the others stop after a number of
    steps drawn uniformly from 1..29 (seed 1), as a pruned search leaves them.
    """
    loss, value = curves_for(n_trials, data)
    lengths = np.full(n_trials, loss.shape[1])
    if setup == "pruned":
        short = np.random.default_rng(1).integers(1, 30, size=n_trials)
        lengths = np.where(np.arange(n_trials) % 7 == 0, loss.shape[1], short)
    return [
        (
            bool(lengths[i] == loss.shape[1]),
            {step: float(loss[i, step]) for step in range(lengths[i])},
            float(value[i]),
        )
        for i in range(n_trials)
    ]


# (user attributes, system attributes) of each trial, in the order of trials_for; None: none.
Attrs = list[tuple[dict, dict]] | None


def frozen_trials(setup: str, n_trials: int, data: str, attrs: Attrs = None) -> list:
    import optuna

    return [
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.COMPLETE if complete else optuna.trial.TrialState.PRUNED,
            value=value if complete else None,
            intermediate_values=values,
            user_attrs=None if attrs is None else attrs[i][0],
            system_attrs=None if attrs is None else attrs[i][1],
        )
        for i, (complete, values, value) in enumerate(trials_for(setup, n_trials, data))
    ]


def build_inmemory(
    setup: str, n_trials: int, data: str, attrs: Attrs = None
) -> tuple[object, str, float]:
    import optuna

    trials = frozen_trials(setup, n_trials, data, attrs)
    storage = optuna.storages.InMemoryStorage()
    name = f"bench-overhead-{uuid.uuid4().hex[:12]}"
    started = time.perf_counter()
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize")
    study.add_trials(trials)
    return storage, name, time.perf_counter() - started


def build_rdb(
    url: str, setup: str, n_trials: int, data: str, attrs: Attrs = None
) -> tuple[str, float]:
    """Fill a new study with SQL bulk inserts into Optuna's own tables (its SQLAlchemy models).

    ``study.add_trials`` writes one trial per transaction (timed separately, see the notes); the
    bulk insert writes the same rows in one transaction. The study is then read back through
    Optuna and checked.
    """
    import optuna
    from optuna.storages._rdb import models
    import sqlalchemy

    trials = trials_for(setup, n_trials, data)
    name = f"bench-overhead-{uuid.uuid4().hex[:12]}"
    started = time.perf_counter()
    storage = optuna.storages.RDBStorage(url)
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize")
    study_id = study._study_id
    now = datetime.datetime.now()
    finite_value = models.TrialValueModel.TrialValueType.FINITE
    finite_step = models.TrialIntermediateValueModel.TrialIntermediateValueType.FINITE
    state = optuna.trial.TrialState
    with storage.engine.begin() as connection:
        connection.execute(
            sqlalchemy.insert(models.TrialModel.__table__),
            [
                {
                    "number": i,
                    "study_id": study_id,
                    "state": state.COMPLETE if complete else state.PRUNED,
                    "datetime_start": now,
                    "datetime_complete": now,
                }
                for i, (complete, _, _) in enumerate(trials)
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
                {"trial_id": ids[i], "objective": 0, "value": value, "value_type": finite_value}
                for i, (complete, _, value) in enumerate(trials)
                if complete
            ],
        )
        connection.execute(
            sqlalchemy.insert(models.TrialIntermediateValueModel.__table__),
            [
                {
                    "trial_id": ids[i],
                    "step": step,
                    "intermediate_value": loss,
                    "intermediate_value_type": finite_step,
                }
                for i, (_, values, _) in enumerate(trials)
                for step, loss in values.items()
            ],
        )
        for column, model in [
            (0, models.TrialUserAttributeModel),
            (1, models.TrialSystemAttributeModel),
        ]:
            attr_rows = [
                {"trial_id": ids[i], "key": key, "value_json": json.dumps(value)}
                for i, pair in enumerate(attrs or [])
                for key, value in pair[column].items()
            ]
            if attr_rows:
                connection.execute(sqlalchemy.insert(model.__table__), attr_rows)
    seconds = time.perf_counter() - started
    check = optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)
    assert len(check) == n_trials and all(t.state.is_finished() for t in check)
    assert [t.intermediate_values for t in check[-7:]] == [v for _, v, _ in trials[-7:]]
    assert [t.state == state.COMPLETE for t in check] == [c for c, _, _ in trials]
    if attrs:
        assert [(t.user_attrs, t.system_attrs) for t in check[-7:]] == attrs[-7:]
    storage.engine.dispose()
    return name, seconds


def api_build_seconds_per_trial(url: str, n_trials: int, data: str) -> float:
    """Seconds per trial of ``study.add_trials`` (one transaction per trial), for the notes."""
    import optuna

    trials = frozen_trials("complete", n_trials, data)
    name = f"bench-overhead-api-{uuid.uuid4().hex[:12]}"
    study = optuna.create_study(storage=url, study_name=name, direction="maximize")
    started = time.perf_counter()
    study.add_trials(trials)
    seconds = (time.perf_counter() - started) / n_trials
    optuna.delete_study(study_name=name, storage=url)
    return seconds


def time_pruners(
    storage: object, name: str, probe_step: int, repeats: int
) -> dict[str, dict[str, float]]:
    """Median wall-clock and CPU seconds of should_prune for each pruner, calls interleaved.

    CPU time is this process's only (a database server's work is not in it); on a machine shared
    with other work it is the steadier of the two. ``first`` is each pruner's first, untimed-in-
    the-median call: SoTLPruner's fills its index of the study's finished trials there.
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
    for step in range(probe_step + 1):
        running.report(1.0 / (step + 1), step)
    trials = {
        label: optuna.trial.Trial(study, running._trial_id) for label, study in studies.items()
    }
    wall: dict[str, list[float]] = {label: [] for label in trials}
    cpu: dict[str, list[float]] = {label: [] for label in trials}
    for repeat in range(repeats + 1):
        # Alternate the order so neither pruner always runs on a warmer cache, and call them in
        # turn so that load from other work on the machine falls on both alike.
        order = list(trials) if repeat % 2 == 0 else list(trials)[::-1]
        for label in order:
            started, started_cpu = time.perf_counter(), time.process_time()
            trials[label].should_prune()
            wall[label].append(time.perf_counter() - started)
            cpu[label].append(time.process_time() - started_cpu)
    first.tell(running, state=optuna.trial.TrialState.FAIL)
    return summary(wall, cpu)


def summary(wall: dict[str, list[float]], cpu: dict[str, list[float]]) -> dict[str, dict]:
    """Per pruner: the median wall-clock and CPU seconds of the calls after the first, and the
    first call's wall-clock seconds (it fills caches, so it is shown apart)."""
    return {
        label: {
            "median": statistics.median(wall[label][1:]),
            "cpu": statistics.median(cpu[label][1:]),
            "first": wall[label][0],
        }
        for label in wall
    }


def main() -> int:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--setups", default="complete,pruned")
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--storages", default="inmemory,sqlite,postgresql")
    parser.add_argument("--repeats", type=int, default=51, help="timed calls per pruner and size")
    parser.add_argument(
        "--api-trials", type=int, default=50, help="trials for the add_trials timing"
    )
    parser.add_argument("--json", default=results_path("overhead.json"), help="where to save")
    parser.add_argument(
        "--json-only", action="store_true", help="save the run without markdown and plot"
    )
    parser.add_argument(
        "--code", default=None, help="the commit of the optuna_sotl code run (default: HEAD)"
    )
    parser.add_argument(
        "--before", metavar="FILE", help="a saved run of older code, whose ratios are shown too"
    )
    parser.add_argument(
        "--from-json", metavar="FILE", help="rewrite the markdown and plot from a saved run"
    )
    args = parser.parse_args()
    before = None
    if args.before:
        with open(args.before, encoding="utf-8") as file:
            before = json.load(file)
    if args.from_json:
        with open(args.from_json, encoding="utf-8") as file:
            saved = json.load(file)
        saved_args = argparse.Namespace(**saved["args"])
        write_results(saved["rows"], saved["api_notes"], saved_args, before)
        return 0
    args.data = require_data(args.data)
    sizes = [int(size) for size in args.sizes.split(",")]

    rows = []
    api_notes = []
    with tempfile.TemporaryDirectory() as folder:
        for kind in args.storages.split(","):
            url = {
                "inmemory": None,
                "sqlite": f"sqlite:///{os.path.join(folder, 'overhead.db')}",
                "postgresql": POSTGRES_URL,
            }[kind]
            if url is not None and args.api_trials:
                per_trial = api_build_seconds_per_trial(url, args.api_trials, args.data)
                api_notes.append(
                    f"{kind}: `study.add_trials` took {1000 * per_trial:.0f} ms per trial of "
                    f"{N_STEPS} steps ({args.api_trials} trials timed), so 10,000 trials would "
                    f"take about {10_000 * per_trial / 60:.0f} min"
                )
            for setup in args.setups.split(","):
                for size in sizes:
                    if url is None:
                        storage, name, build = build_inmemory(setup, size, args.data)
                    else:
                        name, build = build_rdb(url, setup, size, args.data)
                        # What create_study / load_study give for a URL (Optuna's cached storage).
                        storage = optuna.storages.get_storage(url)
                    timings = time_pruners(storage, name, PROBE_STEPS[setup], args.repeats)
                    row = {
                        "setup": setup,
                        "storage": kind,
                        "size": size,
                        "build": build,
                        "timings": timings,
                    }
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                    if url is not None:
                        optuna.delete_study(study_name=name, storage=storage)
    saved_args = vars(args) | {
        "json": _relative(args.json),
        # The data path as the results' command line shows it: no folder of this machine.
        "data": portable(args.data),
        "data_found": os.path.exists(args.data),
    }
    with open(args.json, "w", encoding="utf-8") as file:
        json.dump(
            {
                "rows": rows,
                "api_notes": api_notes,
                "args": saved_args,
                "commit": args.code or _commit(),
            },
            file,
            indent=1,
        )
    if not args.json_only:
        write_results(rows, api_notes, argparse.Namespace(**saved_args), before)
    return 0


def _default_sotl_pruner() -> str:
    from optuna_sotl import SoTLPruner

    return repr(SoTLPruner())


def _commit() -> str:
    import subprocess

    done = subprocess.run(
        ["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def _relative(arg: str) -> str:
    return os.path.relpath(arg, REPO) if os.path.isabs(arg) else arg


def _ratio(timings: dict, clock: str = "median") -> float:
    return timings["SoTLPruner"][clock] / max(timings["MedianPruner"][clock], 1e-9)


def write_results(
    rows: list[dict], api_notes: list[str], args: argparse.Namespace, before: dict | None
) -> None:
    before_by_key = {
        (row["setup"], row["storage"], row["size"]): row["timings"]
        for row in (before or {}).get("rows", [])
    }
    lines = [
        "",
        "![latency against finished trials](overhead.png)",
        "",
        f"Median of {args.repeats} `trial.should_prune()` calls per pruner (after one call each "
        "that is not in the median, shown as *first call*) for a RUNNING trial in a study of N "
        "finished trials. Both pruners use their defaults (`SoTLPruner()`, that is "
        f"`{_default_sotl_pruner()}`; `MedianPruner()`), share the study and the storage "
        "object (for SQLite and PostgreSQL "
        "Optuna's cached RDB storage, what a storage URL gives; its cache of finished trials is "
        "filled by `study.ask()` before the timing), and are called alternately, call by call, "
        "in alternating order: the machine is shared with other jobs, and alternation makes "
        "their load fall on both pruners alike.",
        "",
        "Set-ups:",
        "",
        *[
            f"- **{setup}**: {SETUPS[setup]}; the running trial is timed at step "
            f"{PROBE_STEPS[setup]}."
            for setup in args.setups.split(",")
        ],
    ]
    for setup in args.setups.split(","):
        lines += [
            "",
            f"### {setup}: {SETUPS[setup]}, probe at step {PROBE_STEPS[setup]}",
            "",
            "| storage | finished trials | SoTLPruner (ms) | MedianPruner (ms) | SoTL / Median | "
            "CPU ratio | SoTL first call (ms) | "
            + ("SoTL / Median before the index | " if before else "")
            + "build (s) |",
            "|---|---|---|---|---|---|---|" + ("---|" if before else "") + "---|",
        ]
        for row in rows:
            if row["setup"] != setup:
                continue
            timings = row["timings"]
            sotl, median = timings["SoTLPruner"], timings["MedianPruner"]
            old = before_by_key.get((setup, row["storage"], row["size"]))
            old_cell = "" if not before else (f"{_ratio(old):.2f} | " if old else "— | ")
            lines.append(
                f"| {row['storage']} | {row['size']:,} | {1000 * sotl['median']:.3f} | "
                f"{1000 * median['median']:.3f} | **{_ratio(timings):.2f}** | "
                f"{_ratio(timings, 'cpu'):.2f} | {1000 * sotl['first']:.1f} | {old_cell}"
                f"{row['build']:.1f} |"
            )
    over = [row for row in rows if _ratio(row["timings"]) > 1.0]
    over_cpu = [row for row in rows if _ratio(row["timings"], "cpu") > 1.0]
    lines += ["", "### Goal", ""]
    lines.append(
        "- SoTLPruner's latency ≤ MedianPruner's at every size, storage and set-up: "
        f"**{'met' if not over else 'not met'}** on wall-clock medians "
        f"({'met' if not over_cpu else 'not met'} on CPU-time medians)."
    )
    for row in over:
        timings = row["timings"]
        lines.append(
            f"  - exceeded: {row['setup']}, {row['storage']}, {row['size']:,} trials: "
            f"{1000 * timings['SoTLPruner']['median']:.3f} ms against "
            f"{1000 * timings['MedianPruner']['median']:.3f} ms ({_ratio(timings):.2f}×; CPU "
            f"{_ratio(timings, 'cpu'):.2f}×)."
        )
    lines += [
        "",
        "### Notes",
        "",
        "- SoTLPruner keeps an index of the finished (COMPLETE or PRUNED) trials' scores at each "
        "step it was asked about (`optuna_sotl/pruners/_score_index.py`); a call reads the study "
        "once, as MedianPruner does, and scores only trials that finished since the last call "
        "plus the RUNNING ones. The first call of a process fills the index: it costs what every "
        "call cost before (the *first call* column). The index holds only what storage holds "
        "immutably, so workers never disagree because of it.",
        (
            "- Each study is built with the recorded training-loss curves of randomly chosen "
            "architectures of the data file as intermediate values (seed 0"
            if getattr(args, "data_found", True)
            else "- The data file was not found in this run, so each study is built with "
            "synthetic decreasing training-loss curves as intermediate values (seed 0"
        )
        + "; the pruned lengths seed 1); the pruners' cost does not depend on what the values "
        "mean. The in-memory study is "
        "filled with `study.add_trials`; the SQLite and PostgreSQL studies with SQL bulk inserts "
        "into Optuna's own tables through Optuna's SQLAlchemy models (one transaction), then read "
        "back through Optuna and checked. The build column times that.",
        *[
            f"- {note}: too slow to build the larger studies that way on this machine."
            for note in api_notes
        ],
        "- MedianPruner compares with COMPLETE trials only, SoTLPruner with COMPLETE, PRUNED and "
        "RUNNING ones (by design), so in the pruned set-up it compares with about five times as "
        "many trials.",
    ]
    if before:
        lines.append(
            "- *Before the index*: the same script on the code before it (commit "
            f"{before.get('commit', 'unknown')}), run just before this one, saved as "
            f"`{before['args'].get('json', 'overhead_before.json')}`."
        )
    extra = [
        f"Set-ups {args.setups}; sizes {args.sizes}; storages {args.storages}; {args.repeats} "
        f"timed calls per pruner; PostgreSQL at `{POSTGRES_URL}`",
    ]
    with open(results_path("overhead.md"), "w", encoding="utf-8") as file:
        file.write(header("Pruner overhead: SoTLPruner against MedianPruner", extra))
        file.write("\n".join(lines) + "\n")
    plot(rows, args.setups.split(","))
    print(open(results_path("overhead.md"), encoding="utf-8").read())


def plot(rows: list[dict], setups: list[str]) -> None:
    plot_latency(
        rows,
        ("SoTLPruner", "MedianPruner"),
        {setup: f"{setup}: probe at step {PROBE_STEPS[setup]}" for setup in setups},
        ylabel="median should_prune latency (ms)",
        title="Pruner overhead, same study, alternating calls",
        path=results_path("overhead.png"),
    )


def plot_latency(
    rows: list[dict], labels: tuple[str, str], panels: dict[str, str], *, ylabel: str,
    title: str, path: str,
) -> None:
    """Median latency against finished trials: one panel per set-up (``panels``: its title),
    one colour per storage, the first pruner of ``labels`` solid and the second dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    kinds = list(dict.fromkeys(row["storage"] for row in rows))
    colors = {kind: plt.get_cmap("tab10")(i) for i, kind in enumerate(kinds)}
    for ax, (setup, panel_title) in zip(axes[0], panels.items(), strict=True):
        for kind in kinds:
            chosen = [row for row in rows if row["storage"] == kind and row["setup"] == setup]
            for label, style in zip(labels, ("-", "--"), strict=True):
                ax.plot(
                    [row["size"] for row in chosen],
                    [1000 * row["timings"][label]["median"] for row in chosen],
                    style,
                    marker="o",
                    color=colors[kind],
                    label=f"{label}, {kind}",
                )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("finished trials")
        ax.set_ylabel(ylabel)
        ax.set_title(panel_title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
