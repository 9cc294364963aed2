"""A trial carried to another process: pickled with its study (storage, pruner), never in memory.

Spawned ranks (``ddp_spawn``) receive the callback, and with it the trial, by pickle; ranks that
Lightning's ``ddp`` strategy re-launches as new scripts read it from an environment variable set
by the launching process. Either way the other process opens the same storage, so the storage must
be one that several processes can share (not :class:`optuna.storages.InMemoryStorage`).
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
    check_shared_storage(trial)
    return base64.b64encode(pickle.dumps(trial)).decode("ascii")


def decode(text: str) -> optuna.trial.Trial:
    # The text comes from our own parent process (an environment variable it set for us).
    trial = pickle.loads(base64.b64decode(text.encode("ascii")))
    if not isinstance(trial, optuna.trial.Trial):
        raise TypeError(f"{TRIAL_ENV} holds a {type(trial).__name__}, not a trial.")
    return trial


def export(trial: optuna.trial.Trial) -> None:
    """Put the trial in the environment that ranks launched from here will inherit."""
    try:
        os.environ[TRIAL_ENV] = encode(trial)
    except (ValueError, pickle.PicklingError, TypeError, AttributeError):
        # Not every study can travel (in-memory storage, an unpicklable sampler): single-process
        # training does not need it, and a re-launched rank says so when it finds nothing.
        os.environ.pop(TRIAL_ENV, None)
