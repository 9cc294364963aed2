"""Fail a study's RUNNING trials that outlived their workers, and re-queue them.

Optuna's heartbeat (``RDBStorage(heartbeat_interval=...)``) does this on RDB storages only. On a
journal file, a Redis journal or the gRPC proxy a killed worker's trial stays RUNNING for good:
no sampler or pruner ever sees it finish, and a study that counts its trials never gets there.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import math
import numbers

import optuna
import optuna.storages
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_sotl._checks import check_optional_count


# Optuna 5 named it RetryHeartbeatStaleTrialCallback; 4.x (which we support) has only the old name.
RetryHeartbeatStaleTrialCallback = getattr(
    optuna.storages, "RetryHeartbeatStaleTrialCallback", optuna.storages.RetryFailedTrialCallback
)


@dataclasses.dataclass(frozen=True)
class StaleTrial:
    """A RUNNING trial older than the bound, and what was done with it.

    Attributes:
        number: The trial's number.
        age_seconds: Seconds since it started.
        n_epochs: Intermediate values (epochs) it stored.
        failed: Whether it was marked FAIL (False on a dry run, or when it finished meanwhile).
        retried_as: The number of its WAITING copy, if it was re-queued.
    """

    number: int
    age_seconds: float
    n_epochs: int
    failed: bool = False
    retried_as: int | None = None


def find_stale_trials(study: optuna.Study, *, older_than: float) -> list[FrozenTrial]:
    """The study's RUNNING trials that started at least ``older_than`` seconds ago."""
    _check_study(study)
    older_than = _check_age(older_than)
    now = datetime.datetime.now()  # Optuna stores naive local times
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    return [trial for trial in running if _age(now, trial) >= older_than]


def fail_stale_trials(
    study: optuna.Study,
    *,
    older_than: float,
    retry: bool = False,
    max_retry: int | None = None,
) -> list[StaleTrial]:
    """Mark FAIL the RUNNING trials that started at least ``older_than`` seconds ago.

    With ``retry=True`` each is re-queued as a WAITING trial with its parameters, user
    attributes and stored epochs, exactly as
    ``RetryHeartbeatStaleTrialCallback(max_retry, inherit_intermediate_values=True)`` does on a
    heartbeat storage; :class:`~optuna_sotl.SoTLReporter` resumes it at its first missing epoch.

    Without a heartbeat, age is all there is to go on: a trial still being trained is failed too
    when it is older than the bound (its worker's next report then fails). Choose ``older_than``
    above your longest trial's duration, and keep the hosts' clocks in sync.

    Example:

        .. code-block:: python

            import optuna
            from optuna_sotl import fail_stale_trials

            study = optuna.create_study()  # in practice optuna.load_study(..., storage=URL)
            study.ask()  # a trial whose worker was killed: RUNNING for good
            # In practice a bound above the longest trial's duration, e.g. 6 * 3600.
            for stale in fail_stale_trials(study, older_than=0, retry=True):
                print(stale.number, "->", stale.retried_as)

    Args:
        study: The study whose trials to check.
        older_than: Seconds since a trial started beyond which a RUNNING trial is stale.
        retry: Re-queue each failed trial.
        max_retry: With ``retry``, re-queue a trial at most this many times in all (None: no
            limit), as Optuna's callback counts them.

    Returns:
        The stale trials found, in trial order, with what was done to each.
    """
    _check_study(study)
    if not isinstance(retry, bool):
        raise TypeError(f"retry must be a bool, got {retry!r}.")
    max_retry = check_optional_count("max_retry", max_retry)
    stale = find_stale_trials(study, older_than=older_than)
    callback = RetryHeartbeatStaleTrialCallback(
        max_retry=max_retry, inherit_intermediate_values=True
    )
    now = datetime.datetime.now()
    results = []
    for trial in stale:
        failed = _fail(study, trial)
        retried_as = None
        if failed and retry:
            # A copy: the callback appends to the trial's retry history in place, and a journal
            # storage hands out its cached trial, whose history would then change under it.
            callback(study, copy.deepcopy(study._storage.get_trial(trial._trial_id)))
            retried_as = _retry_of(study, trial.number)
        results.append(
            StaleTrial(
                number=trial.number,
                age_seconds=_age(now, trial),
                n_epochs=len(trial.intermediate_values),
                failed=failed,
                retried_as=retried_as,
            )
        )
    return results


def _age(now: datetime.datetime, trial: FrozenTrial) -> float:
    # A RUNNING trial always has a start time; without one it cannot be judged stale.
    if trial.datetime_start is None:
        return -math.inf
    return (now - trial.datetime_start).total_seconds()


def _fail(study: optuna.Study, trial: FrozenTrial) -> bool:
    try:
        return bool(study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL))
    except optuna.exceptions.UpdateFinishedTrialError:
        return False  # it finished between the look-up and now: not stale after all


def _retry_of(study: optuna.Study, number: int) -> int | None:
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    copies = [
        trial.number
        for trial in waiting
        if RetryHeartbeatStaleTrialCallback.retry_history(trial)[-1:] == [number]
    ]
    return max(copies) if copies else None  # None: max_retry reached


def _check_study(study: object) -> None:
    if not isinstance(study, optuna.Study):
        raise TypeError(f"study must be an optuna.Study, got {type(study).__name__}.")


def _check_age(older_than: object) -> float:
    if isinstance(older_than, bool) or not isinstance(older_than, numbers.Real):
        raise TypeError(f"older_than must be a number of seconds, got {older_than!r}.")
    seconds = float(older_than)
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"older_than must be finite and not negative, got {older_than}.")
    return seconds
