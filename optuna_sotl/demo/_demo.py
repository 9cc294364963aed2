"""``run_demo``: a small, real architecture search pruned by SoTL, ending with a ranking table."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
import contextlib
from dataclasses import dataclass
import multiprocessing
import os
import shlex
import signal
import sys
import time
from typing import Any
from typing import TextIO

import numpy as np
import optuna
from optuna.trial import TrialState
from tqdm import tqdm

from optuna_sotl import SoTLE
from optuna_sotl import SoTLPruner
from optuna_sotl._checks import check_count
from optuna_sotl._scoring import ENDED_STATES
from optuna_sotl._storage_url import mask_password
from optuna_sotl.demo._config import ARCH_ATTR
from optuna_sotl.demo._config import DEFAULT_STORAGE
from optuna_sotl.demo._config import TrainingConfig
from optuna_sotl.demo._table import format_demo_table
from optuna_sotl.demo._worker import open_demo_storage
from optuna_sotl.demo._worker import run_worker
from optuna_sotl.demo._worker import run_worker_process
from optuna_sotl.demo._worker import WorkerSpec
from optuna_sotl.ranking import rank_study
from optuna_sotl.ranking import Ranking
from optuna_sotl.ranking._text import fill
from optuna_sotl.rules import PercentileRule


#: Study user attribute holding the :class:`TrainingConfig` the study's trials were trained with.
CONFIG_ATTR = "optuna_sotl_demo_config"


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo` found.

    Attributes:
        study: The study, with every trial in the storage (earlier runs' included).
        storage: The storage URL, as given (it may hold a password; print it masked).
        ranking: All trials of the study ranked by SoTL-E(E=1) at ``ranking.step``, the first
            step the pruner may prune at (see :func:`optuna_sotl.ranking.rank_study`).
        archs: The arch string of each trial, by trial number.
        table: The ranking as the plain text that was printed.
        dashboard_command: The optuna-dashboard command for the storage, password masked;
            None for a gRPC proxy, which optuna-dashboard cannot open.
    """

    study: optuna.Study
    storage: str
    ranking: Ranking
    archs: dict[int, str]
    table: str
    dashboard_command: str | None

    @property
    def n_complete(self) -> int:
        return sum(row.state == "COMPLETE" for row in self.ranking.rows)

    @property
    def n_pruned(self) -> int:
        return sum(row.state == "PRUNED" for row in self.ranking.rows)


#: A hook called once after all trials, e.g. to save the table as a note of the study.
DemoCallback = Callable[[optuna.Study, DemoResult], None]


def run_demo(
    *,
    storage: str = DEFAULT_STORAGE,
    study_name: str = "sotl-demo",
    n_trials: int = 50,
    epochs: int = 12,
    seed: int = 0,
    sampler_seed: int | None = None,
    workers: int = 1,
    percentile: float = 50.0,
    n_startup_trials: int = 10,
    n_warmup_steps: int = 2,
    interval_steps: int = 4,
    callbacks: Sequence[DemoCallback] | None = None,
    show_progress: bool = True,
    file: TextIO | None = None,
) -> DemoResult:
    """Search NAS-Bench-201 cells on noisy, occluded 8x8 digits, pruning by the training loss.

    Each trial suggests a cell with :func:`~optuna_sotl.nas.suggest_cell`, trains its network
    (8 channels, one cell per stage) with Adam for ``epochs`` epochs on 500 of scikit-learn's
    digits with pixel noise and a blanked square (see :class:`TrainingConfig`), reporting every
    minibatch loss through :class:`~optuna_sotl.SoTLReporter`, and returns the final validation
    accuracy, which the study maximises. :class:`~optuna_sotl.SoTLPruner` stops the trials whose
    training loss is worse than the ``percentile`` of the others'; the first
    ``n_startup_trials`` complete trials train in full. At the end the trials are ranked by
    SoTL-E at step ``n_warmup_steps``, the first step the pruner judges, and the demo prints the
    table, the rank agreement of that early score with the final accuracy of the trials trained
    to the end, the epochs saved, whether the best architecture survived pruning and the
    optuna-dashboard command.

    The study is created with ``load_if_exists``: running again with the same name appends
    trials to it, and the ranking covers all of them. Appending is refused when the earlier
    trials were trained differently (another ``epochs`` or ``seed``); pick a new ``study_name``.

    Example:

        .. code-block:: python

            from optuna_sotl.demo import run_demo

            result = run_demo(storage="sqlite:///demo-example.db", n_trials=4, epochs=3)
            best = result.ranking.rows[0]
            print(result.n_pruned, best.score, result.archs[best.number])

    Args:
        storage: A storage URL (``sqlite:///``, ``postgresql://``, ``mysql+pymysql://``,
            ``journal:///``, ``redis://``, ``grpc://``); by default ``optuna-sotl-demo.db`` here.
        study_name: The study to create or append to.
        n_trials: Trials to run in all, split over the workers.
        epochs: Training epochs per trial (one step each, from 0).
        seed: Seeds the train/validation split and the weights (with the trial number); it is
            part of the study's training config, so every host of a shared study uses the same.
        sampler_seed: Seeds the sampler (default ``seed``); worker ``i`` seeds its TPE sampler
            with ``sampler_seed + i``. Hosts that share a study each take their own, or they
            would suggest the same cells.
        workers: Processes that run trials at once on the storage (spawned when more than 1).
        percentile: The pruner's percentile, see :class:`~optuna_sotl.SoTLPruner`.
        n_startup_trials: Complete trials before the pruner starts.
        n_warmup_steps: The first step at which a trial may be pruned.
        interval_steps: Steps between the pruner's checks after the warm-up.
        callbacks: Called as ``callback(study, result)`` once, after the table is printed and
            before the dashboard command, in the calling process.
        show_progress: Show a progress bar over the trials (on stderr).
        file: Where the table goes; standard output by default.
    """
    _require_training_packages()
    n_trials = check_count("n_trials", n_trials, minimum=1)
    epochs = check_count("epochs", epochs, minimum=1)
    seed = check_count("seed", seed)
    sampler_seed = seed if sampler_seed is None else check_count("sampler_seed", sampler_seed)
    workers = check_count("workers", workers, minimum=1)
    if workers > n_trials:
        raise ValueError(
            f"workers cannot exceed n_trials: got workers={workers} for n_trials={n_trials}."
        )
    if not isinstance(storage, str) or not storage:
        raise ValueError(f"storage must be a storage URL, got {storage!r}.")
    if not isinstance(study_name, str) or not study_name:
        raise ValueError(f"study_name must be a non-empty string, got {study_name!r}.")
    callbacks = list(callbacks or [])
    for callback in callbacks:
        if not callable(callback):
            raise TypeError(f"callbacks must be callables, got {callback!r}.")
    pruner_kwargs: dict[str, Any] = {
        "percentile": percentile,
        "n_startup_trials": n_startup_trials,
        "n_warmup_steps": n_warmup_steps,
        "interval_steps": interval_steps,
    }
    SoTLPruner(**pruner_kwargs)  # checks the pruner's arguments before anything is written
    config = TrainingConfig(epochs=epochs, seed=seed)
    file = sys.stdout if file is None else file

    with _optuna_warnings_only():
        study = _open_study(storage, study_name, config)
    specs = [
        WorkerSpec(
            storage=storage,
            study_name=study_name,
            n_trials=n_trials // workers + (index < n_trials % workers),
            sampler_seed=sampler_seed + index,
            pruner_kwargs=pruner_kwargs,
            config=config,
            constant_liar=workers > 1,
        )
        for index in range(workers)
    ]
    with _progress(n_trials, show_progress) as bar, _optuna_warnings_only():
        if workers == 1:
            run_worker(specs[0], callbacks=[lambda _study, _trial: bar.update(1)])
        else:
            _run_worker_processes(study, specs, bar)

    ranking = _rank(study, min(n_warmup_steps, epochs - 1))
    archs = {
        trial.number: trial.user_attrs[ARCH_ATTR]
        for trial in study.get_trials(deepcopy=False)
        if ARCH_ATTR in trial.user_attrs
    }
    result = DemoResult(
        study=study,
        storage=storage,
        ranking=ranking,
        archs=archs,
        table=format_demo_table(ranking, archs, warmup_step=n_warmup_steps),
        dashboard_command=_dashboard_command(storage),
    )
    print(result.table, file=file)
    print(_summary(result, pruner_kwargs, epochs), file=file)
    _save_to_dashboard(study, ranking.step, file)
    for callback in callbacks:
        callback(study, result)
    if result.dashboard_command is not None:
        print(f"\nOpen the study in optuna-dashboard:\n  {result.dashboard_command}", file=file)
    file.flush()
    return result


def _require_training_packages() -> None:
    # Checked before the study is created: without them the first trial would fail.
    for module in ("torch", "sklearn"):
        try:
            __import__(module)
        except ImportError:
            raise ImportError(
                f"the demo trains networks with torch and scikit-learn, and {module} is not "
                "installed: pip install 'optuna-sotl[torch]'."
            ) from None


def _save_to_dashboard(study: optuna.Study, step: int | None, file: TextIO) -> None:
    # A new user's first look at optuna-dashboard should show the SoTL note and figure.
    try:
        from optuna_sotl.dashboard import save_to_dashboard

        save_to_dashboard(study, step=step, estimator=SoTLE(1))
    except ImportError as error:
        print(f"\n(No SoTL note saved for optuna-dashboard: {error})", file=file)
        return
    print("\nSaved the SoTL ranking as the study's note and the figure 'SoTL ranking'.", file=file)


def _rank(study: optuna.Study, step: int) -> Ranking:
    try:
        return rank_study(study, step=step, estimator=SoTLE(1))
    except ValueError:
        # No trial reached the step (every loss went NaN at once): rank where trials got to.
        return rank_study(study, estimator=SoTLE(1))


def _dashboard_command(storage: str) -> str | None:
    scheme = storage.split("://", 1)[0].lower()
    if scheme == "grpc":
        return None
    # optuna-dashboard opens a journal file by its path, not by our journal:// URL.
    target = storage[len("journal://") :] if scheme == "journal" else storage
    return "optuna-dashboard " + shlex.quote(mask_password(target, secrets_of=[storage]))


def _open_study(storage: str, study_name: str, config: TrainingConfig) -> optuna.Study:
    """Create the study, or load it if it was made by the demo with the same training config."""
    try:
        opened = open_demo_storage(storage)
    except ValueError:
        raise  # a malformed URL; the message masks the password
    except RuntimeError as error:  # an RDB that failed; the message names it, masked
        raise ValueError(str(error)) from None
    except Exception as error:  # noqa: BLE001 - drivers put the URL, password too, in messages
        raise _storage_error(storage, error) from None
    try:
        # Some storages (gRPC) connect lazily: creating the study is their first use.
        study = optuna.create_study(
            storage=opened, study_name=study_name, direction="maximize", load_if_exists=True
        )
    except Exception as error:  # noqa: BLE001
        raise _storage_error(storage, error) from None
    stored = study.user_attrs.get(CONFIG_ATTR)
    if stored is None and not study.trials:
        study.set_user_attr(CONFIG_ATTR, config.to_json())
    elif stored != config.to_json() or study.direction != optuna.study.StudyDirection.MAXIMIZE:
        where = mask_password(storage, secrets_of=[storage])
        raise ValueError(
            f"study_name {study_name!r} already exists in {where!r} with trials "
            f"trained differently (demo config {stored}, now {config.to_json()}); choose another "
            "study name or the same settings."
        )
    return study


def _storage_error(storage: str, error: Exception) -> ValueError:
    return ValueError(
        f"cannot open storage {mask_password(storage, secrets_of=[storage])}: "
        f"{type(error).__name__}: {mask_password(str(error), secrets_of=[storage])}"
    )


def _run_worker_processes(
    study: optuna.Study, specs: Sequence[WorkerSpec], bar: tqdm
) -> None:
    # Spawned, not forked: a fork of a process that has started torch or database threads can
    # deadlock, and spawn behaves the same on Linux, macOS and Windows.
    context = multiprocessing.get_context("spawn")
    n_before = len(study.get_trials(deepcopy=False))
    processes = [
        context.Process(target=run_worker_process, args=(spec,), name=f"sotl-demo-worker-{i}")
        for i, spec in enumerate(specs)
    ]
    for process in processes:
        process.start()
    try:
        while any(process.is_alive() for process in processes):
            time.sleep(1.0)
            finished = study.get_trials(deepcopy=False, states=ENDED_STATES)
            bar.update(sum(trial.number >= n_before for trial in finished) - bar.n)
    except BaseException:
        _stop(processes)
        raise
    for process in processes:
        process.join()
    failed = [p for p in processes if p.exitcode != 0]
    if failed:
        raise RuntimeError(
            f"{len(failed)} of {len(processes)} demo workers failed (exit codes "
            f"{[p.exitcode for p in failed]}); see their errors above."
        )


def _stop(processes: Sequence[multiprocessing.process.BaseProcess]) -> None:
    # Ctrl-C in a terminal reaches the workers too, and Optuna then marks their running trials
    # FAIL; a worker that did not get it (the parent alone was interrupted) is sent SIGINT so
    # that it does the same, and killed only if it does not stop.
    for process in processes:
        process.join(timeout=5)
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, signal.SIGINT)
            process.join(timeout=10)
        if process.is_alive():
            process.terminate()
            process.join()


def _summary(result: DemoResult, pruner_kwargs: dict[str, float], epochs: int) -> str:
    rows = result.ranking.rows
    lines = [
        f"{len(rows)} trials in study {result.study.study_name!r}: "
        f"{result.n_complete} complete, {result.n_pruned} pruned."
    ]
    complete = [row for row in rows if row.value is not None]
    if not complete:
        return "\n" + lines[0]
    values = [row.value for row in complete if row.value is not None]
    lines.append(
        f"Final validation accuracy of the {len(complete)} complete trials: "
        f"{min(values):.4f} to {max(values):.4f} ({100 * (max(values) - min(values)):.1f} points)."
    )
    lines.append(_best_sentence(result, pruner_kwargs, epochs))
    if result.n_pruned:
        lines.append(
            "The pruned trials' final accuracies are unknown, so one of them may have done "
            "better; the agreement above says how far the early ranking held for the trials "
            "trained to the end."
        )
    return "\n" + "\n".join(fill(line) for line in lines)


def _best_sentence(result: DemoResult, pruner_kwargs: dict[str, float], epochs: int) -> str:
    """Whether the best complete trial went through pruning, or would have, in plain words."""
    ranking = result.ranking
    best = max(
        (row for row in ranking.rows if row.value is not None),
        key=lambda row: (row.value, -row.number),
    )
    text = (
        f"Best architecture: trial {best.number}, validation accuracy {best.value:.4f} "
        f"({result.archs.get(best.number, '-')})."
    )
    warmup = int(pruner_kwargs["n_warmup_steps"])
    interval = int(pruner_kwargs["interval_steps"])
    n_startup = int(pruner_kwargs["n_startup_trials"])
    percentile = float(pruner_kwargs["percentile"])
    checks = [step for step in range(warmup, epochs) if (step - warmup) % interval == 0]
    trials = {trial.number: trial for trial in result.study.get_trials(deepcopy=False)}
    trial = trials[best.number]
    completed_before = sum(
        other.state == TrialState.COMPLETE
        and other.datetime_complete is not None
        and trial.datetime_start is not None
        and other.datetime_complete <= trial.datetime_start
        for other in trials.values()
    )
    if completed_before >= n_startup and checks:
        steps = ", ".join(str(step) for step in checks)
        plural = "s" * (len(checks) > 1)
        return text + f" The pruner checked it at step{plural} {steps} and kept it."
    # Trained before pruning started: would the pruner have kept it, judged at the ranking step
    # against every other trial that reached that step?
    others = [row.score for row in ranking.rows if row.score is not None and row is not best]
    if best.score is None or not others:
        return text + " It trained before pruning started."
    kept = not PercentileRule(percentile).should_prune(best.score, np.array(others))
    verdict = "pruning would have kept it" if kept else "pruning would have LOST it"
    return text + (
        f" It trained before pruning started (the first {n_startup} complete trials train in "
        f"full); judged at step {ranking.step} against the {len(others)} other trials, its "
        f"{ranking.estimator_name} ranks {best.rank} of {len(others) + 1}: {verdict}."
    )


@contextlib.contextmanager
def _progress(total: int, enabled: bool) -> Iterator[tqdm]:
    with tqdm(total=total, desc="trials", unit="trial", disable=not enabled) as bar:
        yield bar


@contextlib.contextmanager
def _optuna_warnings_only() -> Iterator[None]:
    # Optuna logs a line per trial at INFO, which would break the progress bar; the table at the
    # end says the same.
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)
