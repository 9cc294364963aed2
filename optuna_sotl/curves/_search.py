"""Replayed architecture search over many seeds, and the real-Optuna driver it is checked against.

:func:`run_search` runs every configuration (sampler × pruner, see
:mod:`optuna_sotl.curves._search_configs`) for every seed with the fast replay of
:mod:`optuna_sotl.curves._replay`, in worker processes, and keeps each run's regret on a grid of
budgets. :func:`optuna_replay` runs the same study as a real Optuna study, trial by trial through
:class:`~optuna_sotl.SoTLReporter` and the real pruner classes: the differential test compares
the two.
"""

from __future__ import annotations

from collections.abc import Sequence
import concurrent.futures
import dataclasses
import math
import multiprocessing
import os
import time

import numpy as np

from optuna_sotl.curves._loader import LearningCurves
from optuna_sotl.curves._loader import load_curves
from optuna_sotl.curves._replay import COMPLETE
from optuna_sotl.curves._replay import FAIL
from optuna_sotl.curves._replay import fast_replay
from optuna_sotl.curves._replay import make_estimator
from optuna_sotl.curves._replay import MISSING
from optuna_sotl.curves._replay import PRUNED
from optuna_sotl.curves._replay import PrunerSpec
from optuna_sotl.curves._replay import ReplayData
from optuna_sotl.curves._replay import SamplerSpec
from optuna_sotl.curves._replay import study_name
from optuna_sotl.curves._search_configs import search_configs
from optuna_sotl.curves._search_configs import SearchConfig


# Budgets (epochs) at which each run's regret is kept: every GRID_STEP epochs.
GRID_POINTS = 160


@dataclasses.dataclass(frozen=True)
class SearchResult:
    """Regret of every (configuration, seed) on a grid of budgets.

    ``test[c, s, g]`` / ``val[c, s, g]``: regret in points of configuration ``c`` and seed ``s``
    after ``grid[g]`` epochs (``inf`` before the first completed trial); ``counts[c, s]``: trials,
    completed, pruned, missing, top-1 % proposed, top-1 % completed.

    Example:

        .. code-block:: python

            import numpy as np
            from optuna_sotl.curves import LearningCurves, run_search

            loss = np.linspace(2.0, 1.0, 4)[None, :] + np.arange(6)[:, None] / 10
            curves = LearningCurves(loss, loss, 90.0 - loss[:, -1], "test_acc")
            result = run_search(curves, budget=12, seeds=2, configs=["random/none"], jobs=1,
                                progress=False)
            assert result.test.shape[:2] == (1, 2)
    """

    configs: tuple[SearchConfig, ...]
    seeds: tuple[int, ...]
    budget: int
    grid: np.ndarray
    test: np.ndarray
    val: np.ndarray
    counts: np.ndarray
    source: str
    n_epochs: int
    result_key: str
    val_key: str
    seconds: float
    cpu_seconds: float

    @property
    def names(self) -> list[str]:
        return [config.name for config in self.configs]


def budget_grid(budget: int) -> np.ndarray:
    """``GRID_POINTS`` budgets up to ``budget``, including 1/8, 1/4, 1/2 and all of it."""
    grid = np.unique(
        np.concatenate(
            [
                np.linspace(budget / GRID_POINTS, budget, GRID_POINTS),
                [budget / 8, budget / 4, budget / 2, budget],
            ]
        ).round().astype(np.int64)
    )
    return grid[grid >= 1]


def _regret_at(trace_epochs: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    index = np.searchsorted(trace_epochs, grid, side="right") - 1
    padded = np.concatenate([[math.inf], values])
    return padded[index + 1]


# Worker state: each process prepares the file once, then runs many (configuration, seed) jobs.
_WORKER: ReplayData | None = None


def _init_worker(path: str) -> None:
    global _WORKER
    _WORKER = ReplayData(load_curves(path))


def _run_chunk(
    index: int, sampler: SamplerSpec, pruner: PrunerSpec, seeds: list[int], budget: int,
    grid: np.ndarray,
) -> tuple[int, list[int], np.ndarray, np.ndarray, np.ndarray, float]:
    assert _WORKER is not None
    return _chunk(_WORKER, index, sampler, pruner, seeds, budget, grid)


def _chunk(
    data: ReplayData, index: int, sampler: SamplerSpec, pruner: PrunerSpec, seeds: list[int],
    budget: int, grid: np.ndarray,
) -> tuple[int, list[int], np.ndarray, np.ndarray, np.ndarray, float]:
    started = time.process_time()
    test = np.empty((len(seeds), grid.size))
    val = np.empty((len(seeds), grid.size))
    counts = np.empty((len(seeds), 6), dtype=np.int64)
    for i, seed in enumerate(seeds):
        trace = fast_replay(data, sampler, pruner, seed, budget)
        test[i] = _regret_at(trace.epochs, data.test_regret[trace.rows], grid)
        val[i] = _regret_at(trace.epochs, data.val_regret[trace.rows], grid)
        counts[i] = (
            trace.n_trials, trace.n_complete, trace.n_pruned, trace.n_missing,
            trace.n_top_proposed, trace.n_top_completed,
        )
    return index, seeds, test, val, counts, time.process_time() - started


def run_search(
    curves: LearningCurves | str | os.PathLike[str],
    *,
    budget: int = 20_000,
    seeds: int | Sequence[int] = 200,
    configs: Sequence[str] | None = None,
    jobs: int | None = None,
    progress: bool = True,
    chunk: int = 25,
) -> SearchResult:
    """Replay the search for every configuration and seed with the fast replay.

    ``curves``: a loaded file or a path; ``seeds``: a count (seeds ``0..seeds-1``) or explicit
    seeds; ``configs``: names from :func:`search_configs` (default: the standard set);
    ``jobs``: worker processes (default 2; 1 runs in this process). Seed ``k`` gives the same
    proposals under every pruner with random sampling, so differences are paired.

    Example:

        .. code-block:: python

            from optuna_sotl.curves import run_search

            result = run_search("spikenas_cifar10.npz", budget=2000, seeds=5, jobs=1)
    """
    from tqdm.auto import tqdm

    budget = _positive_int("budget", budget)
    seed_list = _seed_list(seeds)
    jobs = 2 if jobs is None else _positive_int("jobs", jobs)
    chunk = _positive_int("chunk", chunk)
    chosen = search_configs(configs)
    if any(config.sampler.kind == "tpe" for config in chosen):
        raise ValueError("TPE configurations run with run_tpe_search, not the fast replay.")
    loaded = curves if isinstance(curves, LearningCurves) else load_curves(curves)
    if jobs > 1 and loaded.source == "<memory>":
        raise ValueError("jobs > 1 needs curves loaded from a file (workers reload it).")
    grid = budget_grid(budget)
    shape = (len(chosen), len(seed_list), grid.size)
    test, val = np.empty(shape), np.empty(shape)
    counts = np.empty((len(chosen), len(seed_list), 6), dtype=np.int64)
    position = {seed: i for i, seed in enumerate(seed_list)}
    # Long jobs first (regularised evolution with percentile pruning) so the workers end together.
    tasks = [
        (index, config, seed_list[start : start + chunk])
        for index, config in enumerate(chosen)
        for start in range(0, len(seed_list), chunk)
    ]
    tasks.sort(key=lambda task: (task[1].sampler.kind != "re", task[1].pruner.kind != "median"))
    started, cpu_started = time.perf_counter(), time.process_time()
    cpu = 0.0
    bar = tqdm(total=len(chosen) * len(seed_list), desc="replayed search", unit="run",
               disable=not progress)

    def store(out: tuple) -> None:
        nonlocal cpu
        index, seeds_done, t, v, c, seconds = out
        rows = [position[seed] for seed in seeds_done]
        test[index, rows], val[index, rows], counts[index, rows] = t, v, c
        cpu += seconds
        bar.update(len(seeds_done))

    if jobs == 1:
        data = ReplayData(loaded)
        for index, config, part in tasks:
            store(_chunk(data, index, config.sampler, config.pruner, part, budget, grid))
    else:
        context = multiprocessing.get_context("fork" if os.name == "posix" else None)
        with concurrent.futures.ProcessPoolExecutor(
            max_workers=jobs, mp_context=context, initializer=_init_worker,
            initargs=(loaded.source,),
        ) as pool:
            futures = [
                pool.submit(_run_chunk, index, config.sampler, config.pruner, part, budget, grid)
                for index, config, part in tasks
            ]
            for future in concurrent.futures.as_completed(futures):
                store(future.result())
    bar.close()
    if jobs == 1:
        cpu = time.process_time() - cpu_started
    return SearchResult(
        configs=tuple(chosen), seeds=tuple(seed_list), budget=budget, grid=grid, test=test,
        val=val, counts=counts, source=loaded.source, n_epochs=loaded.n_epochs,
        result_key=loaded.result_key, val_key=loaded.val_metric_key,
        seconds=time.perf_counter() - started, cpu_seconds=cpu,
    )


def optuna_replay(
    curves: LearningCurves,
    sampler: SamplerSpec,
    pruner: PrunerSpec,
    seed: int,
    budget: int,
    proposals: Sequence[int] | None = None,
) -> list[tuple[int, int, int]]:
    """The same study as a real Optuna study; one ``(row, state, last step)`` per trial.

    Trials train through :class:`~optuna_sotl.SoTLReporter` (training-loss pruners) or
    ``trial.report(val, step)`` + ``should_prune()`` (Optuna's pruners), with the real pruner
    built by :meth:`PrunerSpec.build_real`. Architectures come from ``proposals`` (rows; -1: not
    in the file), or, for ``re`` without proposals, from the real
    :class:`~optuna_sotl.RegularizedEvolutionSampler` suggesting each edge's operation.
    """
    import optuna

    from optuna_sotl import RegularizedEvolutionSampler
    from optuna_sotl import SelfCalibratingEstimator
    from optuna_sotl import SoTLReporter
    from optuna_sotl import SoTLSampler

    data = ReplayData(curves)
    data.build_space()
    if proposals is None and sampler.kind == "random":
        raise ValueError("random sampling is replayed from the fast replay's proposals.")
    if proposals is not None:
        real_sampler: optuna.samplers.BaseSampler = optuna.samplers.RandomSampler(seed=seed)
    elif sampler.kind == "re":
        real_sampler = RegularizedEvolutionSampler(
            sampler.population_size, sampler.tournament_size, seed=seed
        )
    elif pruner.report == "train_loss":
        # Plain TPE would read pruned trials' training losses in the study's direction (the
        # highest loss as the best); this package's set-up hands it SoTL scores instead.
        estimator = make_estimator(str(pruner.option("estimator", "sotl-e")))
        if isinstance(estimator, SelfCalibratingEstimator):
            # A sampler ranks pruned trials by a training-loss score: the calibrated one's.
            estimator = estimator.loss_estimator
        real_sampler = SoTLSampler(optuna.samplers.TPESampler(seed=seed), estimator=estimator)
    else:  # "tpe": Optuna's defaults, what a user gets today
        real_sampler = optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(
        study_name=study_name(seed),
        direction="maximize" if data.higher else "minimize",
        sampler=real_sampler,
        pruner=pruner.build_real(data.n_epochs),
    )
    spent = 0
    log: list[tuple[int, int, int]] = []
    while spent < budget:
        trial = study.ask()
        if proposals is None:
            arch = tuple(
                choices.index(trial.suggest_categorical(edge, choices))
                for edge, choices in zip(data.edges, data.choices)
            )
            row = data.rows.get(arch, -1)
        else:
            row = int(proposals[len(log)])
        if row < 0:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            log.append((-1, MISSING, -1))
            continue
        state, last = COMPLETE, data.n_epochs - 1
        reporter = SoTLReporter(trial) if pruner.report == "train_loss" else None
        for t in range(data.n_epochs):
            if spent >= budget:
                state, last = FAIL, t - 1
                break
            spent += 1
            try:
                if reporter is not None:
                    reporter.add(data.train_loss[row, t])
                    reporter.end_epoch(val_metric=_none_if_nan(data.val[row, t]))
                else:
                    trial.report(float(data.val[row, t]), t)
                    if trial.should_prune():
                        raise optuna.TrialPruned()
            except optuna.TrialPruned:
                state, last = PRUNED, t
                break
        if state == COMPLETE:
            study.tell(trial, float(data.val[row, -1]))
        else:
            study.tell(
                trial,
                state=optuna.trial.TrialState.PRUNED if state == PRUNED
                else optuna.trial.TrialState.FAIL,
            )
        log.append((row, state, last))
    return log


def trace_of_log(data: ReplayData, log: Sequence[tuple[int, int, int]], budget: int,
                 grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Test and val regret on ``grid`` and the counts of a real study's trial log."""
    spent, best = 0, -math.inf
    epochs: list[int] = []
    rows: list[int] = []
    counts = np.zeros(6, dtype=np.int64)
    final = data.final_val if data.higher else -data.final_val
    for row, state, last in log:
        counts[0] += 1
        if state == MISSING:
            counts[3] += 1
            continue
        counts[4] += bool(data.top[row])
        spent = min(budget, spent + last + 1) if state != FAIL else budget
        if state == PRUNED:
            counts[2] += 1
        if state == COMPLETE:
            counts[1] += 1
            counts[5] += bool(data.top[row])
            if final[row] > best:
                best = final[row]
                epochs.append(spent)
                rows.append(row)
    index = np.asarray(rows, dtype=np.int64)
    trace_epochs = np.asarray(epochs, dtype=np.int64)
    return (
        _regret_at(trace_epochs, data.test_regret[index], grid),
        _regret_at(trace_epochs, data.val_regret[index], grid),
        counts,
    )


def _run_tpe(path: str, sampler: SamplerSpec, pruner: PrunerSpec, seed: int, budget: int,
             grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.process_time()
    curves = load_curves(path)
    log = optuna_replay(curves, sampler, pruner, seed, budget)
    test, val, counts = trace_of_log(ReplayData(curves), log, budget, grid)
    return test, val, counts, time.process_time() - started


def run_tpe_search(
    path: str, *, budget: int = 20_000, seeds: int | Sequence[int] = 30,
    configs: Sequence[str] | None = None, jobs: int = 2, progress: bool = True,
) -> SearchResult:
    """TPE configurations as real Optuna studies (:func:`optuna_replay`): TPE's own cost."""
    from tqdm.auto import tqdm

    from optuna_sotl.curves._search_configs import tpe_names

    seed_list = _seed_list(seeds)
    chosen = search_configs(configs or tpe_names())
    curves = load_curves(path)
    grid = budget_grid(budget)
    shape = (len(chosen), len(seed_list), grid.size)
    test, val = np.empty(shape), np.empty(shape)
    counts = np.empty((len(chosen), len(seed_list), 6), dtype=np.int64)
    started, cpu = time.perf_counter(), 0.0
    context = multiprocessing.get_context("fork" if os.name == "posix" else None)
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = {
            pool.submit(_run_tpe, path, config.sampler, config.pruner, seed, budget, grid): (i, j)
            for j, seed in enumerate(seed_list)
            for i, config in enumerate(chosen)
        }
        bar = tqdm(total=len(futures), desc="TPE search", unit="run", disable=not progress)
        for future in concurrent.futures.as_completed(futures):
            i, j = futures[future]
            test[i, j], val[i, j], counts[i, j], seconds = future.result()
            cpu += seconds
            bar.update()
        bar.close()
    return SearchResult(
        configs=tuple(chosen), seeds=tuple(seed_list), budget=budget, grid=grid, test=test,
        val=val, counts=counts, source=curves.source, n_epochs=curves.n_epochs,
        result_key=curves.result_key, val_key=curves.val_metric_key,
        seconds=time.perf_counter() - started, cpu_seconds=cpu,
    )


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _seed_list(seeds: int | Sequence[int]) -> list[int]:
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        return list(range(_positive_int("seeds", seeds)))
    if not isinstance(seeds, Sequence) or not all(
        isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) for seed in seeds
    ):
        raise TypeError(f"seeds must be an int count or a sequence of int seeds, got {seeds!r}.")
    seed_list = [int(seed) for seed in seeds]
    if not seed_list or len(set(seed_list)) != len(seed_list):
        raise ValueError(f"seeds must be a positive count or distinct seeds, got {seeds!r}.")
    return seed_list


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}.")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {name}={value}.")
    return int(value)
