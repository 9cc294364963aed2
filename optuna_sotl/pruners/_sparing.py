"""Which trials the pruners spare: never pruned on a finite loss.

Two rules. ``spare_every`` draws about one trial in K from the study's name and the trial's
number, so nothing is stored. ``spare_share`` spares a trial when, at its first decision, the
spared trials have taken less than that share of the epochs reported in the study, so sparing
costs a bounded share of the budget however hard the pruner prunes; the choice depends on what
the study has spent, so it is stored on the trial (as Optuna's successive halving stores its
rungs) and every later decision, on any host, reads it back.
"""

from __future__ import annotations

from collections.abc import Sequence
import zlib

import optuna
from optuna.trial import FrozenTrial

from optuna_sotl.pruners._score_index import read_trials


#: The trial system attribute that holds a ``spare_share`` decision (``True`` or ``False``).
SPARED_ATTR = "optuna_sotl:spared"


def is_spared(study_name: str, number: int, spare_every: int) -> bool:
    """Whether trial ``number`` of the study is spared: about one in ``spare_every`` (0: none).

    A CRC32 of the study's name and the number, as Optuna's Hyperband draws a trial's bracket:
    stable across processes and hosts (Python's own ``hash`` of a string is not).
    """
    return (
        spare_every > 0
        and zlib.crc32(f"spared_{study_name}_{number}".encode()) % spare_every == 0
    )


def spared_by_share(
    study: optuna.study.Study,
    trial: FrozenTrial,
    spare_share: float,
    trials: Sequence[FrozenTrial] | None = None,
) -> bool:
    """Whether ``trial`` is spared under ``spare_share``, decided at its first call and stored.

    Spared when the epochs of spared trials are below ``spare_share`` times every epoch the
    study's trials reported, this trial's own counted. ``trials``: the study's trials if the
    caller has read them (one read per decision), else they are read here.
    """
    stored = trial.system_attrs.get(SPARED_ATTR)
    if stored is not None:
        return bool(stored)
    if trials is None:
        trials = read_trials(study)
    spared_epochs = 0
    epochs = len(trial.intermediate_values)
    for other in trials:
        if other.number == trial.number:
            continue
        n_reported = len(other.intermediate_values)
        epochs += n_reported
        if other.system_attrs.get(SPARED_ATTR):
            spared_epochs += n_reported
    spared = spared_epochs < spare_share * epochs
    study._storage.set_trial_system_attr(trial._trial_id, SPARED_ATTR, spared)
    return spared


def spared_at_decision(
    study: optuna.study.Study, trial: FrozenTrial, spare_every: int, spare_share: float
) -> tuple[bool, list[FrozenTrial] | None]:
    """Whether a pruner sparing by ``spare_every`` or ``spare_share`` spares ``trial``, and the
    study's trials if deciding read them (so that the comparison reuses that read).

    Pruners call it first at every decision, before anything can return, so that every trial
    that reports is counted in the share.
    """
    trials = None
    if spare_share and SPARED_ATTR not in trial.system_attrs:
        trials = read_trials(study)
    spared = is_spared(study.study_name, trial.number, spare_every) or (
        spare_share > 0 and spared_by_share(study, trial, spare_share, trials)
    )
    return spared, trials


class SpareShareCounter:
    """The replay's mirror of :func:`spared_by_share` for a sequential study: the same counts
    kept as trials start and stop instead of read from storage."""

    def __init__(self, spare_share: float) -> None:
        self._share = spare_share
        self._epochs = self._spared_epochs = 0

    def begin(self) -> bool:
        """Whether the trial starting now is spared (its first reported epoch counted)."""
        self._spared = self._spared_epochs < self._share * (self._epochs + 1)
        return self._spared

    def end(self, n_reported: int) -> None:
        self._epochs += n_reported
        self._spared_epochs += n_reported if self._spared else 0
