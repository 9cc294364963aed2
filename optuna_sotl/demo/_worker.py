"""One demo worker: loads the shared study and runs its share of the trials.

The demo runs this in its own process (``workers=1``) or in spawned processes (``workers > 1``),
so everything a worker needs travels in a picklable :class:`WorkerSpec`.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
import sys
import traceback
from typing import Any
import warnings

import optuna

from optuna_sotl import SoTLPruner
from optuna_sotl._storage_url import mask_password
from optuna_sotl._storage_url import open_storage
from optuna_sotl.demo._config import TrainingConfig


# The demo's networks are tiny (tens of thousands of weights on 8x8 images). On this project's
# shared 2-core machine one intra-op thread per process trained the same trials 2x faster than
# two threads with other jobs running lightly, and 7-9x faster with them busy: such small kernels
# gain nothing from threads, which then wait for each other. Workers are the way to use cores.
TORCH_THREADS = 1


@dataclass(frozen=True)
class WorkerSpec:
    storage: str
    study_name: str
    n_trials: int
    sampler_seed: int
    pruner_kwargs: dict[str, Any]
    config: TrainingConfig
    constant_liar: bool = False


def open_demo_storage(url: str) -> optuna.storages.BaseStorage:
    """The storage ``url`` names (see :mod:`optuna_sotl._storage_url`).

    SQLite waits up to a minute for a lock another worker holds instead of the driver's 5 s.
    """
    with warnings.catch_warnings():
        # The journal backends are "experimental" in Optuna; the user chose one knowingly.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if url.split("://", 1)[0].lower() == "sqlite":
            return open_storage(url, engine_kwargs={"connect_args": {"timeout": 60}})
        return open_storage(url)


def run_worker(
    spec: WorkerSpec,
    callbacks: Sequence[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]] = (),
) -> None:
    """Run ``spec.n_trials`` trials of the study; ``callbacks`` go to ``study.optimize``."""
    # Imported here: the objective imports torch, which a parent process that only starts
    # workers never needs.
    import torch

    from optuna_sotl.demo._training import make_objective

    threads = torch.get_num_threads()
    torch.set_num_threads(TORCH_THREADS)
    try:
        study = optuna.load_study(
            study_name=spec.study_name,
            storage=open_demo_storage(spec.storage),
            sampler=optuna.samplers.TPESampler(
                seed=spec.sampler_seed, constant_liar=spec.constant_liar
            ),
            pruner=SoTLPruner(**spec.pruner_kwargs),
        )
        study.optimize(make_objective(spec.config), n_trials=spec.n_trials, callbacks=callbacks)
    finally:
        torch.set_num_threads(threads)


def run_worker_process(spec: WorkerSpec) -> None:
    """The entry point of a spawned worker process: quiet logs, then :func:`run_worker`."""
    # The parent shows one progress bar for all workers; per-trial log lines would break it.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        run_worker(spec)
    except KeyboardInterrupt:
        # Optuna has marked the interrupted trial FAIL; the parent reports the interruption once
        # instead of a traceback per worker.
        sys.exit(130)
    except Exception:
        # Database drivers put the storage URL, password included, into their messages.
        masked = mask_password(traceback.format_exc(), secrets_of=[spec.storage])
        print(masked, file=sys.stderr, flush=True)
        sys.exit(1)
