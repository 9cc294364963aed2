"""Why does ``SoTLPruner()`` lose to ``MedianPruner`` under regularised evolution on a set?

A diagnosis, not a product benchmark: each *variant* changes one thing in the fast replay of
``SoTLPruner()`` (the self-calibrating estimator over SoTL) and the replay is run on the same
paired seeds as ``MedianPruner`` fed the validation metric. A variant that closes the gap names
the cause; one that does not rules it out. Variants (patched into the replay's internals for this
run only, nothing in the package changes):

- ``re-ranks-by-metric``: regularised evolution ranks pruned trials by their validation metric
  (as it does for Optuna's pruners) instead of the training loss (``--sampler re`` only);
- ``distinct-calibration``: the calibration keeps one row per architecture (evolution proposes
  the same architecture many times, so the bootstrap may count one several times);
- ``completed-target``: the calibration never judges by a later step's metric, only by the
  completed trials' objective;
- ``metric-only``: the pruner ranks by the validation metric alone (weight 1): SoTLPruner's rule
  fed the metric, which isolates the rule from the signal;
- ``top-weighted-choice``: the bootstrap compares the signals by the mean percentile each gives
  the best quarter of the calibration trials (by outcome) instead of by Spearman's ρ over all of
  them: a median pruner needs the future best trials in the better half, not a good order below;
- ``oracle-calibration``: every finished trial that reached the step calibrates, pruned ones
  included, judged by its final validation metric read from the file, which no real study knows
  of a pruned trial. The estimator otherwise calibrates on survivors only, and survivors are the
  trials its own choice let through: if this variant closes the gap, that selection is the cause.
  The choice is refreshed whenever those trials grow by a tenth, not at each one, to keep the
  bootstrap's cost near the real estimator's;
- ``oracle-population``: the same with every finished trial, also those that stopped before the
  step, whose loss and metric there are read from the file too: the choice made on the whole
  population the study has drawn, a bound on what any calibration of the step could know;
- ``startup-calibration``: a remedy a real study could run. No trial is pruned until
  ``min_calibration_trials`` (10) have completed (``n_startup_trials`` 10 instead of 5), and only
  those trials calibrate, judged by their objective: a small sample, but one that no choice of
  the estimator has selected;
- ``more-startup``: ``n_startup_trials`` 10 alone, the calibration as built: what the five more
  unpruned trials of ``startup-calibration`` are worth by themselves.

- ``probes``: about one trial in ``--probe-every`` (drawn from its number by a hash, so every
  worker of a real study would agree) is a *probe*, never pruned before ``--probe-steps`` (0: never
  pruned); the calibration as built;
- ``probe-calibration``: the probes as above, and at every step ``t`` whose ``2t + 1`` is at most
  the probes' judging step (the last step, or ``--probe-steps``) the calibration takes the probes
  that reached that step, judged by their metric there, once there are ``min_calibration_trials``
  of them: a sample no choice of the estimator has selected, as large as the probes the study
  pays for. Other steps calibrate as built;
- ``median+probes`` (a second baseline, not a SoTLPruner variant): ``MedianPruner`` sparing the
  same probes. Probes cost epochs and change what evolution breeds from, so a probe variant is
  compared fairly only against it; the table gets a column for it.

``--variants`` runs a subset and ``--jobs`` spreads the seeds over processes.
``--median-startup N`` gives the baseline ``MedianPruner(n_startup_trials=N)``: a variant with
more startup trials is compared fairly only against a MedianPruner given as many.

Usage::

    python benchmarks/diagnose_sotlpruner.py --data $OPTUNA_SOTL_DATA/tabular_mlp.npz \\
        --budget 8000 --seeds 100 --sampler re --name diagnose_sotlpruner_tabular_mlp_re
"""

from __future__ import annotations

import argparse
from bisect import bisect_left
from bisect import bisect_right
from collections.abc import Callable
import contextlib
import csv
import dataclasses
from multiprocessing import Pool
import os
import sys
import time
from typing import Any
from unittest import mock
import zlib

import numpy as np
from tqdm.auto import tqdm


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import data_label  # noqa: E402
from _common import header  # noqa: E402
from _common import require_data  # noqa: E402
from _common import results_path  # noqa: E402

from optuna_sotl.curves import _replay_calibration as calibration  # noqa: E402
from optuna_sotl.curves import _replay_pruners as pruners  # noqa: E402
from optuna_sotl.curves import _replay_samplers as samplers  # noqa: E402
from optuna_sotl.curves._loader import load_curves  # noqa: E402
from optuna_sotl.curves._replay import fast_replay  # noqa: E402
from optuna_sotl.curves._replay import PrunerSpec  # noqa: E402
from optuna_sotl.curves._replay_data import COMPLETE  # noqa: E402
from optuna_sotl.curves._replay_data import PRUNED  # noqa: E402
from optuna_sotl.curves._replay_data import ReplayData  # noqa: E402
from optuna_sotl.curves._search_configs import search_configs  # noqa: E402
from optuna_sotl.estimators import _signal_choice as signal_choice  # noqa: E402


def _re_ranks_by_metric(original: Any) -> Any:
    def init(self: Any, data: Any, seed: int, population: int, tournament: int, signal: str,
             bracket_of: Any = None) -> None:
        original(self, data, seed, population, tournament, "val_metric", bracket_of)

    return init


def _distinct_calibration(original: Any) -> Any:
    def choose(self: Any, t: int, target: int, n_members: int) -> float:
        tables = self._t
        if target < 0:
            rows = np.array(self._complete_rows, dtype=np.intp)
        else:
            rows = np.array(
                [r for r, last in zip(self._finished_rows, self._finished_last) if last >= target],
                dtype=np.intp,
            )
        _, first = np.unique(rows, return_index=True)
        rows = rows[np.sort(first)]
        later = tables.objective[rows] if target < 0 else tables.metric[rows, target]
        metric = tables.metric[rows, t]
        return calibration.choose_signal(
            tables.sotl_e[rows, t], None if np.isnan(metric).any() else metric, later,
            min_trials=self._min_trials, prior=self._prior,
        ).metric_weight

    return choose


def _completed_target(original: Any) -> Any:
    def key(self: Any, t: int) -> tuple[int, int, int] | None:
        n_members = len(self._complete_rows)
        return None if n_members < self._min_trials else (t, -1, n_members)

    return key


def _metric_only(original: Any) -> Any:
    def decide(self: Any, t: int, pruner: Any, by_sotl_e: bool) -> bool:
        if self._row_nan[t] or self._n_nan[t]:
            return by_sotl_e
        step = self._steps[t]
        step.update()
        values = step.values[:, : step.n]
        finite = ~np.isinf(values[0])
        return bool(pruner.prunes(self._row_metric[t], np.where(finite, values[1], np.inf)))

    return decide


def _top_weighted_choice(original: Any) -> Any:
    resample_counts, resample_ranks = signal_choice.resample_counts, signal_choice.resample_ranks

    def top_quarter(
        scores: np.ndarray, target: np.ndarray, index: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        resamples, n = index.shape
        counts = resample_counts(index)
        target_ranks = resample_ranks(target, counts)
        weights = counts * (target_ranks <= max(1.0, n / 4.0))
        statistic = np.empty((scores.shape[0], resamples))
        for row, values in enumerate(scores):
            # Higher is better, as ρ: minus the mean percentile given to the best quarter.
            percentile = resample_ranks(values, counts) / n
            # A resample whose best quarter is one wide tie weighs nothing: NaN, counted as a tie.
            with np.errstate(invalid="ignore"):
                statistic[row] = -(weights * percentile).sum(axis=1) / weights.sum(axis=1)
        # As for ρ: a resample says something only if the targets it drew are not all tied.
        drawn_mean = (counts * target_ranks).sum(axis=1, keepdims=True) / n
        return statistic, (counts * (target_ranks - drawn_mean) ** 2).sum(axis=1) > 0.0

    return top_quarter


# Finished trials that reached a step, rounded down to this grid (each about a tenth above the
# last) before the oracle chooses: its choice is refreshed as often as its evidence grows.
_GRID = sorted({int(round(1.1**k)) for k in range(120)})


def _oracle_key(population: bool) -> Callable[[Any], Any]:
    def make(original: Any) -> Any:
        def key(self: Any, t: int) -> tuple[int, int, int] | None:
            members = len(self._last_sorted)
            if not population:
                members -= bisect_left(self._last_sorted, t)
            if members < self._min_trials:
                return None
            return (t, -2, _GRID[bisect_right(_GRID, members) - 1])

        return key

    return make


def _oracle_choose(population: bool) -> Callable[[Any], Any]:
    def make(original: Any) -> Any:
        def choose(self: Any, t: int, target: int, n_members: int) -> float:
            rows = [
                r for r, last in zip(self._finished_rows, self._finished_last)
                if population or last >= t
            ]
            return _choose_on(self, np.array(rows[:n_members], dtype=np.intp), t)

        return choose

    return make


def _choose_on(self: Any, rows: np.ndarray, t: int, judged_at: int | None = None) -> float:
    """The choice at ``t`` on ``rows``, each judged by its validation metric at ``judged_at``
    (``None``: its final one)."""
    tables = self._t
    metric = tables.metric[rows, t]
    later = tables.objective[rows] if judged_at is None else tables.metric[rows, judged_at]
    return signal_choice.choose_signal(
        tables.sotl_e[rows, t], None if np.isnan(metric).any() else metric,
        later, min_trials=self._min_trials, prior=self._prior,
    ).metric_weight


def _startup_pruner(original: Any) -> Any:
    def init(self: Any, data: Any, percentile: float, n_startup: int, *args: Any) -> None:
        min_trials = args[3]  # after n_warmup, interval and n_min
        original(self, data, percentile, max(n_startup, min_trials), *args)

    return init


def _startup_key(original: Any) -> Any:
    def key(self: Any, t: int) -> tuple[int, int, int] | None:
        if len(self._complete_rows) < self._min_trials:
            return None
        return (t, -3, self._min_trials)

    return key


def _startup_choose(original: Any) -> Any:
    def choose(self: Any, t: int, target: int, n_members: int) -> float:
        return _choose_on(self, np.array(self._complete_rows[:n_members], dtype=np.intp), t)

    return choose


Patch = tuple[Any, str, Callable[[Any], Any]]
# Probe trials: set per worker from --probe-every and --probe-steps (0: never a probe).
_PROBE = {"every": 0, "steps": 0}


def is_probe(number: int) -> bool:
    """Whether trial ``number`` is a probe: about one in ``--probe-every``, from its number alone
    (a hash, as Hyperband draws brackets), so every worker of a real study would agree."""
    every = _PROBE["every"]
    return every > 0 and zlib.crc32(f"probe_{number}".encode()) % every == 0


def _probe_begin(original: Any) -> Any:
    def begin(self: Any, number: int, row: int) -> None:
        original(self, number, row)
        self._probe = is_probe(number)
        calibration_of = getattr(self, "_calibration", None)
        if calibration_of is not None:  # SoTLPruner: its calibration keeps the probes' rows
            calibration_of._probe = self._probe

    return begin


def _probe_step(original: Any) -> Any:
    def step(self: Any, t: int) -> bool:
        prune = original(self, t)  # its bookkeeping runs for probes too
        limit = _PROBE["steps"]
        return prune and not (self._probe and (limit <= 0 or t < limit))

    return step


def _probe_end(original: Any) -> Any:
    def end(self: Any, state: int) -> None:
        original(self, state)
        last = self._last
        if state in (COMPLETE, PRUNED) and last >= 0 and getattr(self, "_probe", False):
            self.__dict__.setdefault("_probe_rows", []).append((self._row, last))

    return end


def _probe_target(self: Any) -> int:
    """The step probes are judged at: the last one, or the first at which a probe may be pruned
    (every probe reports it)."""
    last = int(self._t.metric.shape[1]) - 1
    return last if _PROBE["steps"] <= 0 else min(_PROBE["steps"], last)


def _probe_key(original: Any) -> Any:
    def key(self: Any, t: int) -> tuple[int, int, int] | None:
        probes = self.__dict__.get("_probe_rows", [])
        target = _probe_target(self)
        if target < 2 * t + 1:
            return original(self, t)
        members = sum(last >= target for _, last in probes)
        if members < self._min_trials:
            return original(self, t)
        return (t, -4, members)

    return key


def _probe_choose(original: Any) -> Any:
    def choose(self: Any, t: int, target: int, n_members: int) -> float:
        if target != -4:
            return original(self, t, target, n_members)
        step = _probe_target(self)
        rows = [r for r, last in self.__dict__["_probe_rows"] if last >= step][:n_members]
        return _choose_on(self, np.array(rows, dtype=np.intp), t, judged_at=step)

    return choose


# The baseline MedianPruner sparing the same probes: a pseudo-variant for --variants.
MEDIAN_PROBES = "median+probes"
_PROBE_PATCHES: list[Patch] = [
    (calibration.CalibratedPercentile, "begin", _probe_begin),
    (calibration.CalibratedPercentile, "step", _probe_step),
    (calibration._StudyCalibration, "end", _probe_end),
]
_MEDIAN_PROBE_PATCHES: list[Patch] = [
    (pruners._OptunaPercentile, "begin", _probe_begin),
    (pruners._OptunaPercentile, "step", _probe_step),
]

VARIANTS: dict[str, list[Patch]] = {
    "as built": [],
    "re-ranks-by-metric": [(samplers._RegularizedEvolution, "__init__", _re_ranks_by_metric)],
    "distinct-calibration": [(calibration._StudyCalibration, "_choose", _distinct_calibration)],
    "completed-target": [(calibration._StudyCalibration, "_key", _completed_target)],
    "metric-only": [(calibration._StudyCalibration, "decide", _metric_only)],
    "top-weighted-choice": [(signal_choice, "_bootstrap_spearman", _top_weighted_choice)],
    "oracle-calibration": [
        (calibration._StudyCalibration, "_key", _oracle_key(population=False)),
        (calibration._StudyCalibration, "_choose", _oracle_choose(population=False)),
    ],
    "oracle-population": [
        (calibration._StudyCalibration, "_key", _oracle_key(population=True)),
        (calibration._StudyCalibration, "_choose", _oracle_choose(population=True)),
    ],
    "startup-calibration": [
        (calibration.CalibratedPercentile, "__init__", _startup_pruner),
        (calibration._StudyCalibration, "_key", _startup_key),
        (calibration._StudyCalibration, "_choose", _startup_choose),
    ],
    "more-startup": [(calibration.CalibratedPercentile, "__init__", _startup_pruner)],
    "probes": _PROBE_PATCHES,
    "probe-calibration": [
        *_PROBE_PATCHES,
        (calibration._StudyCalibration, "_key", _probe_key),
        (calibration._StudyCalibration, "_choose", _probe_choose),
    ],
}

_WORKER: dict[str, Any] = {}


def _start_worker(
    path: str, sampler: str, budget: int, median_startup: int = 5, probe_every: int = 0,
    probe_steps: int = 0,
) -> None:
    _PROBE.update(every=probe_every, steps=probe_steps)
    _WORKER["data"] = ReplayData(load_curves(path))
    _WORKER["budget"] = budget
    (median,) = search_configs([f"{sampler}/median"])
    pruner = PrunerSpec("median", (("n_startup_trials", median_startup),))
    _WORKER["median"] = dataclasses.replace(median, pruner=pruner)
    (_WORKER["sotl"],) = search_configs([f"{sampler}/sotl"])


def _regrets(task: tuple[str | None, int]) -> tuple[float, float]:
    """(val, test) regret of one seed: ``variant`` None is MedianPruner."""
    variant, seed = task
    data = _WORKER["data"]
    is_median = variant is None or variant == MEDIAN_PROBES
    config = _WORKER["median" if is_median else "sotl"]
    if variant is None:
        patch_list = []
    else:
        patch_list = _MEDIAN_PROBE_PATCHES if variant == MEDIAN_PROBES else VARIANTS[variant]
    with contextlib.ExitStack() as patches:
        for owner, name, make in patch_list:
            patches.enter_context(mock.patch.object(owner, name, make(getattr(owner, name))))
        trace = fast_replay(data, config.sampler, config.pruner, seed, _WORKER["budget"])
    if not trace.rows.size:
        return np.inf, np.inf
    last = trace.rows[-1]
    return float(data.val_regret[last]), float(data.test_regret[last])


def _ci(values: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    means = values[rng.integers(0, values.size, size=(5000, values.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--budget", type=int, required=True)
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--sampler", default="re", choices=("random", "re"))
    parser.add_argument("--name", required=True)
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated subset of: " + ", ".join(VARIANTS))
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--median-startup", type=int, default=5,
                        help="the baseline MedianPruner's n_startup_trials (its default: 5)")
    parser.add_argument("--probe-every", type=int, default=0,
                        help="about one trial in this many is a probe (variants 'probes' and "
                        "'probe-calibration'; 0: none)")
    parser.add_argument("--probe-steps", type=int, default=0,
                        help="a probe is not pruned before this step (0: never pruned)")
    args = parser.parse_args()
    path = require_data(args.data)
    # Under random sampling there is no evolution whose ranking could change.
    variants = [
        v for v in args.variants.split(",")
        if args.sampler == "re" or v != "re-ranks-by-metric"
    ]
    unknown = sorted(set(variants) - set(VARIANTS) - {MEDIAN_PROBES})
    if unknown:
        parser.error(f"--variants: unknown {', '.join(unknown)}")
    _PROBE.update(every=args.probe_every, steps=args.probe_steps)  # for the header
    seeds = list(range(args.seeds))
    started = time.time()
    tasks = [(variant, seed) for variant in [None, *variants] for seed in seeds]
    worker_args = (
        path, args.sampler, args.budget, args.median_startup, args.probe_every,
        args.probe_steps,
    )
    with Pool(args.jobs, _start_worker, worker_args) as pool:
        results = list(tqdm(pool.imap(_regrets, tasks, chunksize=2), total=len(tasks),
                            desc="replays"))
    by_variant = np.array(results).reshape(len(variants) + 1, len(seeds), 2)
    baselines = {"median": by_variant[0]}
    if MEDIAN_PROBES in variants:
        baselines["median_probes"] = by_variant[1 + variants.index(MEDIAN_PROBES)]
    rng = np.random.default_rng(0)
    rows = []
    for variant, regrets in zip(variants, by_variant[1:]):
        row: dict[str, object] = {"variant": variant, "seeds": len(seeds)}
        for column, kind in enumerate(("val", "test")):
            row[f"{kind}_regret_mean"] = round(float(regrets[:, column].mean()), 4)
            for against, baseline in baselines.items():
                difference = regrets[:, column] - baseline[:, column]
                low, high = _ci(difference, rng)
                row |= {
                    f"{kind}_minus_{against}_mean": round(float(difference.mean()), 4),
                    f"{kind}_minus_{against}_ci_low": round(low, 4),
                    f"{kind}_minus_{against}_ci_high": round(high, 4),
                }
        rows.append(row)
    with open(results_path(f"{args.name}.csv"), "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    extra = [
        f"Data: {data_label(path)}; budget {args.budget} epochs; sampler `{args.sampler}`; "
        f"seeds 0..{args.seeds - 1}, paired; {time.time() - started:.0f} s wall with "
        f"{args.jobs} worker process(es)",
        f"Baseline `{args.sampler}/median` (MedianPruner(n_startup_trials={args.median_startup}) "
        f"fed val_acc): val regret "
        f"{baselines['median'][:, 0].mean():.3f}, test regret "
        f"{baselines['median'][:, 1].mean():.3f}",
    ]
    if _PROBE["every"]:
        extra.append(
            f"Probes: about one trial in {_PROBE['every']} (`--probe-every`), spared "
            + (f"before step {_PROBE['steps']}" if _PROBE["steps"] else "to the end")
            + " (`--probe-steps`)"
        )
    lines = [header("SoTLPruner() against MedianPruner: one change at a time", extra)]
    lines.append("Mean regret in points; Δ = SoTLPruner variant − MedianPruner, paired, "
                 "[95 % bootstrap CI over seeds]. Variants: see the script's docstring.\n")
    titles = {"median": "", "median_probes": f" vs `{MEDIAN_PROBES}`"}
    columns = ["variant"]
    for kind in ("val", "test"):
        columns += [f"{kind} regret"] + [f"Δ {kind}{titles[name]}" for name in baselines]
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "---|" * len(columns))
    for row in rows:
        cells = [f"`{row['variant']}`"]
        for kind in ("val", "test"):
            cells.append(f"{row[f'{kind}_regret_mean']:.3f}")
            for against in baselines:
                prefix = f"{kind}_minus_{against}"
                low, high = row[f"{prefix}_ci_low"], row[f"{prefix}_ci_high"]
                cells.append(f"{row[f'{prefix}_mean']:+.3f} [{low:+.3f}, {high:+.3f}]")
        lines.append("| " + " | ".join(cells) + " |")
    with open(results_path(f"{args.name}.md"), "w", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
