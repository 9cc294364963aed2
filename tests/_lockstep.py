"""Run fixed loss curves through a pruner, in one process or in several sharing one storage.

Asynchronous successive halving decides by what the rung holds when a trial arrives, so parallel
workers make the decisions of a sequential run only if trials arrive in the same order. The
lock-step objective enforces that order through the storage alone: before trial ``n`` reports a
step ``s`` where a pruner may rank trials (a power of 2 here, as every rung of the pruners tested
with ``min_resource=1, reduction_factor=2``), it waits until every trial numbered below ``n`` has
finished or reported step ``s + 1`` (so has reported and been judged at ``s``). Trial ``n`` then
sees at each rung exactly the trials a sequential run would show it, and no later trial can have
reported the step yet, because it waits for ``n`` the same way. Steps between rungs need no
order: only a NaN prunes there. If rungs lived in a worker's memory instead of in the
storage, the workers' decisions would differ from the sequential ones.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import multiprocessing
import time

import optuna
from optuna.trial import TrialState


def make_pruner(kind: str, kwargs: dict[str, object]) -> optuna.pruners.BasePruner:
    import optuna_sotl.pruners

    classes = {
        "sha": optuna_sotl.pruners.SoTLSuccessiveHalvingPruner,
        "hyperband": optuna_sotl.pruners.SoTLHyperbandPruner,
    }
    return classes[kind](**kwargs)  # type: ignore[arg-type]


def lockstep_objective(
    curves: Sequence[Sequence[float]], *, wait: bool = True, timeout_s: float = 120.0
) -> Callable[[optuna.Trial], float]:
    """Trial ``n`` reports ``curves[n]``; ``wait=False`` for one process, where order is given."""

    def objective(trial: optuna.Trial) -> float:
        curve = curves[trial.number]
        for step, loss in enumerate(curve):
            if wait and step > 0 and step & (step - 1) == 0:
                _wait_for_earlier_trials(trial, step, timeout_s)
            trial.report(float(loss), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(curve[-1])

    return objective


def _wait_for_earlier_trials(trial: optuna.Trial, step: int, timeout_s: float) -> None:
    if trial.number == 0:
        return
    deadline = time.monotonic() + timeout_s
    storage, study_id = trial.study._storage, trial.study._study_id
    while True:
        # Finished trials are done with every step: only running ones can hold trial n back.
        running = storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        if all(
            other.number >= trial.number or step + 1 in other.intermediate_values
            for other in running
        ):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"trial {trial.number} waited over {timeout_s} s at step {step}")
        time.sleep(0.01)


def outcomes(study: optuna.Study) -> dict[int, tuple[str, int | None]]:
    """Each trial's final state and last reported step: the pruning decisions of a run."""
    return {trial.number: (trial.state.name, trial.last_step) for trial in study.trials}


def run_sequentially(
    curves: Sequence[Sequence[float]],
    kind: str,
    kwargs: dict[str, object],
    study_name: str,
    direction: str = "minimize",
) -> dict[int, tuple[str, int | None]]:
    study = optuna.create_study(
        study_name=study_name, direction=direction, pruner=make_pruner(kind, kwargs)
    )
    study.optimize(lockstep_objective(curves, wait=False), n_trials=len(curves))
    return outcomes(study)


Job = tuple[str, str, dict[str, object], Sequence[Sequence[float]]]


def _worker(url: str, jobs: list[Job], n_workers: int) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # The parent created the tables and checked the schema; doing it again in four processes at
    # once costs seconds on a small machine.
    storage = optuna.storages.RDBStorage(
        url, skip_table_creation=True, skip_compatibility_check=True
    )
    for study_name, kind, kwargs, curves in jobs:
        study = optuna.load_study(
            study_name=study_name, storage=storage, pruner=make_pruner(kind, kwargs)
        )
        study.optimize(lockstep_objective(curves), n_trials=len(curves) // n_workers)


def run_in_processes(
    url: str,
    jobs: Sequence[Job],
    n_workers: int,
) -> list[dict[int, tuple[str, int | None]]]:
    """Each job ``(study_name, pruner kind, pruner kwargs, curves)`` run by ``n_workers`` spawned
    processes on the RDB storage at ``url``, one job after the other; the outcomes of each."""
    studies = []
    for study_name, _, _, curves in jobs:
        if len(curves) % n_workers:
            raise ValueError(f"{len(curves)} curves do not split over {n_workers} workers")
        studies.append(optuna.create_study(study_name=study_name, storage=url))
    plain_jobs = [
        (name, kind, kwargs, [list(curve) for curve in curves])
        for name, kind, kwargs, curves in jobs
    ]
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_worker, args=(url, plain_jobs, n_workers))
        for _ in range(n_workers)
    ]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            worker.join(timeout=180)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
                worker.join()
    if any(worker.exitcode != 0 for worker in workers):
        raise RuntimeError(f"worker exit codes: {[w.exitcode for w in workers]}")
    results = []
    for study, (_, _, _, curves) in zip(studies, jobs):
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        if len(done) != len(curves):
            raise RuntimeError(
                f"{len(done)} of {len(curves)} trials of {study.study_name} finished"
            )
        results.append(outcomes(study))
    return results
