from __future__ import annotations

import math

import numpy as np
import optuna
from optuna.samplers._tpe.sampler import _split_trials
from optuna.trial import TrialState
import pytest

from optuna_sotl import SoTL
from optuna_sotl import SoTLE
from optuna_sotl import SoTLEMA
from optuna_sotl import SoTLPruner
from optuna_sotl import SoTLSampler
from optuna_sotl import SoVL
from optuna_sotl._scoring import score_at_step
from optuna_sotl._scoring import scores_by_step


DIST_X = optuna.distributions.FloatDistribution(0.0, 1.0)


class SpySampler(optuna.samplers.RandomSampler):
    """A RandomSampler that records what a wrapper hands it."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.calls: list[tuple] = []
        self.studies: list[optuna.Study] = []

    def before_trial(self, study, trial):
        self.calls.append(("before_trial", trial.number))
        self.studies.append(study)
        super().before_trial(study, trial)

    def after_trial(self, study, trial, state, values):
        self.calls.append(("after_trial", trial.number, state, values))
        self.studies.append(study)
        super().after_trial(study, trial, state, values)

    def sample_independent(self, study, trial, param_name, param_distribution):
        self.calls.append(("sample_independent", trial.number, param_name))
        self.studies.append(study)
        return super().sample_independent(study, trial, param_name, param_distribution)

    def reseed_rng(self):
        self.calls.append(("reseed_rng",))
        super().reseed_rng()


def search_space_objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", 1e-3, 1.0, log=True)
    n = trial.suggest_int("n", 1, 8)
    kind = trial.suggest_categorical("kind", ["a", "b", "c"])
    return (math.log10(x) + 1.5) ** 2 + (n - 3) ** 2 / 10 + {"a": 0.3, "b": 0.0, "c": 0.6}[kind]


def loss_objective(trial: optuna.Trial) -> float:
    """Reports training losses; returns an accuracy that agrees with the final loss."""
    x = trial.suggest_float("x", 0.0, 1.0)
    y = trial.suggest_float("y", 0.0, 1.0)
    rate = 0.05 + 0.4 * (1.0 - abs(x - 0.3)) * (1.0 - abs(y - 0.6))
    loss = 2.0
    for epoch in range(6):
        loss *= 1.0 - rate
        trial.report(loss, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return 1.0 - loss / 2.0


def params_sequence(study: optuna.Study) -> list[dict]:
    return [trial.params for trial in study.trials]


def add_pruned(study: optuna.Study, x: float, losses: list[float]) -> None:
    study.add_trial(
        optuna.create_trial(
            state=TrialState.PRUNED,
            params={"x": x},
            distributions={"x": DIST_X},
            intermediate_values=dict(enumerate(losses)),
        )
    )


def the_view(study: optuna.Study, sampler: SoTLSampler) -> optuna.Study:
    """The study the base sampler of ``sampler`` sees."""
    return sampler._view(study)


def pruned_order(study: optuna.Study) -> list[float]:
    """The x of the pruned trials, best first, as TPE's own split of ``study`` ranks them."""
    trials = study._get_trials(deepcopy=False, states=(TrialState.PRUNED,))
    order: list[int] = []
    for n_below in range(1, len(trials) + 1):
        below, _ = _split_trials(study, trials, n_below)
        (new,) = {trial.number for trial in below} - set(order)
        order.append(new)
    x_of = {trial.number: trial.params["x"] for trial in trials}
    return [x_of[number] for number in order]


@pytest.mark.parametrize(
    "make_base",
    [
        lambda: optuna.samplers.TPESampler(seed=3, n_startup_trials=5),
        lambda: optuna.samplers.TPESampler(seed=4, n_startup_trials=5, multivariate=True),
        lambda: optuna.samplers.RandomSampler(seed=5),
    ],
    ids=["tpe", "tpe-multivariate", "random"],
)
@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_same_suggestions_as_the_base_sampler_without_pruned_trials(make_base, direction) -> None:
    sequences = []
    for sampler in (make_base(), SoTLSampler(make_base())):
        study = optuna.create_study(direction=direction, sampler=sampler)
        study.optimize(search_space_objective, n_trials=15)
        sequences.append(params_sequence(study))
    assert sequences[0] == sequences[1]
    assert len({tuple(sorted(p.items())) for p in sequences[0]}) == 15


def test_same_suggestions_as_tpe_in_a_minimize_study_of_losses() -> None:
    """Minimising, SoTL-E(1) scores are the losses themselves: TPE's own order, pruned or not."""
    sequences = []
    for wrap in (False, True):
        tpe = optuna.samplers.TPESampler(seed=7, n_startup_trials=5)
        study = optuna.create_study(
            direction="minimize",
            sampler=SoTLSampler(tpe) if wrap else tpe,
            pruner=SoTLPruner(n_startup_trials=2),
        )
        study.optimize(lambda trial: -loss_objective(trial), n_trials=25)
        sequences.append(params_sequence(study))
        n_pruned = len(study.get_trials(states=(TrialState.PRUNED,)))
        assert n_pruned >= 5  # the pruned trials' ranking is exercised
    assert sequences[0] == sequences[1]


def test_maximize_study_ranking_is_reversed_for_pruned_trials(make_study) -> None:
    """Optuna's TPE reads losses as accuracies when maximising; the wrapper does not."""
    study = make_study(direction="maximize")
    # At step 1, x=0.1 has the lowest loss and x=0.4 the highest; x=0.5 got one step further
    # and x=0.6 reported nothing.
    for x, losses in [(0.1, [2.0, 0.5]), (0.2, [2.0, 1.0]), (0.3, [2.0, 1.5]), (0.4, [2.0, 3.0])]:
        add_pruned(study, x, losses)
    add_pruned(study, 0.5, [2.5, 2.9, 2.8])
    add_pruned(study, 0.6, [])
    wrapped = SoTLSampler(optuna.samplers.TPESampler())

    assert pruned_order(study) == [0.5, 0.4, 0.3, 0.2, 0.1, 0.6]
    assert pruned_order(the_view(study, wrapped)) == [0.5, 0.1, 0.2, 0.3, 0.4, 0.6]

    # The same trials in a minimise study: the wrapper agrees with TPE's order on losses.
    study = make_study(direction="minimize")
    for x, losses in [(0.1, [2.0, 0.5]), (0.2, [2.0, 1.0]), (0.3, [2.0, 1.5]), (0.4, [2.0, 3.0])]:
        add_pruned(study, x, losses)
    add_pruned(study, 0.5, [2.5, 2.9, 2.8])
    add_pruned(study, 0.6, [])
    assert pruned_order(study) == pruned_order(the_view(study, wrapped))
    assert pruned_order(study) == [0.5, 0.1, 0.2, 0.3, 0.4, 0.6]


def test_the_estimator_sets_the_ranking_and_non_finite_losses_rank_worst() -> None:
    study = optuna.create_study(direction="maximize")
    add_pruned(study, 0.1, [5.0, 0.5])  # best last epoch, worst sum
    add_pruned(study, 0.2, [1.0, 1.0])
    add_pruned(study, 0.3, [1.0, math.nan])
    add_pruned(study, 0.4, [1.0, -math.inf])  # TPE would call this the best trial
    for x_order, estimator in [([0.1, 0.2], SoTLE(1)), ([0.2, 0.1], SoTL())]:
        view = the_view(study, SoTLSampler(optuna.samplers.TPESampler(), estimator=estimator))
        assert pruned_order(view)[:2] == x_order
        assert set(pruned_order(view)[2:]) == {0.3, 0.4}


def test_tpe_is_steered_toward_low_loss_pruned_trials_only_when_wrapped() -> None:
    n_low_x = {}
    for wrap in (False, True):
        rng = np.random.default_rng(0)
        tpe = optuna.samplers.TPESampler(seed=1, n_startup_trials=5)
        study = optuna.create_study(
            direction="maximize", sampler=SoTLSampler(tpe) if wrap else tpe
        )
        for _ in range(20):  # low x: low training loss
            add_pruned(study, float(rng.uniform(0.0, 0.2)), [2.0, float(rng.uniform(0.1, 0.3))])
        for _ in range(20):  # high x: high training loss
            add_pruned(study, float(rng.uniform(0.8, 1.0)), [2.0, float(rng.uniform(1.5, 1.9))])
        xs = [study.ask().suggest_float("x", 0.0, 1.0) for _ in range(10)]
        n_low_x[wrap] = sum(x < 0.5 for x in xs)
    assert n_low_x[True] >= 8  # toward the low-loss trials
    assert n_low_x[False] <= 3  # Optuna's TPE: toward the high-loss trials


def test_running_trials_are_scored_and_complete_trials_untouched(make_study) -> None:
    study = make_study(direction="maximize")
    study.add_trial(
        optuna.create_trial(
            value=0.9,
            params={"x": 0.5},
            distributions={"x": DIST_X},
            intermediate_values={0: 2.0, 1: 1.0},
        )
    )
    running = study.ask()
    running.report(2.0, 0)
    running.report(0.7, 1)
    view = the_view(study, SoTLSampler(optuna.samplers.TPESampler(), estimator=SoTL()))

    complete, running_view = view.get_trials(deepcopy=False)
    assert complete.value == 0.9 and complete.intermediate_values == {0: 2.0, 1: 1.0}
    assert running_view.state == TrialState.RUNNING
    assert running_view.intermediate_values == {0: -2.0, 1: -2.7}  # SoTL, negated: maximize
    assert [t.number for t in view.trials] == [0, 1]
    assert view._get_trials(states=(TrialState.RUNNING,), use_cache=True)[0].params == {}
    # The storage still holds the losses.
    assert study.trials[1].intermediate_values == {0: 2.0, 1: 0.7}
    # Everything else is the study's own.
    assert view.direction == study.direction and view._study_id == study._study_id
    assert view.best_trial.number == 0


@pytest.mark.parametrize("estimator", [SoTLE(1), SoTLE(2), SoTL(), SoTLEMA(newest_weight=0.5)])
def test_scores_by_step_equal_the_pruner_scores(estimator) -> None:
    trial = optuna.create_trial(
        state=TrialState.PRUNED,
        intermediate_values={0: 2.0, 1: math.nan, 2: 1.2, 4: 0.9, 5: math.inf, 6: 0.5},
    )
    scores = scores_by_step(estimator, trial)
    assert sorted(scores) == [0, 1, 2, 4, 5, 6]
    for step, score in scores.items():
        assert score == score_at_step(estimator, [trial], step)[0]
    assert scores[1] == scores[5] == math.inf


def test_multi_objective_studies_pass_through() -> None:
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.add_trial(optuna.create_trial(state=TrialState.PRUNED, intermediate_values={0: 3.0}))
    view = the_view(study, SoTLSampler(optuna.samplers.NSGAIISampler()))
    assert view.get_trials()[0].intermediate_values == {0: 3.0}


def test_delegates_hooks_and_reseed_to_the_base_sampler() -> None:
    spy = SpySampler(seed=0)
    sampler = SoTLSampler(spy)
    study = optuna.create_study(
        direction="maximize", sampler=sampler, pruner=SoTLPruner(n_startup_trials=1)
    )
    study.optimize(loss_objective, n_trials=6)

    states = {t.number: t.state for t in study.trials}
    afters = [call for call in spy.calls if call[0] == "after_trial"]
    assert [call[1] for call in afters] == list(range(6))
    for _, number, state, values in afters:
        trial = study.trials[number]
        assert state == trial.state
        if state == TrialState.PRUNED:
            # Optuna passes the last loss; the base sampler gets it as a score, maximised.
            assert values == [-trial.intermediate_values[trial.last_step]]
        else:
            assert values == [trial.value]
    assert {TrialState.PRUNED, TrialState.COMPLETE} <= set(states.values())
    assert [call[1] for call in spy.calls if call[0] == "before_trial"] == list(range(6))
    assert sum(call[0] == "sample_independent" for call in spy.calls) == 12
    assert all(view._sotl_study._study_id == study._study_id for view in spy.studies)

    sampler.reseed_rng()
    assert spy.calls[-1] == ("reseed_rng",)
    # n_jobs > 1 makes Optuna reseed the sampler; it must reach the base sampler.
    spy.calls.clear()
    study.optimize(loss_objective, n_trials=2, n_jobs=2)
    assert ("reseed_rng",) in spy.calls


def test_reseed_gives_the_base_sampler_a_new_stream() -> None:
    sampler = SoTLSampler(optuna.samplers.RandomSampler(seed=0))
    first = optuna.create_study(sampler=sampler)
    first.optimize(search_space_objective, n_trials=3)
    sampler.reseed_rng()
    second = optuna.create_study(sampler=sampler)
    second.optimize(search_space_objective, n_trials=3)
    assert params_sequence(first) != params_sequence(second)


def test_hyperband_brackets_still_filter_the_trials() -> None:
    spy = SpySampler(seed=0)
    pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=6, reduction_factor=2)
    study = optuna.create_study(direction="maximize", sampler=SoTLSampler(spy), pruner=pruner)
    study.optimize(loss_objective, n_trials=20)

    assert pruner._n_brackets > 1
    n_all = len(study.trials)
    sizes = []
    for view in spy.studies:
        bracket_study = view._sotl_study
        assert type(bracket_study).__name__ == "_BracketStudy"
        expected = [t.number for t in bracket_study.get_trials(deepcopy=False)]
        assert [t.number for t in view.get_trials(deepcopy=False)] == expected
        sizes.append(len(expected))
    assert min(sizes) < n_all and max(sizes) > 0


def test_composes_with_sotl_hyperband_bracket_studies() -> None:
    from optuna_sotl import SoTLHyperbandPruner

    spy = SpySampler(seed=0)
    pruner = SoTLHyperbandPruner(min_resource=1, max_resource=6, reduction_factor=2)
    study = optuna.create_study(direction="maximize", sampler=SoTLSampler(spy), pruner=pruner)
    study.optimize(loss_objective, n_trials=20)

    n_all = len(study.trials)
    sizes = []
    for view in spy.studies:
        bracket_study = view._sotl_study
        assert type(bracket_study).__name__ == "BracketStudy"
        # Optuna's samplers read _get_trials, which this bracket study filters.
        expected = bracket_study._get_trials(deepcopy=False, use_cache=False)
        seen = view._get_trials(deepcopy=False, use_cache=False)
        assert [t.number for t in seen] == [t.number for t in expected]
        for raw, scored in zip(expected, seen):
            if raw.state == TrialState.PRUNED:
                assert scored.intermediate_values == {
                    step: -loss for step, loss in raw.intermediate_values.items()
                }
        sizes.append(len(expected))
    assert min(sizes) < n_all
    assert any(t.state == TrialState.PRUNED for t in study.trials)


@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        ({"base_sampler": "tpe"}, TypeError, "base_sampler"),
        ({"base_sampler": optuna.samplers.TPESampler, "estimator": None}, TypeError, "base_s"),
        ({"estimator": "sotl"}, TypeError, "estimator"),
        ({"estimator": SoVL()}, ValueError, "estimator"),
    ],
)
def test_invalid_arguments(kwargs, error, fragment) -> None:
    kwargs.setdefault("base_sampler", optuna.samplers.RandomSampler())
    with pytest.raises(error, match=fragment):
        SoTLSampler(**kwargs)


def test_a_pruned_trial_view_is_built_once_and_never_shared_across_studies() -> None:
    # Samplers read every trial on every call; a pruned trial's view is kept, not rebuilt.
    wrapped = SoTLSampler(optuna.samplers.TPESampler(), estimator=SoTL())
    first, second = (optuna.create_study(direction="maximize") for _ in range(2))
    add_pruned(first, 0.1, [2.0, 1.0])
    add_pruned(second, 0.1, [3.0, 1.0])  # same trial id and last loss in another storage
    (view,) = the_view(first, wrapped).get_trials(deepcopy=False)
    (again,) = the_view(first, wrapped).get_trials(deepcopy=False)
    (other,) = the_view(second, wrapped).get_trials(deepcopy=False)
    assert again is view
    assert view.intermediate_values == {0: -2.0, 1: -3.0}
    assert other.intermediate_values == {0: -3.0, 1: -4.0}
    assert first.trials[0].intermediate_values == {0: 2.0, 1: 1.0}
