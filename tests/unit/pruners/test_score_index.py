"""The pruners' score index: a warm index decides as a fresh pruner and a direct read do."""

from __future__ import annotations

import copy
import pickle
import random

import numpy as np
import optuna
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import pytest

from optuna_sotl import SelfCalibratingEstimator
from optuna_sotl import SoTL
from optuna_sotl import SoTLE
from optuna_sotl import SoTLHyperbandPruner
from optuna_sotl import SoTLPruner
from optuna_sotl import SoTLSuccessiveHalvingPruner
from optuna_sotl._attrs import VAL_METRIC_CURVE
from optuna_sotl._scoring import COMPARED_STATES
from optuna_sotl._scoring import score_at_step
from optuna_sotl._scoring import scores_of_trials
from optuna_sotl.pruners._successive_halving import is_promoted
from optuna_sotl.rules import PercentileRule


def reference_sotl(pruner: SoTLPruner, study: optuna.Study, trial: FrozenTrial) -> bool:
    """SoTLPruner's decision from one plain read of the storage, as before the index."""
    step = trial.last_step
    assert step is not None and step >= pruner._n_warmup_steps and pruner._interval_steps == 1
    if not np.isfinite(trial.intermediate_values[step]):
        return True
    trials = study.get_trials(deepcopy=False, states=COMPARED_STATES)
    if sum(t.state == TrialState.COMPLETE for t in trials) < pruner._n_startup_trials:
        return False
    others = [t for t in trials if step in t.intermediate_values and t.number != trial.number]
    if len(others) < pruner._n_min_trials:
        return False
    scores = scores_of_trials(pruner.estimator, [trial, *others], step, study.direction)
    return PercentileRule(pruner.percentile).should_prune(scores[0], scores[1:])


def reference_asha(
    pruner: SoTLSuccessiveHalvingPruner, study: optuna.Study, trial: FrozenTrial
) -> bool:
    """SoTLSuccessiveHalvingPruner's decision from one plain read of the storage."""
    step = trial.last_step
    assert step is not None
    if not np.isfinite(trial.intermediate_values[step]):
        return True
    if pruner._rung_of_step(step) is None:
        return False
    members = [
        t
        for t in study.get_trials(deepcopy=False, states=COMPARED_STATES)
        if t.number != trial.number and step in t.intermediate_values
    ]
    scores = scores_of_trials(pruner.estimator, [trial, *members], step, study.direction)
    if not np.isfinite(scores[0]):
        return True
    return not is_promoted(float(scores[0]), scores[1:], pruner._reduction_factor, 0)


def make_pruners(kind: str) -> tuple[object, object]:
    if kind == "asha":
        return SoTLSuccessiveHalvingPruner(min_resource=1, reduction_factor=2), reference_asha
    estimator = {
        "sotl-e": None,
        "sotl": SoTL(),
        "self-calibrating": SelfCalibratingEstimator(min_calibration_trials=3),
    }[kind]
    return SoTLPruner(n_startup_trials=2, estimator=estimator, spare_share=0.0), reference_sotl


def fresh_copy(pruner: object) -> object:
    # A pruner as a newly spawned worker gets it: unpickled, its index empty.
    return pickle.loads(pickle.dumps(pruner))


def test_a_warm_index_decides_as_a_fresh_pruner_over_interleaved_workers(make_study) -> None:
    """Five "workers" report in random order; trials complete, get pruned or fail meanwhile.

    At every report the long-lived pruner, a copy with an empty index (a newly spawned worker)
    and one plain read of the storage (the pruners before the index) must agree.
    """
    for kind in ("sotl-e", "sotl", "self-calibrating", "asha"):
        warm, reference = make_pruners(kind)
        study = make_study(direction="maximize")
        rng = random.Random(kind)
        workers: list[optuna.Trial] = []
        n_started, n_decisions, n_pruned = 0, 0, 0
        while n_started < 16 or workers:
            while n_started < 16 and len(workers) < 5:
                workers.append(study.ask())
                n_started += 1
            trial = rng.choice(workers)
            step = len(trial.storage.get_trial(trial._trial_id).intermediate_values)
            trial.report(rng.uniform(0.5, 2.0) / (step + 1) ** 0.5, step)
            trial.set_user_attr(VAL_METRIC_CURVE, [rng.uniform(0.0, 1.0)] * (step + 1))
            frozen = study._storage.get_trial(trial._trial_id)
            decision = warm.prune(study, frozen)
            fresh = fresh_copy(warm).prune(study, frozen)
            assert decision == fresh == reference(warm, study, frozen), (kind, frozen.number)
            n_decisions += 1
            ending = rng.random()
            state = None
            if decision:
                state = TrialState.PRUNED
            elif step == 6 or ending < 0.05:
                state = TrialState.COMPLETE
            elif ending < 0.12:
                state = TrialState.FAIL
            if state is not None:
                value = rng.uniform(0.0, 1.0) if state == TrialState.COMPLETE else None
                study.tell(trial, value, state=state)
                workers.remove(trial)
                n_pruned += state == TrialState.PRUNED
        assert n_decisions > 30 and n_pruned > 0, kind  # the comparison judged something


COMPLETED_LOSSES = (
    [2.2, 1.6, 1.3],
    [2.1, 1.4, 1.1],
    [2.0, 1.2, 1.0],
    [1.9, 1.1, 0.9],
    [1.8, 1.0, 0.7],
)


@pytest.mark.parametrize("end", [TrialState.FAIL, TrialState.PRUNED, TrialState.COMPLETE])
def test_a_warm_index_follows_a_running_trial_that_ends(make_study, end: TrialState) -> None:
    pruner = SoTLPruner(n_startup_trials=5, estimator=SoTLE(1), spare_share=0.0)
    study = make_study()
    for losses in COMPLETED_LOSSES:
        study.add_trial(
            optuna.create_trial(value=1.0, intermediate_values=dict(enumerate(losses)))
        )

    def judged() -> FrozenTrial:
        # At the others' median, 1.0: kept unless a better trial joins them.
        trial = study.ask()
        for step, loss in enumerate([2.0, 1.5, 1.0]):
            trial.report(loss, step)
        frozen = study._storage.get_trial(trial._trial_id)
        study.tell(trial, state=TrialState.FAIL)
        return frozen

    assert not pruner.prune(study, judged())
    better = study.ask()
    for step, loss in enumerate([1.5, 0.5, 0.1]):
        better.report(loss, step)
    assert pruner.prune(study, judged())  # the running better trial counts
    study.tell(better, 0.1 if end == TrialState.COMPLETE else None, state=end)
    trial = judged()
    decision = pruner.prune(study, trial)
    fresh = SoTLPruner(n_startup_trials=5, estimator=SoTLE(1), spare_share=0.0)
    assert decision == fresh.prune(study, trial)
    # A failed trial leaves the comparison; a pruned or complete one stays in it.
    assert decision == (end != TrialState.FAIL)


def test_pruners_pickle_and_copy_with_an_empty_index(make_study) -> None:
    study = make_study()
    study.add_trial(optuna.create_trial(value=1.0, intermediate_values={0: 1.0, 1: 0.5}))
    hyperband = SoTLHyperbandPruner(1, 9, 3)
    for pruner in (SoTLPruner(n_startup_trials=1), SoTLSuccessiveHalvingPruner(1), hyperband):
        trial = study.ask()
        trial.report(2.0, 0)
        frozen = study._storage.get_trial(trial._trial_id)
        decision = pruner.prune(study, frozen)
        for clone in (pickle.loads(pickle.dumps(pruner)), copy.deepcopy(pruner)):
            assert repr(clone) == repr(pruner)
            assert clone.prune(study, frozen) == decision
        study.tell(trial, state=TrialState.FAIL)


def test_a_score_is_the_same_bit_for_bit_alone_or_in_any_batch() -> None:
    """The index scores trials in batches of whatever is new: batches must not matter."""
    rng = np.random.default_rng(0)
    trials = [
        optuna.create_trial(
            value=0.0, intermediate_values={s: float(v) for s, v in enumerate(rng.random(60))}
        )
        for _ in range(40)
    ]
    for estimator in (SoTL(), SoTLE(5)):
        together = score_at_step(estimator, trials, 59)
        alone = [score_at_step(estimator, [trial], 59)[0] for trial in trials]
        assert together.tolist() == alone
