"""Replayed architecture search: real Optuna studies whose trials "train" by replaying curves.

Each trial suggests an architecture, looks it up in the file and replays its recorded curves one
epoch per step, paying one epoch of budget per step, until it completes, is pruned or the budget
is spent. Which trial is best is decided as in a real study: by the final validation metric of
the completed trials. Regrets use the final results the search never sees.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import concurrent.futures
import dataclasses
import math
import multiprocessing
import os
import time

import numpy as np
import optuna
from optuna.trial import TrialState

from optuna_sotl.curves._loader import LearningCurves
from optuna_sotl.curves._loader import load_curves
from optuna_sotl.curves._search_configs import ReportMode
from optuna_sotl.curves._search_configs import search_configs
from optuna_sotl.curves._search_configs import SearchConfig


# A sampler that only proposes architectures missing from the file would loop forever.
_MAX_MISSING_IN_A_ROW = 10_000


@dataclasses.dataclass(frozen=True)
class RunTrace:
    """One study of one configuration and seed.

    ``epochs[i]`` is the budget spent when the study's best completed trial changed for the
    ``i``-th time, and ``test_regret[i]`` / ``val_regret[i]`` are the regrets of that new best
    trial; between changes the regret stays put, and before the first completed trial there is no
    result (an infinite regret). ``n_top_proposed`` counts trials that proposed one of the top 1 %
    of the file's architectures by final result, ``n_top_completed`` those of them not pruned.

    Example:

        .. code-block:: python

            import numpy as np
            from optuna_sotl.curves import RunTrace

            trace = RunTrace("random/none", 0, np.array([100, 300]), np.array([2.0, 0.5]),
                             np.array([1.5, 0.4]), np.array([7, 3]), 400, 4, 4, 0, 0, 0, 0, 0.1)
            assert trace.regret_at(np.array([0, 100, 299, 300])).tolist() == [
                float("inf"), 2.0, 2.0, 0.5]
    """

    config: str
    seed: int
    epochs: np.ndarray
    test_regret: np.ndarray
    val_regret: np.ndarray
    best_rows: np.ndarray
    epochs_spent: int
    n_trials: int
    n_complete: int
    n_pruned: int
    n_missing: int
    n_top_proposed: int
    n_top_completed: int
    seconds: float

    def regret_at(self, grid: np.ndarray, kind: str = "test") -> np.ndarray:
        """The regret (``kind`` "test" or "val") after each number of epochs in ``grid``."""
        values = self.test_regret if kind == "test" else self.val_regret
        index = np.searchsorted(self.epochs, grid, side="right") - 1
        padded = np.concatenate([[math.inf], values])
        return padded[index + 1]


class _ArchSpace:
    """The suggestions of a trial and the file row they name (``None``: not in the file)."""

    def __init__(self, curves: LearningCurves) -> None:
        self._n_archs = curves.n_archs
        self._edges = curves.edges
        if curves.ops is None:
            self._choices: list[list[str]] = []
            self._rows: dict[tuple[str, ...], int] = {}
            return
        self._choices = [
            sorted(set(curves.ops[:, j].tolist())) for j in range(curves.ops.shape[1])
        ]
        self._rows = {}
        for row, ops in enumerate(curves.ops.tolist()):
            # A repeated architecture keeps its first row, so a lookup is reproducible.
            self._rows.setdefault(tuple(ops), row)

    def suggest(self, trial: optuna.trial.Trial) -> int | None:
        if self._edges is None:
            # Without operations, the file's row index is the only name an architecture has.
            return trial.suggest_int("arch", 0, self._n_archs - 1)
        ops = tuple(
            trial.suggest_categorical(edge, choices)
            for edge, choices in zip(self._edges, self._choices)
        )
        return self._rows.get(ops)


class _BudgetSpent(Exception):
    pass


class _Replay:
    def __init__(self, curves: LearningCurves, budget: int, report: ReportMode) -> None:
        self._curves = curves
        self._budget = budget
        self._report = report
        self._val = curves.val_metric
        self.spent = 0

    def _pay(self) -> None:
        if self.spent >= self._budget:
            raise _BudgetSpent
        self.spent += 1

    def train(self, trial: optuna.trial.Trial, row: int) -> float:
        from optuna_sotl import SoTLReporter

        curves, val = self._curves, self._val
        if self._report == "train_loss":
            reporter = SoTLReporter(trial)
            val_acc = curves.val_acc
            for epoch in range(curves.n_epochs):
                self._pay()
                reporter.add(curves.train_loss[row, epoch])
                reporter.end_epoch(
                    val_loss=_none_if_nan(curves.val_loss[row, epoch]),
                    val_metric=None if val_acc is None else _none_if_nan(val_acc[row, epoch]),
                )
        else:
            for epoch in range(curves.n_epochs):
                self._pay()
                trial.report(float(val[row, epoch]), epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned at step {epoch}")
        return float(val[row, -1])


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def replay_search(
    curves: LearningCurves, config: SearchConfig, seed: int, budget: int
) -> RunTrace:
    """Run one study of ``config`` with ``seed`` until ``budget`` epochs are spent.

    An architecture missing from the file is told to the study as PRUNED before any step: it
    costs no epoch, reports nothing (so no pruner compares against it) and TPE ranks it among the
    worst trials, so the sampler learns to avoid it. A trial still running when the budget runs
    out is told as FAIL and is not a result.
    """
    started = time.perf_counter()
    sampler, pruner, report = config.build(seed, curves.n_epochs)
    higher = curves.val_metric_higher_is_better
    study = optuna.create_study(
        sampler=sampler, pruner=pruner, direction="maximize" if higher else "minimize"
    )
    space = _ArchSpace(curves)
    replay = _Replay(curves, budget, report)
    test_regrets, val_regrets = _regrets(curves)
    top = _top_rows(test_regrets)

    epochs: list[int] = []
    best_rows: list[int] = []
    best_value = -math.inf if higher else math.inf
    n_missing = missing_in_a_row = n_top_proposed = n_top_completed = 0
    while replay.spent < budget:
        trial = study.ask()
        row = space.suggest(trial)
        if row is None:
            study.tell(trial, state=TrialState.PRUNED)
            n_missing += 1
            missing_in_a_row += 1
            if missing_in_a_row >= _MAX_MISSING_IN_A_ROW:
                raise RuntimeError(
                    f"{config.name} (seed {seed}) proposed {missing_in_a_row} architectures in a "
                    "row that are not in the file."
                )
            continue
        missing_in_a_row = 0
        n_top_proposed += bool(top[row])
        try:
            value = replay.train(trial, row)
        except optuna.TrialPruned:
            study.tell(trial, state=TrialState.PRUNED)
            continue
        except _BudgetSpent:
            study.tell(trial, state=TrialState.FAIL)
            break
        if math.isnan(value):
            study.tell(trial, state=TrialState.FAIL)
            continue
        study.tell(trial, value)
        n_top_completed += bool(top[row])
        # Strictly better only: among ties the earlier trial stays best, as in study.best_trial.
        if (value > best_value) if higher else (value < best_value):
            best_value = value
            epochs.append(replay.spent)
            best_rows.append(row)

    trials = study.get_trials(deepcopy=False)
    count = {state: 0 for state in TrialState}
    for trial in trials:
        count[trial.state] += 1
    rows = np.asarray(best_rows, dtype=np.int64)
    return RunTrace(
        config=config.name,
        seed=seed,
        epochs=np.asarray(epochs, dtype=np.int64),
        test_regret=test_regrets[rows],
        val_regret=val_regrets[rows],
        best_rows=rows,
        epochs_spent=replay.spent,
        n_trials=len(trials),
        n_complete=count[TrialState.COMPLETE],
        n_pruned=count[TrialState.PRUNED] - n_missing,
        n_missing=n_missing,
        n_top_proposed=n_top_proposed,
        n_top_completed=n_top_completed,
        seconds=time.perf_counter() - started,
    )


def _regrets(curves: LearningCurves) -> tuple[np.ndarray, np.ndarray]:
    """Per-architecture test and final-validation regret against the best in the file."""
    result = curves.result if curves.result_higher_is_better else -curves.result
    final_val = curves.val_metric[:, -1]
    final_val = final_val if curves.val_metric_higher_is_better else -final_val
    return np.max(result) - result, np.nanmax(final_val) - final_val


def _top_rows(test_regrets: np.ndarray, fraction: float = 0.01) -> np.ndarray:
    k = max(1, math.ceil(fraction * test_regrets.size))
    return test_regrets <= np.sort(test_regrets)[k - 1]


# Worker-process state: each process loads the file once, then runs many (config, seed) jobs.
_WORKER_CURVES: LearningCurves | None = None


def _init_worker(path: str) -> None:
    global _WORKER_CURVES
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _WORKER_CURVES = load_curves(path)


def _run_job(name: str, seed: int, budget: int) -> RunTrace:
    assert _WORKER_CURVES is not None
    (config,) = search_configs([name])
    return replay_search(_WORKER_CURVES, config, seed, budget)


@dataclasses.dataclass(frozen=True)
class SearchResult:
    """Every run of :func:`run_search`, in (configuration, seed) order.

    Example:

        .. code-block:: python

            import numpy as np
            from optuna_sotl.curves import LearningCurves, run_search

            loss = np.linspace(2.0, 1.0, 4)[None, :] + np.arange(6)[:, None] / 10
            curves = LearningCurves(loss, loss, 90.0 - loss[:, -1], "test_acc")
            result = run_search(curves, budget=12, seeds=1, configs=["random/none"], jobs=1,
                                progress=False)
            assert result.traces[0].epochs_spent == 12
    """

    traces: tuple[RunTrace, ...]
    configs: tuple[SearchConfig, ...]
    seeds: tuple[int, ...]
    budget: int
    source: str
    n_epochs: int
    result_key: str
    val_key: str
    seconds: float


def run_search(
    curves: LearningCurves | str | os.PathLike[str],
    *,
    budget: int = 20_000,
    seeds: int | Sequence[int] = 30,
    configs: Sequence[str] | None = None,
    jobs: int | None = None,
    progress: bool = True,
    on_trace: Callable[[RunTrace], None] | None = None,
) -> SearchResult:
    """Replay the search for every configuration and seed; see :func:`replay_search`.

    ``curves`` is a loaded file or a path; ``seeds`` a count (seeds ``0..seeds-1``) or explicit
    seeds; ``configs`` names from :func:`search_configs` (default: all); ``jobs`` the worker
    processes (default ``os.cpu_count()``; 1 runs in this process). Every configuration gets the
    same seeds, so with RandomSampler they propose the same architectures in the same order.
    Runs go seed by seed (every configuration of seed 0 first), and ``on_trace`` is called with
    each finished run, so a long search stopped early leaves whole seeds behind.

    Example:

        .. code-block:: python

            from optuna_sotl.curves import run_search

            result = run_search("spikenas_cifar10.npz", budget=2000, seeds=2, jobs=1)
    """
    from tqdm.auto import tqdm

    budget = _positive_int("budget", budget)
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seed_list = list(range(_positive_int("seeds", seeds)))
    else:
        if not isinstance(seeds, Sequence) or not all(
            isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) for seed in seeds
        ):
            raise TypeError(
                f"seeds must be an int count or a sequence of int seeds, got {seeds!r}."
            )
        seed_list = [int(seed) for seed in seeds]
        if not seed_list or len(set(seed_list)) != len(seed_list):
            raise ValueError(f"seeds must be a positive count or distinct seeds, got {seeds!r}.")
    jobs = (os.cpu_count() or 1) if jobs is None else _positive_int("jobs", jobs)
    chosen = search_configs(configs)
    loaded = curves if isinstance(curves, LearningCurves) else load_curves(curves)
    if jobs > 1 and loaded.source == "<memory>":
        raise ValueError(
            "jobs > 1 needs curves loaded from a file (workers reload it); use jobs=1."
        )

    started = time.perf_counter()
    tasks = [(config.name, seed) for seed in seed_list for config in chosen]
    traces: dict[tuple[str, int], RunTrace] = {}

    def finished(task: tuple[str, int], trace: RunTrace) -> None:
        traces[task] = trace
        bar.update()
        if on_trace is not None:
            on_trace(trace)

    bar = tqdm(total=len(tasks), desc="replayed search", unit="run", disable=not progress)
    if jobs == 1:
        previous = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            by_name = {config.name: config for config in chosen}
            for name, seed in tasks:
                finished((name, seed), replay_search(loaded, by_name[name], seed, budget))
        finally:
            optuna.logging.set_verbosity(previous)
    else:
        # fork shares the loaded module state (registered configurations) with the workers.
        context = multiprocessing.get_context("fork" if os.name == "posix" else None)
        with concurrent.futures.ProcessPoolExecutor(
            max_workers=min(jobs, len(tasks)),
            mp_context=context,
            initializer=_init_worker,
            initargs=(loaded.source,),
        ) as pool:
            futures = {
                pool.submit(_run_job, name, seed, budget): (name, seed) for name, seed in tasks
            }
            for future in concurrent.futures.as_completed(futures):
                finished(futures[future], future.result())
    bar.close()
    return SearchResult(
        traces=tuple(traces[config.name, seed] for config in chosen for seed in seed_list),
        configs=tuple(chosen),
        seeds=tuple(seed_list),
        budget=budget,
        source=loaded.source,
        n_epochs=loaded.n_epochs,
        result_key=loaded.result_key,
        val_key=loaded.val_metric_key,
        seconds=time.perf_counter() - started,
    )


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}.")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {name}={value}.")
    return int(value)
