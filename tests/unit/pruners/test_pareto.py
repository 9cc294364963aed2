"""Multi-objective studies: SoTLReporter stores and prunes where Optuna refuses, and the pruner."""

from __future__ import annotations

import collections
import math
import pathlib
import sys

import numpy as np
import optuna
from optuna.trial import TrialState
import pytest

from optuna_sotl import RegularizedEvolutionSampler
from optuna_sotl import SelfCalibratingEstimator
from optuna_sotl import SoTLE
from optuna_sotl import SoTLParetoPruner
from optuna_sotl import SoTLReporter
from optuna_sotl import SoTLSampler
from optuna_sotl.rules import dominated_count
from optuna_sotl.rules import should_prune_dominated


N_EPOCHS = 6


def curve_of(quality: float) -> list[float]:
    """A decreasing training-loss curve; lower ``quality`` trains better."""
    return [quality + 1.0 / (epoch + 1) for epoch in range(N_EPOCHS)]


def objective_with_costs(cost_names: tuple[str, ...]):
    def objective(trial: optuna.Trial) -> tuple[float, ...]:
        quality = trial.suggest_float("quality", 0.0, 1.0)
        width = trial.suggest_int("width", 1, 10)
        costs = {"params": width * 100, "latency": (11 - width) * 0.5 + quality}
        for name in cost_names:
            trial.set_user_attr(name, costs[name])
        reporter = SoTLReporter(trial)
        for loss in curve_of(quality):
            for offset in (-0.1, 0.1):
                reporter.add(loss * (1.0 + offset))
            reporter.end_epoch()
        accuracy = 1.0 / (1.0 + reporter.train_losses[-1])
        return (accuracy, *(costs[name] for name in cost_names))

    return objective


def count_writes(study: optuna.Study) -> collections.Counter:
    """Counts the study storage's intermediate-value and user-attribute writes per trial (and key).

    The real storage does the work; only the calls are counted, to check "once per epoch".
    """
    storage = study._storage
    counts: collections.Counter = collections.Counter()
    set_value = storage.set_trial_intermediate_value
    set_attr = storage.set_trial_user_attr

    def counted_value(trial_id: int, step: int, value: float) -> None:
        counts["value", trial_id, step] += 1
        set_value(trial_id, step, value)

    def counted_attr(trial_id: int, key: str, value: object) -> None:
        counts["attr", trial_id, key] += 1
        set_attr(trial_id, key, value)

    storage.set_trial_intermediate_value = counted_value
    storage.set_trial_user_attr = counted_attr
    return counts


@pytest.mark.parametrize("cost_names", [("params",), ("params", "latency")])
def test_multi_objective_study_prunes_on_every_storage(make_study, cost_names) -> None:
    directions = ["maximize"] + ["minimize"] * len(cost_names)
    study = make_study(
        directions=directions,
        sampler=optuna.samplers.RandomSampler(seed=3),
        pruner=SoTLParetoPruner(cost_attrs=cost_names, dominated_fraction=0.1, n_startup_trials=2),
    )
    writes = count_writes(study)
    study.optimize(objective_with_costs(cost_names), n_trials=14)

    trials = study.get_trials()
    states = collections.Counter(trial.state for trial in trials)
    assert set(states) <= {TrialState.COMPLETE, TrialState.PRUNED}, states  # no FAIL
    assert states[TrialState.PRUNED] >= 1 and states[TrialState.COMPLETE] >= 2, states
    for trial in trials:
        steps = sorted(trial.intermediate_values)
        assert steps == list(range(len(steps))), (trial.number, steps)
        expected = curve_of(trial.params["quality"])[: len(steps)]
        assert [trial.intermediate_values[s] for s in steps] == pytest.approx(expected)
        assert trial.user_attrs["sotl"] == pytest.approx(sum(expected))
        assert trial.user_attrs["sotl_e"] == pytest.approx(expected[-1])
        # Once per epoch: one write of the loss per step, one of each score per epoch.
        for step in steps:
            assert writes["value", trial._trial_id, step] == 1
        assert writes["attr", trial._trial_id, "sotl"] == len(steps)
        assert writes["attr", trial._trial_id, "sotl_e"] == len(steps)
        if trial.state == TrialState.COMPLETE:
            assert len(steps) == N_EPOCHS and len(trial.values) == len(directions)


def test_pruned_message_names_the_step_and_score(make_study) -> None:
    study = make_study(
        directions=["maximize", "minimize"],
        sampler=optuna.samplers.NSGAIISampler(seed=0),
        pruner=SoTLParetoPruner(cost_attrs=("params",), n_startup_trials=1),
    )
    for loss in (0.5, 0.6):
        study.add_trial(
            optuna.create_trial(
                values=[0.9, 10.0],
                intermediate_values={0: loss},
                user_attrs={"params": 10.0},
            )
        )
    trial = study.ask()
    trial.set_user_attr("params", 20.0)
    reporter = SoTLReporter(trial)
    reporter.add(0.7)
    # Both others have fewer parameters and a lower loss: dominated by 2 of 2.
    with pytest.raises(optuna.TrialPruned, match=r"step 0: SoTL-E\(E=1\) = 0\.7"):
        reporter.end_epoch()
    study.tell(trial, state=TrialState.PRUNED)
    assert study.trials[-1].state == TrialState.PRUNED
    assert study.trials[-1].intermediate_values == {0: 0.7}


@pytest.mark.parametrize(
    "pruner, match",
    [
        (None, "MedianPruner"),  # Optuna's default pruner
        (optuna.pruners.SuccessiveHalvingPruner(), "SuccessiveHalvingPruner"),
        (
            SoTLParetoPruner(estimator=SelfCalibratingEstimator()),
            "needs a single-objective study",
        ),
    ],
)
def test_a_pruner_that_cannot_judge_several_objectives_fails_before_training(
    pruner, match
) -> None:
    kwargs = {} if pruner is None else {"pruner": pruner}
    sampler = optuna.samplers.RandomSampler(seed=0)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler, **kwargs)
    trial = study.ask()
    with pytest.raises(ValueError, match=match):
        SoTLReporter(trial)
    assert study._storage.get_trial(trial._trial_id).intermediate_values == {}


@pytest.mark.parametrize(
    "pruner", [SoTLParetoPruner(cost_attrs=("params",)), optuna.pruners.NopPruner()]
)
def test_plain_tpe_fails_before_training(pruner) -> None:
    # Optuna 5's default sampler for several objectives is TPE: the error says how to wrap it
    # (test_samplers_keep_sampling_after_pruned_trials runs the wrapped one).
    study = optuna.create_study(
        directions=["maximize", "minimize"],
        sampler=optuna.samplers.TPESampler(seed=0),
        pruner=pruner,
    )
    with pytest.raises(ValueError, match="SoTLSampler"):
        SoTLReporter(study.ask())


def test_nop_pruner_records_without_pruning() -> None:
    study = optuna.create_study(
        directions=["maximize", "minimize"],
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=optuna.pruners.NopPruner(),
    )
    study.optimize(objective_with_costs(("params",)), n_trials=3)
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert all(len(t.intermediate_values) == N_EPOCHS for t in study.trials)


@pytest.mark.parametrize(
    "make_sampler",
    [
        lambda: optuna.samplers.RandomSampler(seed=0),
        lambda: optuna.samplers.NSGAIISampler(seed=0, population_size=4),
        lambda: optuna.samplers.NSGAIIISampler(seed=0, population_size=4),
        lambda: SoTLSampler(optuna.samplers.TPESampler(seed=0, n_startup_trials=3)),
        lambda: SoTLSampler(optuna.samplers.NSGAIISampler(seed=0, population_size=4)),
        lambda: SoTLSampler(optuna.samplers.NSGAIIISampler(seed=0, population_size=4)),
        lambda: SoTLSampler(optuna.samplers.RandomSampler(seed=0)),
    ],
    ids=["random", "nsga2", "nsga3", "sotl-tpe", "sotl-nsga2", "sotl-nsga3", "sotl-random"],
)
def test_samplers_keep_sampling_after_pruned_trials(make_sampler) -> None:
    study = optuna.create_study(
        directions=["maximize", "minimize"],
        sampler=make_sampler(),
        pruner=SoTLParetoPruner(cost_attrs=("params",), n_startup_trials=2),
    )
    study.optimize(objective_with_costs(("params",)), n_trials=24)
    states = collections.Counter(t.state for t in study.trials)
    assert states[TrialState.FAIL] == 0, states
    assert states[TrialState.PRUNED] >= 1 and states[TrialState.COMPLETE] >= 4, states
    # The trials after the first pruned one were sampled, not stuck on one point.
    first_pruned = min(t.number for t in study.trials if t.state == TrialState.PRUNED)
    later = {tuple(t.params.items()) for t in study.trials if t.number > first_pruned}
    assert len(later) >= 3


def test_sotl_sampler_shows_tpe_pruned_trials_as_lower_is_better_scores() -> None:
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.add_trial(
        optuna.create_trial(
            state=TrialState.PRUNED,
            params={"x": 0.5},
            distributions={"x": optuna.distributions.FloatDistribution(0, 1)},
            intermediate_values={0: 3.0, 1: 2.0},
        )
    )
    sampler = SoTLSampler(optuna.samplers.TPESampler(), estimator=SoTLE(2))
    view = sampler._view(study)
    assert view.direction == optuna.study.StudyDirection.MINIMIZE
    (pruned,) = view.get_trials(states=(TrialState.PRUNED,))
    assert pruned.intermediate_values == {0: 3.0, 1: 5.0}  # SoTL-E(2): not negated


def test_regularized_evolution_keeps_its_error_for_several_objectives() -> None:
    study = optuna.create_study(
        directions=["maximize", "minimize"], sampler=RegularizedEvolutionSampler(seed=0)
    )
    with pytest.raises(ValueError, match="multi-objective"):
        study.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=1, catch=())


def test_single_objective_study_with_costs() -> None:
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=1),
        pruner=SoTLParetoPruner(cost_attrs=("params",), n_startup_trials=2),
    )
    study.optimize(lambda t: objective_with_costs(("params",))(t)[0], n_trials=16)
    states = collections.Counter(t.state for t in study.trials)
    assert states[TrialState.FAIL] == 0 and states[TrialState.PRUNED] >= 1, states


def test_missing_cost_is_an_error_naming_attribute_and_trial() -> None:
    study = optuna.create_study(
        directions=["maximize", "minimize"],
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=SoTLParetoPruner(cost_attrs=("params", "flops"), n_startup_trials=0),
    )
    trial = study.ask()
    trial.set_user_attr("params", 3.0)
    reporter = SoTLReporter(trial)
    reporter.add(1.0)
    with pytest.raises(ValueError, match=r"Trial 0 has no user attribute 'flops'"):
        reporter.end_epoch()


def test_a_cost_must_be_a_number() -> None:
    study = optuna.create_study(pruner=SoTLParetoPruner(cost_attrs=("params",)))
    trial = study.ask()
    trial.set_user_attr("params", "big")
    trial.report(1.0, 0)
    with pytest.raises(TypeError, match=r"Trial 0's user attribute 'params' must be a number"):
        trial.should_prune()


def make_trial(loss: float, params: float, step: int = 0) -> optuna.trial.FrozenTrial:
    return optuna.create_trial(
        state=TrialState.PRUNED,
        intermediate_values={s: loss for s in range(step + 1)},
        user_attrs={"params": params},
    )


def test_prune_decision_follows_the_dominated_fraction() -> None:
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.add_trial(optuna.create_trial(values=[1.0, 1.0]))  # start-up: one complete trial
    for loss, params in ((1.0, 1.0), (2.0, 1.0), (3.0, 3.0), (0.5, 9.0)):
        study.add_trial(make_trial(loss, params))
    trial = make_trial(2.5, 2.0)  # dominated by (1, 1) and (2, 1): 2 of 4
    assert SoTLParetoPruner(("params",), dominated_fraction=0.49, n_startup_trials=1).prune(
        study, trial
    )
    assert not SoTLParetoPruner(("params",), dominated_fraction=0.5, n_startup_trials=1).prune(
        study, trial
    )
    # Start-up, warm-up and n_min_trials hold it back.
    assert not SoTLParetoPruner(("params",), n_startup_trials=2).prune(study, trial)
    assert not SoTLParetoPruner(("params",), n_startup_trials=1, n_warmup_steps=1).prune(
        study, trial
    )
    assert not SoTLParetoPruner(("params",), n_startup_trials=1, n_min_trials=5).prune(
        study, trial
    )
    # A non-finite loss prunes at once.
    assert SoTLParetoPruner(("params",), n_startup_trials=9).prune(study, make_trial(math.nan, 0))


def test_interval_steps_checks_only_due_steps() -> None:
    study = optuna.create_study()
    study.add_trial(optuna.create_trial(value=1.0))
    study.add_trial(make_trial(0.1, 0.0, step=3))
    pruner = SoTLParetoPruner(("params",), n_startup_trials=1, interval_steps=2)
    assert pruner.prune(study, make_trial(1.0, 1.0, step=2))
    assert not pruner.prune(study, make_trial(1.0, 1.0, step=3))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"cost_attrs": "params"}, TypeError, "cost_attrs"),
        ({"cost_attrs": ("params", 3)}, TypeError, "cost_attrs"),
        ({"cost_attrs": ("a", "a")}, ValueError, "cost_attrs"),
        ({"dominated_fraction": 1.0}, ValueError, "dominated_fraction"),
        ({"dominated_fraction": "0.1"}, TypeError, "dominated_fraction"),
        ({"n_startup_trials": -1}, ValueError, "n_startup_trials"),
        ({"n_warmup_steps": 1.5}, TypeError, "n_warmup_steps"),
        ({"interval_steps": 0}, ValueError, "interval_steps"),
        ({"n_min_trials": 0}, ValueError, "n_min_trials"),
        ({"estimator": "sotl"}, TypeError, "estimator"),
    ],
)
def test_arguments_are_checked(kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        SoTLParetoPruner(**kwargs)


def test_repr() -> None:
    assert repr(SoTLParetoPruner(("params",), 0.1)) == (
        "SoTLParetoPruner(cost_attrs=('params',), dominated_fraction=0.1, n_startup_trials=5, "
        "n_warmup_steps=0, interval_steps=1, n_min_trials=1, estimator=SoTLE(window=1))"
    )


def test_dominance_rule() -> None:
    others = np.array([[1.0, 1.0], [2.0, 3.0], [3.0, 0.5], [2.0, 2.0], [np.nan, 0.0]])
    assert dominated_count(np.array([2.0, 2.0]), others) == 1  # equal point does not dominate
    assert dominated_count(np.array([3.0, 3.0]), others) == 4  # NaN never dominates
    assert dominated_count(np.array([0.5, 0.5]), others) == 0
    assert dominated_count(np.array([1.0, 1.0]), np.empty((0, 2))) == 0
    assert should_prune_dominated(np.array([3.0, 3.0]), others, 0.75)  # 4 of 5 > 3.75
    assert not should_prune_dominated(np.array([3.0, 3.0]), others, 0.8)  # 4 of 5 = 4
    assert should_prune_dominated(np.array([np.inf, 0.0]), others, 0.99)
    assert not should_prune_dominated(np.array([5.0, 5.0]), np.empty((0, 2)), 0.0)


def add_front_and_pruned(study: optuna.Study) -> None:
    """Two front trials, one dominated complete trial, and two pruned trials.

    Trial 3 stopped at step 0 with loss 0.8 and 100 parameters: front trial 1 has 100 parameters
    and loss 1.5 there, front trial 0 has 200: nothing dominates it. Trial 4 (loss 1.8, 300
    parameters) is dominated by both.
    """
    for values, losses in (
        ((0.9, 200.0), {0: 1.0, 1: 0.5}),
        ((0.8, 100.0), {0: 1.5, 1: 0.9}),
        ((0.7, 300.0), {0: 1.6, 1: 1.0}),
    ):
        study.add_trial(
            optuna.create_trial(
                values=list(values), intermediate_values=losses, user_attrs={"params": values[1]}
            )
        )
    for loss, params in ((0.8, 100.0), (1.8, 300.0)):
        study.add_trial(
            optuna.create_trial(
                state=TrialState.PRUNED,
                intermediate_values={0: loss},
                user_attrs={"params": params},
            )
        )


def test_pareto_summary_lists_front_and_would_be_members() -> None:
    from optuna_sotl.ranking import pareto_summary

    study = optuna.create_study(directions=["maximize", "minimize"])
    study.set_metric_names(["accuracy", "params"])
    add_front_and_pruned(study)
    summary = pareto_summary(study)
    assert summary.cost_attrs == ("params",)
    assert [t.number for t in summary.front] == [0, 1]
    assert [(t.number, t.step, t.score) for t in summary.would_be] == [(3, 0, 0.8)]
    assert summary.objective_names == ("accuracy", "params")


def test_report_cli_shows_the_front_of_a_multi_objective_study(tmp_path, capsys) -> None:
    from optuna_sotl._cli import main

    url = f"sqlite:///{tmp_path / 'mo.db'}"
    study = optuna.create_study(storage=url, directions=["maximize", "minimize"])
    add_front_and_pruned(study)
    assert main(["report", "--storage", url]) == 0
    out = capsys.readouterr().out
    assert "Pareto front of the 3 complete trials" in out
    assert "| 0 | 0.9 | 200 | 2 |" in out and "| 2 | 0.7 |" not in out
    assert "1 of the 2 pruned trials would have been on the front" in out
    assert "| 3 | 0 | 0.8 | 100 |" in out


def test_dashboard_note_shows_the_front(make_study) -> None:
    optuna_dashboard = pytest.importorskip("optuna_dashboard")
    pytest.importorskip("plotly")
    from optuna_sotl.dashboard import save_to_dashboard

    study = make_study(directions=["maximize", "minimize"])
    add_front_and_pruned(study)
    save_to_dashboard(study)
    note = optuna_dashboard.get_note(study)
    assert "### Pareto front (optuna-sotl)" in note
    assert "| 3 | 0 | 0.8 | 100 |" in note


def test_benchmark_replay_decides_as_the_pruner(tmp_path) -> None:
    """The benchmark replays the pruner in arrays: the same decisions as a real study."""
    import importlib.util

    bench_dir = pathlib.Path(__file__).resolve().parents[3] / "benchmarks"
    sys.path.insert(0, str(bench_dir))
    try:
        spec = importlib.util.spec_from_file_location(
            "bench_multiobjective", bench_dir / "bench_multiobjective.py"
        )
        bench = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bench)
    finally:
        sys.path.remove(str(bench_dir))

    rng = np.random.default_rng(0)
    n, epochs = 80, 8
    quality = rng.uniform(0.0, 1.0, n)
    noise = rng.normal(0.0, 0.05, (n, epochs))
    train_loss = quality[:, None] + 1.0 / np.arange(1, epochs + 1) + noise
    path = tmp_path / "curves.npz"
    np.savez(
        path,
        train_loss=train_loss,
        val_loss=train_loss + 0.1,
        val_acc=100.0 - 10.0 * train_loss,
        test_acc=100.0 - 10.0 * quality,
        params=rng.choice([100, 200, 300, 400], n),
    )
    space = bench.Space(str(path))
    scores = space.scores(SoTLE(1))
    rows = rng.integers(n, size=60)
    replay = bench.Replay(space, scores, 0.1, 3, 10_000)
    expected = [replay.run_trial(int(r)) for r in rows]

    study = optuna.create_study(
        directions=["minimize", "minimize"],
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=SoTLParetoPruner(("params",), dominated_fraction=0.1, n_startup_trials=3),
    )
    got = []
    for r in rows:
        trial = study.ask()
        trial.set_user_attr("params", float(space.params[r]))
        reporter = SoTLReporter(trial)
        try:
            for t in range(epochs):
                reporter.add(float(train_loss[r, t]))
                reporter.end_epoch()
        except optuna.TrialPruned:
            study.tell(trial, state=TrialState.PRUNED)
            got.append(False)
            continue
        study.tell(trial, [float(space.val_error[r]), float(space.params[r])])
        got.append(True)
    assert got == expected
    assert 0 < sum(got) < len(got)
    assert sum(len(t.intermediate_values) for t in study.trials) == replay.epochs
