from __future__ import annotations

import math

import numpy as np
import optuna
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import pytest

from optuna_sotl import SoTLSuccessiveHalvingPruner
from optuna_sotl.estimators import SoTL
from optuna_sotl.estimators import SoTLE
from optuna_sotl.estimators import SoVL
from optuna_sotl.pruners._sparing import SPARED_ATTR
from tests import _lockstep


def _losses_until(step: int, value_at_rung: float, rung_step: int) -> dict[int, float]:
    # A falling loss curve that passes through value_at_rung at rung_step.
    return {s: value_at_rung + 0.1 * (rung_step - s) for s in range(step + 1)}


def _stored(state: TrialState, losses: dict[int, float]) -> FrozenTrial:
    value = min(losses.values()) if state == TrialState.COMPLETE else None
    return optuna.create_trial(state=state, value=value, intermediate_values=losses)


def _candidate(number: int, losses: dict[int, float]) -> FrozenTrial:
    trial = optuna.create_trial(state=TrialState.RUNNING, intermediate_values=losses)
    trial.number = number
    return trial


def _random_curves(seed: int, n_trials: int, n_steps: int) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    start = rng.uniform(2.0, 3.0, size=(n_trials, 1))
    steps = rng.uniform(-0.3, 0.05, size=(n_trials, n_steps))
    return (start + np.cumsum(steps, axis=1)).tolist()


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"min_resource": "max"}, ValueError, "min_resource"),
        ({"min_resource": 0}, ValueError, "min_resource=0"),
        ({"min_resource": 1.5}, TypeError, "min_resource"),
        ({"min_resource": True}, TypeError, "min_resource"),
        ({"reduction_factor": 1}, ValueError, "reduction_factor=1"),
        ({"reduction_factor": 2.0}, TypeError, "reduction_factor"),
        ({"min_early_stopping_rate": -1}, ValueError, "min_early_stopping_rate=-1"),
        ({"bootstrap_count": -2}, ValueError, "bootstrap_count=-2"),
        ({"bootstrap_count": 2}, ValueError, "bootstrap_count=2"),  # with min_resource="auto"
        ({"min_resource": 1, "estimator": "SoTLE"}, TypeError, "estimator"),
        ({"min_resource": 1, "estimator": SoVL()}, ValueError, "val_loss"),
        ({"spare_share": 1.0}, ValueError, "spare_share=1.0"),
        ({"spare_share": -0.5}, ValueError, "spare_share=-0.5"),
        ({"spare_share": "0.2"}, TypeError, "spare_share"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, error, words) -> None:
    with pytest.raises(error, match=words):
        SoTLSuccessiveHalvingPruner(**kwargs)


def test_rung_steps_follow_optunas_formula() -> None:
    pruner = SoTLSuccessiveHalvingPruner(
        min_resource=2, reduction_factor=3, min_early_stopping_rate=1
    )
    assert [pruner.rung_step(k) for k in range(3)] == [6, 18, 54]
    assert SoTLSuccessiveHalvingPruner().rung_step(0) is None  # "auto" is not known yet
    rungs = {step: pruner._rung_of_step(step) for step in range(60)}
    assert {step for step, rung in rungs.items() if rung is not None} == {6, 18, 54}


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_rungs_promote_and_prune_by_loss_in_either_direction(make_study, direction) -> None:
    # eta = 2, rungs at steps 1, 2, 4, 8. Step 1 holds ten other trials: eight complete ones with
    # losses 1..8 there, one pruned there (0.5) and one pruned at step 2 (0.3 at step 1). A failed
    # trial (0.1 at step 1) and a trial that stopped at step 0 are no members: counting either
    # would let a twelfth member in and promote the 3.1 below. Step 4 holds the eight complete
    # trials only, with losses 1..8 there.
    study = make_study(direction=direction)
    for loss in range(1, 9):
        study.add_trial(_stored(TrialState.COMPLETE, _losses_until(9, loss, 1) | {4: float(loss)}))
    study.add_trial(_stored(TrialState.PRUNED, _losses_until(1, 0.5, 1)))
    study.add_trial(_stored(TrialState.FAIL, _losses_until(1, 0.1, 1)))
    study.add_trial(_stored(TrialState.COMPLETE, {0: 0.01}))
    study.add_trial(_stored(TrialState.PRUNED, _losses_until(2, 0.2, 2)))
    pruner = SoTLSuccessiveHalvingPruner(min_resource=1, reduction_factor=2)

    def decide(losses: dict[int, float]) -> bool:
        return pruner.prune(study, _candidate(100, losses))

    # Eleven members with the candidate: the best five go on.
    assert not decide(_losses_until(1, 2.9, 1))  # 5th: promoted
    assert not decide(_losses_until(1, 3.0, 1))  # ties the 5th: promoted
    assert decide(_losses_until(1, 3.1, 1))  # 6th: pruned
    assert decide(_losses_until(1, math.nan, 1))
    assert decide(_losses_until(1, math.inf, 1))
    # Step 3 is no rung: even the worst loss goes on; a non-finite loss prunes at any step.
    assert not decide(_losses_until(3, 100.0, 3))
    assert decide(_losses_until(0, math.nan, 0))
    # Nine members at step 4 with the candidate: the best four go on.
    assert not decide(_losses_until(4, 4.0, 4))
    assert decide(_losses_until(4, 4.5, 4))
    # A stored trial is judged the same way: the 0.5 ranks 2nd of ten at step 1.
    assert not pruner.prune(study, study.trials[8])


def test_first_trials_at_a_rung_go_on_only_when_best_so_far() -> None:
    study = optuna.create_study()
    study.add_trial(_stored(TrialState.COMPLETE, {0: 3.0, 1: 2.0, 2: 1.0}))
    pruner = SoTLSuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    # Two members, fewer than eta = 3: only a new best is promoted, ties included.
    assert not pruner.prune(study, _candidate(5, {0: 3.0, 1: 2.0}))
    assert not pruner.prune(study, _candidate(5, {0: 3.0, 1: 1.5}))
    assert pruner.prune(study, _candidate(5, {0: 3.0, 1: 2.5}))
    # The first trial to reach a rung is always promoted.
    assert not pruner.prune(study, _candidate(5, {0: 3.0, 1: 2.0, 2: 1.5, 3: 1.4}))


def test_bootstrap_count_prunes_until_the_rung_is_full() -> None:
    pruner = SoTLSuccessiveHalvingPruner(min_resource=1, reduction_factor=2, bootstrap_count=2)
    study = optuna.create_study()
    assert pruner.prune(study, _candidate(0, {0: 1.0, 1: 0.1}))  # one member: pruned
    study.add_trial(_stored(TrialState.PRUNED, {0: 1.0, 1: 0.9}))
    assert pruner.prune(study, _candidate(1, {0: 1.0, 1: 0.1}))  # two: still pruned
    study.add_trial(_stored(TrialState.PRUNED, {0: 1.0, 1: 0.8}))
    assert not pruner.prune(study, _candidate(2, {0: 1.0, 1: 0.1}))  # three: the best goes on


def test_estimator_decides_the_ranking() -> None:
    # At step 1 the candidate has the lower last loss but the higher sum of losses.
    study = optuna.create_study()
    study.add_trial(_stored(TrialState.COMPLETE, {0: 1.0, 1: 0.9, 2: 0.5}))
    candidate = _candidate(5, {0: 5.0, 1: 0.8})
    assert not SoTLSuccessiveHalvingPruner(1, 3).prune(study, candidate)
    assert SoTLSuccessiveHalvingPruner(1, 3, estimator=SoTL()).prune(study, candidate)
    assert SoTLSuccessiveHalvingPruner(1, 3, estimator=SoTLE(2)).prune(study, candidate)


def test_auto_min_resource_waits_for_a_complete_trial() -> None:
    pruner = SoTLSuccessiveHalvingPruner(reduction_factor=2)
    study = optuna.create_study()
    study.add_trial(_stored(TrialState.PRUNED, {0: 1.0, 1: 0.5}))
    assert not pruner.prune(study, _candidate(5, {0: 1.0, 1: 9.0}))  # no complete trial yet
    assert pruner.prune(study, _candidate(5, {0: math.nan}))  # NaN prunes regardless
    study.add_trial(_stored(TrialState.COMPLETE, {s: 1.0 - s / 1000 for s in range(300)}))
    assert pruner.prune(study, _candidate(5, {0: 1.0, 1: 2.0, 2: 3.0}))  # rung at step 2
    assert pruner.rung_step(0) == 2  # 299 // 100


@pytest.mark.parametrize("params", [
    {"min_resource": 1, "reduction_factor": 2},
    {"min_resource": 2, "reduction_factor": 3, "min_early_stopping_rate": 1},
    {"min_resource": 1, "reduction_factor": 3, "bootstrap_count": 2},
])
def test_same_decisions_as_optuna_on_losses_in_a_minimize_study(params) -> None:
    # On a minimize study fed training losses, Optuna's pruner ranks the right way round and
    # SoTL-E(1) is the raw loss, so the two must agree trial by trial; in a maximize study Optuna
    # keeps the worst trials, and ours still makes the minimize decisions.
    curves = _random_curves(0, 40, 12)
    ours = _lockstep.run_sequentially(curves, "sha", params, "s", "maximize")
    reference = optuna.create_study(
        study_name="s", pruner=optuna.pruners.SuccessiveHalvingPruner(**params)
    )
    reference.optimize(_lockstep.lockstep_objective(curves, wait=False), n_trials=len(curves))
    assert ours == _lockstep.outcomes(reference)
    wrong_way = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.SuccessiveHalvingPruner(**params)
    )
    wrong_way.optimize(_lockstep.lockstep_objective(curves, wait=False), n_trials=len(curves))
    assert _lockstep.outcomes(wrong_way) != ours


def test_optimize_on_every_storage(make_study) -> None:
    # Through trial.report / should_prune on the storage: pruned at several rungs, some complete,
    # and the decisions of the in-memory run.
    curves = _random_curves(1, 10, 9)
    params = {"min_resource": 1, "reduction_factor": 2}
    study = make_study(direction="maximize", pruner=SoTLSuccessiveHalvingPruner(**params))
    study.optimize(_lockstep.lockstep_objective(curves, wait=False), n_trials=len(curves))
    got = _lockstep.outcomes(study)
    assert got == _lockstep.run_sequentially(curves, "sha", params, study.study_name)
    assert {step for state, step in got.values() if state == "PRUNED"} >= {1, 2}
    assert any(state == "COMPLETE" for state, _ in got.values())


def test_spare_share_spares_trials_on_every_storage(make_study) -> None:
    # Rungs at steps 1 and 2 (eta 2). Four complete trials of three good epochs (12 epochs, none
    # spared), then six trials with worse losses at every step: pruned at a rung unless spared
    # (the last at step 2), and a spared one trains its three epochs. A trial is spared while
    # the spared epochs are below 0.3 * (epochs so far + its first): 0 < 3.9, 3 < 4.8,
    # not 6 < 5.7, 6 < 6.3, not 9 < 7.2, not 9 < 8.1.
    pruner = SoTLSuccessiveHalvingPruner(min_resource=1, reduction_factor=2, spare_share=0.3)
    study = make_study(direction="maximize", pruner=pruner)
    for k in range(4):
        study.add_trial(_stored(TrialState.COMPLETE, {0: 1.0 + k, 1: 0.9 + k, 2: 0.8 + k}))
    spared = []
    for _ in range(6):
        trial = study.ask()
        pruned = False
        for step, loss in enumerate([9.0, 8.9, 8.8]):
            trial.report(loss, step)
            pruned = trial.should_prune()
            if pruned:
                break
        spared.append(study.get_trials()[-1].system_attrs[SPARED_ATTR])
        # Spared trials train to the end; the others are the worst at a rung.
        assert pruned is not spared[-1]
        study.tell(trial, None if pruned else 0.5,
                   state=TrialState.PRUNED if pruned else TrialState.COMPLETE)
    assert spared == [True, True, False, True, False, False]
    assert [t.system_attrs.get(SPARED_ATTR) for t in study.get_trials()[:4]] == [None] * 4
    assert "spare_share=0.3" in repr(pruner) and pruner.spare_share == 0.3


def test_spare_share_counts_trials_before_auto_knows_the_first_rung() -> None:
    # "auto" prunes nothing before a trial completes; those trials still take epochs, so the
    # share is decided for them too, and a non-finite loss prunes a spared trial. Without a
    # share nothing is stored.
    for share, stored in ((0.9, True), (0.0, None)):
        study = optuna.create_study(
            pruner=SoTLSuccessiveHalvingPruner(reduction_factor=2, spare_share=share)
        )
        trial = study.ask()
        trial.report(1.0, 0)
        assert not trial.should_prune()
        trial = study.ask()
        trial.report(math.nan, 0)
        assert trial.should_prune()
        # The second: 1 spared epoch < 0.9 * 2.
        assert [t.system_attrs.get(SPARED_ATTR) for t in study.get_trials()] == [stored] * 2
