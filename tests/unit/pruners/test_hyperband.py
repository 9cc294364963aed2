from __future__ import annotations

import math

import numpy as np
import optuna
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import pytest

from optuna_sotl import SoTLHyperbandPruner
from optuna_sotl import SoTLSampler
from optuna_sotl import SoTLSuccessiveHalvingPruner
from optuna_sotl.estimators import SoVL
from optuna_sotl.pruners._bracket_study import BracketStudy
from optuna_sotl.pruners._sparing import SPARED_ATTR
from tests import _lockstep


def _candidate(number: int, losses: list[float]) -> FrozenTrial:
    trial = optuna.create_trial(
        state=TrialState.RUNNING, intermediate_values=dict(enumerate(losses))
    )
    trial.number = number
    return trial


def _curves(seed: int, n_trials: int, n_steps: int) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    start = rng.uniform(2.0, 3.0, size=(n_trials, 1))
    return (start + np.cumsum(rng.uniform(-0.3, 0.05, size=(n_trials, n_steps)), axis=1)).tolist()


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"min_resource": 0}, ValueError, "min_resource=0"),
        ({"min_resource": "auto"}, TypeError, "min_resource"),
        ({"max_resource": "max"}, ValueError, "max_resource='max'"),
        ({"max_resource": 2.5}, TypeError, "max_resource"),
        ({"min_resource": 4, "max_resource": 3}, ValueError, "max_resource=3"),
        ({"reduction_factor": 1}, ValueError, "reduction_factor=1"),
        ({"bootstrap_count": -1}, ValueError, "bootstrap_count=-1"),
        ({"bootstrap_count": 1}, ValueError, "bootstrap_count=1"),  # with max_resource="auto"
        ({"estimator": 3}, TypeError, "estimator"),
        ({"estimator": SoVL()}, ValueError, "val_loss"),
        ({"spare_share": 1.0}, ValueError, "spare_share=1.0"),
        ({"spare_share": -0.5}, ValueError, "spare_share=-0.5"),
        ({"spare_share": "0.2"}, TypeError, "spare_share"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, error, words) -> None:
    with pytest.raises(error, match=words):
        SoTLHyperbandPruner(**kwargs)


@pytest.mark.parametrize("resources", [(1, 27, 3), (1, 20, 2), (2, 81, 3), (1, 100, 4), (3, 3, 3)])
def test_brackets_are_optunas(resources) -> None:
    # Same number of brackets and same bracket for every trial as Optuna's HyperbandPruner, so
    # that the two can be compared trial by trial.
    min_resource, max_resource, eta = resources
    study = optuna.create_study(study_name=f"brackets-{resources}")
    ours = SoTLHyperbandPruner(min_resource, max_resource, eta)
    theirs = optuna.pruners.HyperbandPruner(min_resource, max_resource, eta)
    theirs._try_initialization(study)
    assert ours.n_brackets == theirs._n_brackets
    probe = optuna.create_trial(value=0.0)
    for number in range(300):
        probe.number = number
        assert ours.bracket_of(study, probe) == theirs._get_bracket_id(study, probe)
        assert ours.bracket_of(study, number) == ours.bracket_of(study, probe)
    if ours.n_brackets > 1:
        assert len({ours.bracket_of(study, n) for n in range(300)}) == ours.n_brackets


def _bracket_decisions(study: optuna.Study) -> list[tuple[bool, bool, bool]]:
    """For candidates at every rung step: the Hyperband decision on ``study``, that of a
    successive halving over in-memory copies of the candidate's bracket, and over all trials."""
    # Unspared: a spared candidate would go on whatever its bracket holds.
    pruner = SoTLHyperbandPruner(1, 9, 2, spare_share=0.0)
    assert pruner.n_brackets == 4
    # In-memory copies, so that only the pruner under test reads the storage.
    everything = optuna.create_study()
    by_bracket = {b: optuna.create_study() for b in range(4)}
    for trial in study.get_trials(deepcopy=False):
        everything.add_trial(trial)
        by_bracket[pruner.bracket_of(study, trial)].add_trial(trial)
    rng = np.random.default_rng(0)
    decisions = []
    for number in range(100, 112):
        bracket = pruner.bracket_of(study, number)
        halving = SoTLSuccessiveHalvingPruner(1, 2, min_early_stopping_rate=bracket)
        for rung_step in (1, 2, 4, 8):
            for loss in rng.uniform(0.5, 2.5, size=2):
                candidate = _candidate(number, [3.0] * rung_step + [float(loss)])
                decisions.append(
                    (
                        pruner.prune(study, candidate),
                        halving.prune(by_bracket[bracket], candidate),
                        halving.prune(everything, candidate),
                    )
                )
    return decisions


def _add_curves(study: optuna.Study, curves: list[list[float]]) -> None:
    study.add_trials(
        optuna.create_trial(value=c[-1], intermediate_values=dict(enumerate(c))) for c in curves
    )


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_each_bracket_ranks_only_its_own_trials(make_study, direction) -> None:
    # eta = 2, max_resource = 9: brackets 0..3 judge at steps {1, 2, 4, 8}, {2, 4, 8}, {4, 8}
    # and {8}. Each decision must be that of a successive halving over the bracket's trials.
    study = make_study(direction=direction)
    _add_curves(study, _curves(4, 24, 9))
    decisions = _bracket_decisions(study)
    assert [hyperband for hyperband, _, _ in decisions] == [own for _, own, _ in decisions]
    assert any(hyperband for hyperband, _, _ in decisions)
    assert not all(hyperband for hyperband, _, _ in decisions)


def test_ranking_within_the_bracket_changes_decisions() -> None:
    # The study name fixes the brackets (and the stored curves are fixed), so this is
    # deterministic: ranking against every trial instead of the bracket's would differ here.
    study = optuna.create_study(study_name="optuna-sotl-brackets-c")
    _add_curves(study, _curves(4, 24, 9))
    decisions = _bracket_decisions(study)
    assert sum(hyperband != everyone for hyperband, _, everyone in decisions) == 9


def test_a_nan_prunes_in_every_bracket_and_a_good_loss_goes_on() -> None:
    study = optuna.create_study(study_name="nan")
    pruner = SoTLHyperbandPruner(1, 27, 3, spare_share=0.0)  # hand-made, unstored candidates
    brackets = {pruner.bracket_of(study, n): n for n in range(200)}
    assert sorted(brackets) == [0, 1, 2, 3]
    for number in brackets.values():
        assert pruner.prune(study, _candidate(number, [1.0, math.nan]))
        assert pruner.prune(study, _candidate(number, [1.0, 0.9, math.inf]))
        assert not pruner.prune(study, _candidate(number, [1.0] * 30))  # alone at every rung


def test_auto_max_resource_waits_for_a_complete_trial() -> None:
    pruner = SoTLHyperbandPruner(min_resource=1, reduction_factor=3, spare_share=0.0)
    study = optuna.create_study(study_name="auto")
    assert pruner.n_brackets is None
    assert {pruner.bracket_of(study, n) for n in range(50)} == {0}
    study.add_trial(
        optuna.create_trial(state=TrialState.PRUNED, intermediate_values={0: 1.0, 1: 0.5})
    )
    assert not pruner.prune(study, _candidate(7, [1.0, 99.0]))
    assert pruner.prune(study, _candidate(7, [1.0, math.nan]))
    study.add_trial(
        optuna.create_trial(value=0.1, intermediate_values={s: 1.0 / (s + 1) for s in range(27)})
    )
    assert pruner.bracket_of(study, 0) in range(4)
    assert pruner.n_brackets == 4  # max_resource = 27 steps


class _RecordingTPE(optuna.samplers.TPESampler):
    """TPE that records which trials each call of it could read."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.calls: list[tuple[str, int, list[int], list[int]]] = []

    def _record(self, where: str, study: optuna.Study, trial: FrozenTrial) -> None:
        states = (TrialState.COMPLETE, TrialState.PRUNED)
        cached = study._get_trials(deepcopy=False, states=states, use_cache=True)
        public = study.get_trials(deepcopy=False, states=states)
        self.calls.append(
            (where, trial.number, [t.number for t in cached], [t.number for t in public])
        )

    def sample_relative(self, study, trial, search_space):  # type: ignore[no-untyped-def]
        self._record("sample_relative", study, trial)
        return super().sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, name, distribution):  # type: ignore[no-untyped-def]
        self._record("sample_independent", study, trial)
        return super().sample_independent(study, trial, name, distribution)

    def after_trial(self, study, trial, state, values):  # type: ignore[no-untyped-def]
        self._record("after_trial", study, trial)
        super().after_trial(study, trial, state, values)


def _check_samplers_see_their_bracket(study: optuna.Study, wrapped: bool, n_trials: int) -> None:
    pruner = SoTLHyperbandPruner(1, 27, 3)
    tpe = _RecordingTPE(n_startup_trials=2, seed=0)
    study.sampler = SoTLSampler(tpe) if wrapped else tpe
    study.pruner = pruner
    # The brackets are a hash of the (random) study name: run until a trial follows one of
    # another bracket, or the check below would have nothing to hide.
    bracket = [pruner.bracket_of_number(study.study_name, n) for n in range(200)]
    n_trials = max(n_trials, next(n for n in range(1, 200) if bracket[n] != bracket[0]) + 1)

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -1.0, 1.0)
        trial.report(x * x + 1.0, 0)
        return x * x

    study.optimize(objective, n_trials=n_trials)
    brackets = {t.number: pruner.bracket_of(study, t) for t in study.trials}
    assert {where for where, *_ in tpe.calls} >= {"sample_independent", "after_trial"}
    n_hidden = 0
    for _, number, cached, public in tpe.calls:
        assert cached == public
        assert all(brackets[seen] == brackets[number] for seen in cached)
        n_hidden += sum(1 for n in brackets if n < number and brackets[n] != brackets[number])
    assert n_hidden > 0  # trials of other brackets existed and were not shown
    # Optuna builds the bracket study through this hook: if Optuna changes it, this fails.
    current = study.trials[-1]
    bracket_study = optuna.pruners._filter_study(study, current)
    assert isinstance(bracket_study, BracketStudy)
    assert bracket_study.bracket == brackets[current.number]
    assert bracket_study.parent_study is study
    assert [t.number for t in bracket_study.trials] == [
        n for n, b in brackets.items() if b == brackets[current.number]
    ]


def test_tpe_sees_only_the_trials_of_its_bracket(make_study) -> None:
    _check_samplers_see_their_bracket(make_study(), wrapped=False, n_trials=10)


def test_tpe_wrapped_in_sotl_sampler_sees_only_its_bracket() -> None:
    study = optuna.create_study(study_name="optuna-sotl-wrapped")
    _check_samplers_see_their_bracket(study, wrapped=True, n_trials=16)


def test_optimize_matches_optunas_decisions_in_minimize(make_study) -> None:
    # Through report / should_prune on every storage, in a maximize study: the decisions of
    # Optuna's HyperbandPruner fed the same losses in a minimize study (SoTL-E(1) is the loss).
    # Every trial after the first is worse than all earlier ones at every step, so whatever
    # brackets the random study name draws, ten trials in four brackets put two in one bracket
    # and the later one is pruned at its bracket's first rung.
    curves = [
        [2.5 - 0.1 * step + 0.2 * n + 0.05 * math.sin(3 * n + step) for step in range(9)]
        for n in range(10)
    ]
    params = {"min_resource": 1, "max_resource": 9, "reduction_factor": 2}
    # Unspared, since Optuna's pruner does not spare.
    study = make_study(
        direction="maximize", pruner=SoTLHyperbandPruner(**params, spare_share=0.0)
    )
    study.optimize(_lockstep.lockstep_objective(curves, wait=False), n_trials=len(curves))
    reference = optuna.create_study(
        study_name=study.study_name, pruner=optuna.pruners.HyperbandPruner(**params)
    )
    reference.optimize(_lockstep.lockstep_objective(curves, wait=False), n_trials=len(curves))
    got = _lockstep.outcomes(study)
    assert got == _lockstep.outcomes(reference)
    assert got[0] == ("COMPLETE", 8)
    assert any(state == "PRUNED" for state, _ in got.values())


def test_spare_share_spares_trials_across_brackets_on_every_storage(make_study) -> None:
    # eta 2, 3 steps: bracket 0 judges at steps 1 and 2, bracket 1 at step 2. Twelve complete
    # trials of three good epochs (36 epochs, none spared), then six trials worse at every step.
    # The share is counted over the whole study: 0 < 0.1 * 37 and 3 < 0.1 * 40 spare the first
    # two, after which 6 spared epochs stay above 0.1 * (at most 45 + 1). A spared trial trains
    # its three epochs; the others are pruned where their bracket holds two better trials.
    pruner = SoTLHyperbandPruner(
        min_resource=1, max_resource=3, reduction_factor=2, spare_share=0.1
    )
    study = make_study(direction="maximize", pruner=pruner)
    for k in range(12):
        study.add_trial(
            optuna.create_trial(value=0.5, intermediate_values={0: 1.0 + k / 10, 1: 0.9, 2: 0.8})
        )
    good_per_bracket = [0, 0]
    for number in range(12):
        good_per_bracket[pruner.bracket_of(study, number)] += 1
    spared, n_pruned = [], 0
    for _ in range(6):
        trial = study.ask()
        pruned = False
        for step, loss in enumerate([9.0, 8.9, 8.8]):
            trial.report(loss, step)
            pruned = trial.should_prune()
            if pruned:
                break
        spared.append(study.get_trials()[-1].system_attrs[SPARED_ATTR])
        n_pruned += pruned
        if spared[-1]:
            assert not pruned
        elif good_per_bracket[pruner.bracket_of(study, trial.number)] >= 2:
            assert pruned
        study.tell(trial, None if pruned else 0.5,
                   state=TrialState.PRUNED if pruned else TrialState.COMPLETE)
    assert spared == [True, True, False, False, False, False]
    assert n_pruned >= 1
    assert [t.system_attrs.get(SPARED_ATTR) for t in study.get_trials()[:12]] == [None] * 12
    assert "spare_share=0.1" in repr(pruner) and pruner.spare_share == 0.1


def test_spare_share_counts_trials_before_auto_knows_the_brackets() -> None:
    # Until a trial completes nothing is pruned but on a non-finite loss; those trials still
    # take epochs, so the share is decided for them too. Without a share nothing is stored.
    for share, stored in ((0.9, True), (0.0, None)):
        study = optuna.create_study(pruner=SoTLHyperbandPruner(spare_share=share))
        trial = study.ask()
        trial.report(1.0, 0)
        assert not trial.should_prune()
        trial = study.ask()
        trial.report(math.nan, 0)
        assert trial.should_prune()  # a spared trial too
        assert [t.system_attrs.get(SPARED_ATTR) for t in study.get_trials()] == [stored] * 2
