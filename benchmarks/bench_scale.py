"""Scale: trials per second and ``should_prune`` latency with 1, 2, 4 and 8 worker processes.

Each run creates a study on PostgreSQL (directly, or through Optuna's gRPC proxy in front of the
same PostgreSQL), starts N worker processes that share it, releases them together and lets them
run a fixed total of trials between them: each trial reports a replayed training-loss curve with
:class:`~optuna_sotl.SoTLReporter` (no training, so the storage and the pruner are all that is
measured) and is pruned by :class:`~optuna_sotl.SoTLPruner`, or, in the same run and under the
same conditions, by Optuna's :class:`~optuna.pruners.MedianPruner` (the baseline). The total is
fixed, not the trials per worker, so that every run reads studies of the same size and the
latency differences come from contention, not from bigger studies.

Measured per run: trials per second (finished trials over the time from the release to the last
worker's end) and the median latency of ``trial.should_prune()`` (every call, all workers).

    nice -n 10 python benchmarks/bench_scale.py            # writes benchmarks/results/scale.*
    python benchmarks/bench_scale.py --workers 1,2 --trials 16   # a quicker look
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any
import uuid


REPO = pathlib.Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get(
    "OPTUNA_SOTL_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)
PRUNERS = ("SoTLPruner", "MedianPruner")


def replay_curve(params: dict[str, float], n_epochs: int) -> list[float]:
    import math

    floor, rate = params["floor"], params["rate"]
    return [floor + 2.0 * math.exp(-rate * (epoch + 1)) for epoch in range(n_epochs)]


def make_pruner(name: str) -> Any:
    import optuna

    from optuna_sotl import SoTLPruner

    if name == "SoTLPruner":
        return SoTLPruner(n_startup_trials=2, n_warmup_steps=1)
    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)


def worker_main(config: dict[str, Any]) -> None:
    """One worker process: wait for the release, run its trials, write its timings as JSON."""
    import warnings

    import numpy as np
    import optuna

    from optuna_sotl import SoTLReporter
    from optuna_sotl._storage_url import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    latencies: list[float] = []
    should_prune = optuna.trial.Trial.should_prune

    def timed_should_prune(trial: optuna.trial.Trial) -> bool:
        start = time.perf_counter()
        try:
            return should_prune(trial)
        finally:
            latencies.append(time.perf_counter() - start)

    # The reporter calls trial.should_prune() once per epoch: time exactly those calls.
    optuna.trial.Trial.should_prune = timed_should_prune  # type: ignore[method-assign]

    study = optuna.load_study(
        study_name=config["study_name"],
        storage=open_storage(config["url"]),
        sampler=optuna.samplers.RandomSampler(seed=config["seed"]),
        pruner=make_pruner(config["pruner"]),
    )

    def objective(trial: optuna.Trial) -> float:
        curve = replay_curve(
            {
                "rate": trial.suggest_float("rate", 0.05, 1.0, log=True),
                "floor": trial.suggest_float("floor", 0.05, 1.0),
            },
            config["epochs"],
        )
        reporter = SoTLReporter(trial)
        for loss in curve:
            for offset in (-0.1, 0.1):
                reporter.add(loss * (1 + offset))
            reporter.end_epoch()
        return curve[-1]

    barrier = pathlib.Path(config["barrier"])
    (barrier / f"ready-{config['seed']}").touch()
    while not (barrier / "go").exists():
        time.sleep(0.005)
    start = time.monotonic()
    study.optimize(objective, n_trials=config["n_trials"])
    end = time.monotonic()
    pathlib.Path(config["out"]).write_text(
        json.dumps(
            {
                "start": start,
                "end": end,
                "n_trials": config["n_trials"],
                "latencies": latencies,
                "median_latency": float(np.median(latencies)) if latencies else None,
            }
        )
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GrpcProxy:
    """Optuna's gRPC storage proxy in front of PostgreSQL, in its own process, as deployed."""

    def __init__(self, backend_url: str) -> None:
        port = free_port()
        self.url = f"grpc://127.0.0.1:{port}"
        code = (
            "import optuna, warnings; warnings.simplefilter('ignore');"
            f"optuna.storages.run_grpc_proxy_server(optuna.storages.get_storage({backend_url!r}),"
            f" host='127.0.0.1', port={port})"
        )
        self.process = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.close()
                    raise RuntimeError("the gRPC proxy did not start") from None
                time.sleep(0.2)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def run_once(
    backend: str, url: str, pruner: str, n_workers: int, n_trials: int, epochs: int, seed: int
) -> dict[str, Any]:
    import numpy as np
    import optuna

    from optuna_sotl._storage_url import open_storage

    study_name = f"optuna-sotl-bench-scale-{uuid.uuid4().hex[:10]}"
    admin = open_storage(POSTGRES_URL)
    optuna.create_study(storage=admin, study_name=study_name)
    with tempfile.TemporaryDirectory() as work:
        barrier = pathlib.Path(work)
        processes = []
        for index in range(n_workers):
            config = {
                "url": url,
                "study_name": study_name,
                "pruner": pruner,
                "n_trials": n_trials // n_workers + (index < n_trials % n_workers),
                "epochs": epochs,
                "seed": seed + index,
                "barrier": str(barrier),
                "out": str(barrier / f"out-{index}.json"),
            }
            processes.append(
                subprocess.Popen(
                    [sys.executable, __file__, "--worker", json.dumps(config)], cwd=REPO
                )
            )
        while len(list(barrier.glob("ready-*"))) < n_workers:
            if any(p.poll() not in (None, 0) for p in processes):
                raise RuntimeError("a worker failed to start")
            time.sleep(0.05)
        (barrier / "go").touch()
        for process in processes:
            if process.wait() != 0:
                raise RuntimeError(f"a worker exited with {process.returncode}")
        outs = [json.loads((barrier / f"out-{i}.json").read_text()) for i in range(n_workers)]
    trials = optuna.load_study(study_name=study_name, storage=admin).trials
    states = [t.state for t in trials]
    finished = sum(s.is_finished() for s in states)
    assert finished == n_trials, f"{finished} of {n_trials} trials finished"
    optuna.delete_study(study_name=study_name, storage=admin)
    admin.engine.dispose()
    wall = max(o["end"] for o in outs) - min(o["start"] for o in outs)
    latencies = [x for o in outs for x in o["latencies"]]
    return {
        "backend": backend,
        "pruner": pruner,
        "workers": n_workers,
        "trials": n_trials,
        "pruned": sum(s == optuna.trial.TrialState.PRUNED for s in states),
        "wall_s": wall,
        "trials_per_s": n_trials / wall,
        "median_should_prune_ms": 1000 * float(np.median(latencies)),
        "p90_should_prune_ms": 1000 * float(np.percentile(latencies, 90)),
        "calls": len(latencies),
    }


def plot(rows: list[dict[str, Any]], path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = {"postgresql": "tab:blue", "grpc": "tab:orange"}
    for backend in colors:
        for pruner, style in zip(PRUNERS, ("-", "--")):
            series = [r for r in rows if r["backend"] == backend and r["pruner"] == pruner]
            if not series:
                continue
            workers = [r["workers"] for r in series]
            label = f"{backend}, {pruner}"
            left.plot(workers, [r["trials_per_s"] for r in series], style, marker="o",
                      color=colors[backend], label=label)
            right.plot(workers, [r["median_should_prune_ms"] for r in series], style,
                       marker="o", color=colors[backend], label=label)
    for axis, ylabel in ((left, "finished trials per second"),
                         (right, "median should_prune latency (ms)")):
        axis.set_xscale("log", base=2)
        axis.set_xticks([1, 2, 4, 8], labels=["1", "2", "4", "8"])
        axis.set_xlabel("worker processes")
        axis.set_ylabel(ylabel)
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
    left.legend(fontsize=8)
    fig.suptitle(f"{os.cpu_count()}-core machine; DB server, proxy and workers share the cores")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_markdown(
    rows: list[dict[str, Any]], args: argparse.Namespace, path: pathlib.Path, load: str
) -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from _common import header

    lines = [
        header(
            "Scale: many workers on one study (PostgreSQL and the gRPC proxy)",
            [
                f"Settings: workers {args.workers}; {args.trials} trials in all per run, split "
                f"over the workers; {args.epochs} epochs per trial (replayed curves, 2 minibatch "
                f"losses per epoch, no training); seed {args.seed}; pruners "
                "`SoTLPruner(n_startup_trials=2, n_warmup_steps=1)` and "
                "`MedianPruner(n_startup_trials=2, n_warmup_steps=1)` in the same run",
                f"PostgreSQL at `{POSTGRES_URL}`; gRPC: `optuna.storages.run_grpc_proxy_server` "
                "in its own process in front of the same PostgreSQL, workers through "
                "`GrpcStorageProxy`",
                f"Load average when the run started: {load}",
            ],
        ),
        "![trials per second and should_prune latency against workers](scale.png)",
        "",
        "| storage | pruner | workers | trials/s | median should_prune (ms) | p90 (ms) | "
        "calls | pruned | wall (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backend']} | {r['pruner']} | {r['workers']} | {r['trials_per_s']:.2f} | "
            f"{r['median_should_prune_ms']:.1f} | {r['p90_should_prune_ms']:.1f} | {r['calls']} "
            f"| {r['pruned']} | {r['wall_s']:.1f} |"
        )
    lines += ["", "### SoTLPruner relative to MedianPruner (same storage, same workers)", "",
              "| storage | workers | trials/s SoTL / Median | median latency SoTL / Median |",
              "|---|---|---|---|"]
    for backend in ("postgresql", "grpc"):
        for workers in sorted({r["workers"] for r in rows}):
            pair = {
                r["pruner"]: r for r in rows if r["backend"] == backend and r["workers"] == workers
            }
            if len(pair) == 2:
                sotl, median = pair["SoTLPruner"], pair["MedianPruner"]
                lines.append(
                    f"| {backend} | {workers} | "
                    f"{sotl['trials_per_s'] / median['trials_per_s']:.2f} | "
                    f"{sotl['median_should_prune_ms'] / median['median_should_prune_ms']:.2f} |"
                )
    lines += [
        "",
        "### Notes",
        "",
        "- One run per cell, no repeats: on this shared machine a cell moved by up to 2.3x "
        "between two runs of this script, so read the trends, not single cells.",
        "- trials/s counts every finished trial (complete or pruned); pruned trials are shorter, "
        "so a pruner that prunes more finishes more trials per second. The pruned column says "
        "how many. SoTLPruner compares with complete, pruned and running trials; MedianPruner "
        "only with complete ones, so they prune different trials of the same curves.",
        "- should_prune latency is `trial.should_prune()` as the reporter calls it once per "
        "epoch: one read of the trial plus the pruner's read of the study's trials.",
        f"- This machine has {os.cpu_count()} cores shared by the database server, the proxy, "
        "the workers and other jobs: beyond 2 workers the processes queue for the cores, so "
        "these numbers show contention on a small machine, not the capacity of PostgreSQL.",
    ]
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--workers", default="1,2,4,8")
    parser.add_argument("--backends", default="postgresql,grpc")
    parser.add_argument("--trials", type=int, default=32, help="trials per run, in all")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "scale"))
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(json.loads(args.worker))
        return 0

    import optuna
    from tqdm import tqdm

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    workers = [int(w) for w in args.workers.split(",")]
    backends = args.backends.split(",")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    runs = [(b, w, p) for b in backends for w in workers for p in PRUNERS]
    rows = []
    proxy = GrpcProxy(POSTGRES_URL) if "grpc" in backends else None
    try:
        for backend, n_workers, pruner in tqdm(runs, desc="runs"):
            url = proxy.url if backend == "grpc" and proxy else POSTGRES_URL
            rows.append(
                run_once(backend, url, pruner, n_workers, args.trials, args.epochs, args.seed)
            )
            tqdm.write(json.dumps({k: v for k, v in rows[-1].items()}))
    finally:
        if proxy is not None:
            proxy.close()
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_markdown(rows, args, out.with_suffix(".md"), load)
    plot(rows, out.with_suffix(".png"))
    print(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
