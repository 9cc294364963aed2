"""A trial carried to another process, which opens the same storage (never an in-memory one).

Spawned ranks (``ddp_spawn``) receive the callback, and with it the trial (its study, storage and
pruner), by pickle; ranks that Lightning's ``ddp`` strategy re-launches as new scripts read a
reference to it (storage, study name, trial id) from an environment variable set by the launching
process, or from rank 0's broadcast. Either way the storage must be one that several processes
can share (not :class:`optuna.storages.InMemoryStorage`).
"""

from __future__ import annotations

import base64
import os
import pickle

import optuna


# Set by the launching process (rank 0), inherited by the ranks Lightning's ddp re-launches.
TRIAL_ENV = "OPTUNA_SOTL_TRIAL"


def check_shared_storage(trial: optuna.trial.Trial) -> None:
    storage = trial.storage
    backend = getattr(storage, "_backend", storage)
    if isinstance(backend, optuna.storages.InMemoryStorage):
        raise ValueError(
            "the trial's study is in memory, which other processes cannot reach: multi-process "
            "training (ddp, ddp_spawn) needs a storage such as sqlite:///study.db or PostgreSQL."
        )


def encode(trial: optuna.trial.Trial) -> str:
    """The storage, study name and trial id: enough to read the trial's parameters elsewhere.

    Not the sampler nor the pruner (those ranks never sample nor prune), so the text stays small
    whatever state they hold; an environment variable is copied into every child process.
    """
    check_shared_storage(trial)
    backend = getattr(trial.storage, "_backend", trial.storage)
    reference = (backend, trial.study.study_name, trial._trial_id)
    return base64.b64encode(pickle.dumps(reference)).decode("ascii")


def decode(text: str) -> optuna.trial.Trial:
    # The text comes from our own parent process (an environment variable it set for us).
    storage, study_name, trial_id = pickle.loads(base64.b64decode(text.encode("ascii")))
    study = optuna.load_study(
        study_name=study_name, storage=storage, sampler=optuna.samplers.RandomSampler()
    )
    return optuna.trial.Trial(study, trial_id)


def export(trial: optuna.trial.Trial) -> None:
    """Put the trial in the environment that ranks launched from here will inherit."""
    try:
        os.environ[TRIAL_ENV] = encode(trial)
    except (ValueError, pickle.PicklingError, TypeError, AttributeError):
        # Not every study can travel (in-memory storage, an unpicklable sampler): single-process
        # training does not need it, and a re-launched rank says so when it finds nothing.
        os.environ.pop(TRIAL_ENV, None)
