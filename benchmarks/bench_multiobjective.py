"""Replayed multi-objective architecture search: no pruning against SoTLParetoPruner.

Objectives: final validation accuracy (up) and parameters (down). Quality: the hypervolume of the
study's reported Pareto front (its completed trials, non-dominated by validation accuracy and
parameters) measured with the TEST accuracy, as a share of the hypervolume of the whole file's
test front, against the epochs spent. Writes results/multiobjective.md, .csv and .png.

The pruned arms call ``should_prune_dominated`` from ``optuna_sotl.rules``, the very
function :class:`~optuna_sotl.SoTLParetoPruner` decides with, on points scored by the pruner's
estimator, with the pruner's start-up rule; the replay keeps the points in arrays instead of a
storage, which is what makes 100+ seeds affordable.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import csv
import os
import sys
import time

import numpy as np


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import DEFAULT_DATA  # noqa: E402
from _common import header  # noqa: E402
from _common import require_data  # noqa: E402
from _common import results_path  # noqa: E402

from optuna_sotl.curves import load_curves  # noqa: E402
from optuna_sotl.estimators import BaseEstimator  # noqa: E402
from optuna_sotl.estimators import SoTLE  # noqa: E402
from optuna_sotl.rules import should_prune_dominated  # noqa: E402


CHECKPOINT = 100  # epochs between points of the hypervolume traces


class Space:
    """The recorded architectures, their objectives and the replayed search space."""

    def __init__(self, path: str, rows: np.ndarray | None = None) -> None:
        curves = load_curves(path)
        if curves.params is None:
            raise SystemExit(f"{path}: no 'params' array, the cost objective of this benchmark.")
        keep = np.arange(curves.n_archs) if rows is None else np.asarray(rows)
        self.n_epochs = curves.n_epochs
        self.train_loss = curves.train_loss[keep]
        val = curves.val_metric[keep, -1]
        # Everything lower-is-better from here on.
        self.val_error = -val if curves.val_metric_higher_is_better else val
        result = curves.result[keep]
        test_error = -result if curves.result_higher_is_better else result
        params = curves.params[keep].astype(np.float64)
        self.params = params
        # Normalised to [0, 1] over the whole file; the reference point is (1, 1).
        low, high = test_error.min(), test_error.max()
        self.test_norm = (test_error - low) / (high - low if high > low else 1.0)
        low, high = params.min(), params.max()
        self.cost_norm = (params - low) / (high - low if high > low else 1.0)
        # The best any search could report: the front of the test errors themselves.
        self.hv_max = hypervolume(*pareto_points(self.test_norm, self.cost_norm, self.test_norm))
        if curves.ops is not None and curves.edges is not None:
            # The search space: each edge's operations; a combination not in the file is missing.
            ops = curves.ops[keep]
            self.choices = [sorted(set(curves.ops[:, e])) for e in range(ops.shape[1])]
            codes = np.zeros(len(keep), dtype=np.int64)
            for e, names in enumerate(self.choices):
                index = {name: i for i, name in enumerate(names)}
                codes = codes * len(names) + np.array([index[o] for o in ops[:, e]])
            size = int(np.prod([len(c) for c in self.choices]))
            self.row_of_code = np.full(size, -1, dtype=np.int64)
            self.row_of_code[codes] = np.arange(len(keep))
        else:
            self.choices = [list(range(len(keep)))]
            self.row_of_code = np.arange(len(keep))

    def row(self, choice_indices: list[int]) -> int:
        code = 0
        for index, names in zip(choice_indices, self.choices):
            code = code * len(names) + index
        return int(self.row_of_code[code])

    def scores(self, estimator: BaseEstimator) -> np.ndarray:
        """``(N, T)``: the estimator's score of each curve at each step, as the pruner scores.

        ``+inf`` where the score or the loss at the step is not finite, as in
        ``optuna_sotl._scoring.score_at_step``.
        """
        out = np.empty_like(self.train_loss)
        for t in range(self.n_epochs):
            block = self.train_loss[:, : t + 1]
            score = np.asarray(estimator(block), dtype=np.float64)
            out[:, t] = np.where(np.isfinite(block[:, -1]) & ~np.isnan(score), score, np.inf)
        return out


def pareto_points(
    val_error: np.ndarray, cost: np.ndarray, test_error: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The (test error, cost) of the points non-dominated in (validation error, cost)."""
    order = np.lexsort((val_error, cost))
    best = np.inf
    keep = []
    for i in order:  # by cost ascending, then validation error: keep strict improvements
        if val_error[i] < best:
            best = val_error[i]
            keep.append(i)
    keep = np.array(keep, dtype=np.int64)
    return test_error[keep], cost[keep]


def hypervolume(error: np.ndarray, cost: np.ndarray) -> float:
    """2-D hypervolume of points (both lower-is-better, in [0, 1]) against reference (1, 1)."""
    if len(error) == 0:
        return 0.0
    order = np.argsort(cost, kind="stable")
    volume, best, previous = 0.0, 1.0, None
    for i in order:
        if previous is not None:
            volume += (cost[i] - previous) * (1.0 - best)
        best = min(best, error[i])
        previous = cost[i]
    return float(volume + (1.0 - previous) * (1.0 - best))


class Replay:
    """One search: proposals in, completed trials and their epochs out."""

    def __init__(
        self, space: Space, scores: np.ndarray, fraction: float | None, startup: int, budget: int
    ) -> None:
        self.space, self.scores, self.fraction = space, scores, fraction
        self.startup, self.budget = startup, budget
        cap = budget + 1
        self.points = np.empty((space.n_epochs, cap, 2), dtype=np.float64)
        self.counts = np.zeros(space.n_epochs, dtype=np.int64)
        self.epochs = 0
        self.completed: list[tuple[int, int]] = []  # (epochs spent when it completed, row)
        self.n_trials = 0

    def run_trial(self, row: int) -> bool | None:
        """Train ``row`` epoch by epoch; True: completed, False: pruned, None: budget out."""
        self.n_trials += 1
        cost = self.space.cost_norm[row]
        for t in range(self.space.n_epochs):
            if self.epochs >= self.budget:
                return None
            self.epochs += 1
            point = np.array([self.scores[row, t], cost])
            n = self.counts[t]
            pruned = (
                self.fraction is not None
                and len(self.completed) >= self.startup
                and n >= 1
                and should_prune_dominated(point, self.points[t, :n], self.fraction)
            )
            self.points[t, n] = point
            self.counts[t] = n + 1
            if pruned:
                return False
        self.completed.append((self.epochs, row))
        return True

    def trace(self) -> np.ndarray:
        """Hypervolume share at every CHECKPOINT epochs up to the budget."""
        sp = self.space
        marks = np.arange(CHECKPOINT, self.budget + 1, CHECKPOINT)
        out = np.zeros(len(marks))
        rows: list[int] = []
        done = iter(self.completed + [(self.budget + 1, -1)])
        epoch, row = next(done)
        for k, mark in enumerate(marks):
            while epoch <= mark:
                rows.append(row)
                epoch, row = next(done)
            if rows:
                r = np.array(rows)
                front = pareto_points(sp.val_error[r], sp.cost_norm[r], sp.test_norm[r])
                out[k] = hypervolume(*front) / sp.hv_max
        return out


def random_search(space: Space, replay: Replay, seed: int) -> None:
    rng = np.random.default_rng(seed)
    sizes = [len(c) for c in space.choices]
    while replay.epochs < replay.budget:
        row = space.row([int(rng.integers(s)) for s in sizes])
        if row < 0:
            continue  # missing from the file: costs no epoch, as in bench_search.py
        replay.run_trial(row)


def nsga2_search(space: Space, replay: Replay, seed: int) -> None:
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {
        f"e{e}": CategoricalDistribution(list(range(len(c)))) for e, c in enumerate(space.choices)
    }
    study = optuna.create_study(
        directions=["minimize", "minimize"], sampler=optuna.samplers.NSGAIISampler(seed=seed)
    )
    while replay.epochs < replay.budget:
        trial = study.ask(dists)
        row = space.row([trial.params[f"e{e}"] for e in range(len(space.choices))])
        if row < 0:
            study.tell(trial, state=TrialState.PRUNED)
            continue
        outcome = replay.run_trial(row)
        if outcome:
            study.tell(trial, [float(space.val_error[row]), float(space.params[row])])
        elif outcome is False:
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, state=TrialState.FAIL)


SAMPLERS: dict[str, Callable[[Space, Replay, int], None]] = {
    "random": random_search,
    "nsga2": nsga2_search,
}


_SHARED: dict[str, object] = {}


def _run_job(job: tuple[str, float | None, int, int, int]) -> tuple[np.ndarray, dict[str, float]]:
    # Forked workers read the space from the parent's memory instead of a pickled copy.
    return run_arm(_SHARED["space"], _SHARED["scores"], *job)  # type: ignore[arg-type]


def _map(jobs: list, n_jobs: int) -> list:
    if n_jobs <= 1:
        return [_run_job(job) for job in jobs]
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(n_jobs) as pool:
        return pool.map(_run_job, jobs, chunksize=1)


def run_arm(
    space: Space,
    scores: np.ndarray,
    sampler: str,
    fraction: float | None,
    startup: int,
    budget: int,
    seed: int,
) -> tuple[np.ndarray, dict[str, float]]:
    replay = Replay(space, scores, fraction, startup, budget)
    SAMPLERS[sampler](space, replay, seed)
    trace = replay.trace()
    stats = {"trials": replay.n_trials, "completed": len(replay.completed)}
    return trace, stats


def crossing(curve: np.ndarray, target: float) -> float:
    """Epochs at the first checkpoint where ``curve`` reaches ``target``; inf if never."""
    hit = np.nonzero(curve >= target - 1e-12)[0]
    return float((hit[0] + 1) * CHECKPOINT) if hit.size else np.inf


def bootstrap_epochs(
    base: np.ndarray, pruned: np.ndarray, budget: int, n_boot: int, rng: np.random.Generator
) -> tuple[float, float, float]:
    """Share of the budget the pruned arm's mean curve needs to reach the unpruned final mean.

    Seeds are paired: each bootstrap resample takes the same seeds for both arms.
    """
    point = crossing(pruned.mean(0), base[:, -1].mean()) / budget
    draws = []
    n = len(base)
    for _ in range(n_boot):
        pick = rng.integers(n, size=n)
        draws.append(crossing(pruned[pick].mean(0), base[pick, -1].mean()) / budget)
    # "nearest" keeps a resample that never reached the target as inf instead of NaN.
    low, high = np.percentile(draws, [2.5, 97.5], method="nearest")
    return point, float(low), float(high)


def share(value: float) -> str:
    return f"{value:.1%}" if np.isfinite(value) else "not reached"


def mean_ci(
    values: np.ndarray, n_boot: int, rng: np.random.Generator
) -> tuple[float, float, float]:
    n = len(values)
    means = values[rng.integers(n, size=(n_boot, n))].mean(1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(values.mean()), float(low), float(high)


def robustness(
    path: str,
    fractions: list[float],
    n_subsets: int,
    n_seeds: int,
    budget: int,
    pruned_budget: int,
    startup: int,
    estimator: BaseEstimator,
) -> list[tuple[int, float, float, float]]:
    """Random sampling on random halves of the architectures: the share of ``budget`` epochs the
    pruned mean curve needs to reach the unpruned mean at ``budget``, for each fraction."""
    full = load_curves(path)
    rows_out = []
    for subset in range(n_subsets):
        rng = np.random.default_rng(10_000 + subset)
        rows = np.sort(rng.choice(full.n_archs, size=full.n_archs // 2, replace=False))
        space = Space(path, rows)
        scores = space.scores(estimator)
        base = np.array(
            [
                run_arm(space, scores, "random", None, startup, budget, 7_000 + s)[0]
                for s in range(n_seeds)
            ]
        )
        target = base[:, -1].mean()
        for fraction in fractions:
            pruned = np.array(
                [
                    run_arm(space, scores, "random", fraction, startup, pruned_budget, 7_000 + s)[
                        0
                    ]
                    for s in range(n_seeds)
                ]
            )
            share = crossing(pruned.mean(0), target) / budget
            rows_out.append((subset, fraction, share, float(target)))
            print(f"  subset {subset} fraction {fraction}: {share:.3f} of the epochs", flush=True)
    return rows_out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--budget", type=int, default=20_000)
    parser.add_argument(
        "--pruned-budget",
        type=int,
        default=5_000,
        help="epochs of the pruned arms: enough to see them cross the target "
        "below the goal's 35 %% bound (they run thousands of trials, the "
        "unpruned ones 200)",
    )
    parser.add_argument(
        "--replot", action="store_true", help="only redraw the PNG from multiobjective.csv"
    )
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (seeds in parallel)")
    parser.add_argument(
        "--robust-only",
        action="store_true",
        help="only the robustness check, into multiobjective_robustness.md",
    )
    parser.add_argument("--fraction", type=float, default=0.05)
    parser.add_argument("--startup", type=int, default=5)
    parser.add_argument("--robust-fractions", default="0.02,0.05,0.1,0.2")
    parser.add_argument(
        "--robust-pruned-budget",
        type=int,
        default=7_000,
        help="epochs of the robustness check's pruned runs (35 %% of 20,000: the goal's bound)",
    )
    parser.add_argument("--robust-subsets", type=int, default=4)
    parser.add_argument("--robust-seeds", type=int, default=20)
    parser.add_argument("--bootstrap", type=int, default=2000)
    args = parser.parse_args()

    started = time.time()
    estimator = SoTLE(1)  # SoTLParetoPruner's default
    if args.replot:
        plot(results_path("multiobjective.csv"), args.fraction, args.budget, args.seeds)
        return 0
    args.data = require_data(args.data)
    if args.robust_only:
        return robustness_report(args, estimator, started)
    space = Space(args.data)
    scores = space.scores(estimator)
    _SHARED.update(space=space, scores=scores)
    seeds = list(range(args.seeds))
    marks = np.arange(CHECKPOINT, args.budget + 1, CHECKPOINT)
    traces: dict[tuple[str, str], np.ndarray] = {}
    stats: dict[tuple[str, str], list[dict[str, float]]] = {}
    budgets: dict[tuple[str, str], int] = {}
    for sampler in SAMPLERS:
        for arm, fraction in (("none", None), ("pareto", args.fraction)):
            budget = args.budget
            if arm == "pareto":
                budget = min(args.budget, args.pruned_budget)
            rows, info = [], []
            jobs = [(sampler, fraction, args.startup, budget, seed) for seed in seeds]
            for trace, st in _map(jobs, args.jobs):
                # A shorter arm keeps its last value: its front cannot shrink.
                padded = np.full(len(marks), trace[-1])
                padded[: len(trace)] = trace
                rows.append(padded)
                info.append(st)
            traces[sampler, arm] = np.array(rows)
            budgets[sampler, arm] = budget
            stats[sampler, arm] = info
            print(f"{sampler}/{arm}: {time.time() - started:.0f} s", flush=True)

    rng = np.random.default_rng(12345)
    elapsed = time.time() - started

    # CSV: mean curves with CIs.
    with open(results_path("multiobjective.csv"), "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["sampler", "pruner", "epochs", "mean_hv", "ci_low", "ci_high"])
        for (sampler, arm), values in traces.items():
            for k, mark in enumerate(marks):
                if mark > budgets[sampler, arm]:
                    break  # the arm stopped there: no flat extension in the data
                mean, low, high = mean_ci(values[:, k], 500, rng)
                writer.writerow(
                    [sampler, arm, int(mark), f"{mean:.5f}", f"{low:.5f}", f"{high:.5f}"]
                )

    lines = [
        header(
            "Multi-objective search: no pruning against SoTLParetoPruner",
            [
                f"Data: `{os.path.basename(args.data)}` (`--data`, by default in "
                f"`$OPTUNA_SOTL_DATA`; {len(space.params)} architectures, "
                f"{space.n_epochs} epochs each)",
                f"Seeds: {seeds[0]}..{seeds[-1]} ({len(seeds)} paired seeds per sampler); "
                f"bootstrap: {args.bootstrap} resamples of the seeds (95 % percentile intervals)",
                f"Pruner replayed: `SoTLParetoPruner(cost_attrs=('params',), "
                f"dominated_fraction={args.fraction}, n_startup_trials={args.startup})` with its "
                f"default estimator {estimator.name}",
                f"Wall time: {elapsed:.0f} s",
            ],
        )
    ]
    lines += ["", "## Goal: epochs to reach the unpruned search's final mean hypervolume", ""]
    lines += [
        "| sampler | unpruned mean HV at "
        f"{args.budget:,} epochs | pruned: share of {args.budget:,} epochs to reach it "
        "(95 % CI) | goal (<= 25 %, CI upper <= 35 %) |",
        "|---|---|---|---|",
    ]
    for sampler in SAMPLERS:
        base, pruned = traces[sampler, "none"], traces[sampler, "pareto"]
        point, low, high = bootstrap_epochs(base, pruned, args.budget, args.bootstrap, rng)
        met = point <= 0.25 and high <= 0.35
        lines.append(
            f"| {sampler} | {base[:, -1].mean():.4f} | {share(point)} "
            f"({share(low)} – {share(high)}) | {'met' if met else 'MISSED'} |"
        )
    lines += ["", "## Mean hypervolume share (95 % CI) at fixed budgets", ""]
    cols = [b for b in (1000, 2500, 5000, 10000, 20000) if b <= args.budget]
    lines += [
        "| sampler | pruner | "
        + " | ".join(f"{b:,} epochs" for b in cols)
        + " | trials | completed |",
        "|---|---|" + "---|" * len(cols) + "---|---|",
    ]
    for (sampler, arm), values in traces.items():
        cells = []
        for b in cols:
            if b > budgets[sampler, arm]:
                cells.append("not run")
                continue
            mean, low, high = mean_ci(values[:, b // CHECKPOINT - 1], args.bootstrap, rng)
            cells.append(f"{mean:.3f} ({low:.3f}–{high:.3f})")
        info = stats[sampler, arm]
        ran = budgets[sampler, arm]
        lines.append(
            f"| {sampler} | {arm} | "
            + " | ".join(cells)
            + f" | {np.mean([s['trials'] for s in info]):.0f} in {ran:,} epochs"
            + f" | {np.mean([s['completed'] for s in info]):.1f} |"
        )
    lines += ["", NOTES]
    with open(results_path("multiobjective.md"), "w", encoding="utf-8") as file:
        file.write("\n".join(lines))
    plot(results_path("multiobjective.csv"), args.fraction, args.budget, len(seeds))
    print("\n".join(lines))
    return 0


def robustness_report(args: argparse.Namespace, estimator: BaseEstimator, started: float) -> int:
    fractions = [float(f) for f in args.robust_fractions.split(",") if f]
    pruned_budget = min(args.budget, args.robust_pruned_budget)
    robust = robustness(
        args.data,
        fractions,
        args.robust_subsets,
        args.robust_seeds,
        args.budget,
        pruned_budget,
        args.startup,
        estimator,
    )
    lines = [
        header(
            "Multi-objective search: robustness of dominated_fraction on random halves",
            [
                f"Data: `{os.path.basename(args.data)}`; subsets: {args.robust_subsets} random "
                "halves "
                "of its architectures (numpy seeds 10000 + subset)",
                f"Seeds: 7000..{7000 + args.robust_seeds - 1} per cell, random sampling",
                f"Wall time: {time.time() - started:.0f} s",
            ],
        )
    ]
    lines += [
        "",
        f"Cells: share of {args.budget:,} epochs the pruned search's mean hypervolume "
        f"curve needs to reach the unpruned search's mean at {args.budget:,} epochs on the "
        f"same half (pruned runs stop at {pruned_budget:,} epochs: 'not reached' means "
        f"> {pruned_budget / args.budget:.0%}). Replay and hypervolume as in "
        "multiobjective.md.",
        "",
    ]
    lines += [
        "| subset | unpruned HV target | " + " | ".join(f"fraction {f}" for f in fractions) + " |",
        "|---|---|" + "---|" * len(fractions),
    ]
    with open(
        results_path("multiobjective_robustness.csv"), "w", newline="", encoding="utf-8"
    ) as file:
        writer = csv.writer(file)
        writer.writerow(["subset", "dominated_fraction", "share_of_epochs", "target_hv"])
        for row in robust:
            writer.writerow([row[0], row[1], f"{row[2]:.4f}", f"{row[3]:.5f}"])
    for subset in sorted({r[0] for r in robust}):
        mine = [r for r in robust if r[0] == subset]
        cells = [share(r[2]) for r in mine]
        lines.append(f"| {subset} | {mine[0][3]:.4f} | " + " | ".join(cells) + " |")
    with open(results_path("multiobjective_robustness.md"), "w", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def plot(csv_path: str, fraction: float, budget: int, n_seeds: int) -> None:
    """Draw the mean curves and their intervals from the CSV (``--replot`` redraws it alone)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(csv_path, encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    fig, axes = plt.subplots(1, len(SAMPLERS), figsize=(11, 4.2), sharey=True)
    for ax, sampler in zip(np.atleast_1d(axes), SAMPLERS):
        final = 0.0
        for arm, colour in (("none", "tab:gray"), ("pareto", "tab:blue")):
            mine = [r for r in rows if r["sampler"] == sampler and r["pruner"] == arm]
            x = np.array([int(r["epochs"]) for r in mine])
            mean, low, high = (
                np.array([float(r[k]) for r in mine]) for k in ("mean_hv", "ci_low", "ci_high")
            )
            label = "no pruning" if arm == "none" else f"SoTLParetoPruner({fraction})"
            ax.plot(x, mean, color=colour, label=label)
            ax.fill_between(x, low, high, color=colour, alpha=0.25)
            if arm == "none":
                final = float(mean[-1])
        ax.axhline(final, color="k", lw=0.8, ls="--")
        ax.axvline(0.25 * budget, color="tab:red", lw=0.8, ls=":", label="25 % of budget")
        ax.set_xscale("log")
        ax.set_title(f"{sampler} ({n_seeds} seeds)")
        ax.set_xlabel("epochs spent")
        ax.legend(loc="lower right", fontsize=8)
    np.atleast_1d(axes)[0].set_ylabel("hypervolume share (test accuracy, params)")
    fig.tight_layout()
    fig.savefig(results_path("multiobjective.png"), dpi=120)


NOTES = """\
## How the search is replayed

- A trial proposes one operation per edge of the cell (the file's `edges` / `ops`); an
  architecture missing from the file costs no epoch and is skipped (NSGA-II is told PRUNED).
  Each replayed epoch costs one epoch of budget; a trial still running when the budget ends is
  not a result.
- `random`: uniform proposals from a numpy generator seeded by the seed, identical for both arms
  of a seed (paired). `nsga2`: the real `optuna.samplers.NSGAIISampler(seed=seed)` (default
  population 50) driven with `ask`/`tell`, objectives (final validation error, parameters);
  pruned trials are told PRUNED, which NSGA-II ignores (it builds generations from COMPLETE
  trials only). With this pruner few trials complete, so NSGA-II stays in its first (random)
  generation for most of the pruned run: pruning helps it by making its random phase cheap, not
  by steering its evolution.
- Pruned arms: at every epoch `t` (interval 1, no warm-up, after `n_startup_trials` completed
  trials), the trial's point (the estimator's score at `t`, parameters) is compared with every
  earlier trial's point at `t` by `optuna_sotl.rules.should_prune_dominated`, the
  function `SoTLParetoPruner.prune` calls. Trials run one after another, so the compared trials
  are complete or pruned ones, as with one worker. `tests/unit/pruners/test_pareto.py` checks
  that the replay prunes exactly the trials a real study with `SoTLReporter` and the pruner does
  (and on 400 trials of this file it did: the same 10 completed, the same 1,559 epochs).
- The pruned arms run to a smaller budget (default 5,000 epochs, 25 % of 20,000: the goal):
  they run thousands of trials against the unpruned arms' 200, and each NSGA-II trial costs an
  Optuna `ask` (about 3 ms, growing with the trials the study holds). The table says "not run"
  beyond it, and the CSV and the plot stop there.
- Hypervolume: the reported front is the completed trials non-dominated in (final validation
  error, parameters), what `study.best_trials` returns; each is placed at (test error,
  parameters), both scaled to [0, 1] over the whole file (test error 0 = the best test accuracy
  in the file), reference point (1, 1), and divided by the hypervolume of the whole file's
  front by test accuracy (the best any search could report).
- Why a dominated fraction, and why 0.05: a fixed count or a non-dominated rank would not adapt
  to how many trials reached a step (thousands at epoch 1, a handful at epoch 90); a fraction
  does, and because late steps hold survivors only, the same fraction is a stricter bar there.
  On random halves of the file (`multiobjective_robustness.md`) fractions 0.02, 0.05 and 0.1 need
  the same 6-9 % of the epochs and 0.2 about twice as many: 0.05 sits inside the flat region, and
  most of the remaining cost is the start-up (five trials trained to the end before any pruning).
- Goal column: the first checkpoint (every 100 epochs) at which the pruned arm's mean curve
  reaches the unpruned arm's mean at the full budget, as a share of the budget; the interval
  resamples seeds, the same seeds for both arms.
"""


if __name__ == "__main__":
    raise SystemExit(main())
