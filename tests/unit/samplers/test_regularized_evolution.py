from __future__ import annotations

import math
import pathlib
import subprocess
import sys
import uuid

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.trial import TrialState
import pytest

from optuna_sotl import RegularizedEvolutionSampler
from optuna_sotl import SoTL
from optuna_sotl import SoTLE
from optuna_sotl import SoTLPruner
from optuna_sotl import SoVL
from optuna_sotl.samplers.regularized_evolution import PARENT_ATTR
from optuna_sotl.samplers.regularized_evolution._mutation import mutate
from optuna_sotl.samplers.regularized_evolution._mutation import sample_uniform
from tests.storages import POSTGRES_URL
from tests.storages import require_server


REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]
DIST_X = FloatDistribution(0.0, 1.0)

DISTRIBUTIONS = {
    "categorical": CategoricalDistribution(["a", "b", None, 3]),
    "int": IntDistribution(0, 10),
    "int_step": IntDistribution(1, 13, step=3),
    "int_log": IntDistribution(1, 1000, log=True),
    "int_log_two": IntDistribution(4, 5, log=True),
    "float": FloatDistribution(-2.0, 3.0),
    "float_log": FloatDistribution(1e-5, 1.0, log=True),
    "float_step": FloatDistribution(0.0, 1.0, step=0.25),
}


def contains(distribution, value) -> bool:
    return distribution._contains(distribution.to_internal_repr(value))


def mixed_objective(trial: optuna.Trial) -> float:
    """Every kind of parameter; reports training losses; returns an accuracy."""
    params = {
        "categorical": trial.suggest_categorical("categorical", ["a", "b", None, 3]),
        "int": trial.suggest_int("int", 0, 10),
        "int_step": trial.suggest_int("int_step", 1, 13, step=3),
        "int_log": trial.suggest_int("int_log", 1, 1000, log=True),
        "int_log_two": trial.suggest_int("int_log_two", 4, 5, log=True),
        "float": trial.suggest_float("float", -2.0, 3.0),
        "float_log": trial.suggest_float("float_log", 1e-5, 1.0, log=True),
        "float_step": trial.suggest_float("float_step", 0.0, 1.0, step=0.25),
    }
    rate = 0.05 + 0.1 * (params["categorical"] == "b") + 0.02 * params["int"] / 10
    rate += 0.1 * params["float_step"] + 0.05 * math.log10(params["float_log"]) / -5
    loss = 2.0
    for epoch in range(4):
        loss *= 1.0 - rate
        trial.report(loss, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return 1.0 - loss / 2.0


def lineage_of(study: optuna.Study) -> dict[int, dict]:
    return {
        t.number: t.system_attrs[PARENT_ATTR]
        for t in study.trials
        if PARENT_ATTR in t.system_attrs
    }


def add(study, state, x, value=None, losses=()) -> None:
    study.add_trial(
        optuna.create_trial(
            state=state,
            value=value,
            params={"x": x},
            distributions={"x": DIST_X},
            intermediate_values=dict(enumerate(losses)),
        )
    )


def child_parent(study: optuna.Study) -> int:
    """Ask one trial, let the sampler suggest ``x`` and return its parent's number."""
    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    frozen = study._storage.get_trial(trial._trial_id)
    study.tell(trial, state=TrialState.FAIL)
    return frozen.system_attrs[PARENT_ATTR]["parent"]


def parent_among(direction: str, population: list[tuple], estimator=None) -> int:
    """Index of the parent when the whole ``population`` is the tournament."""
    n = len(population)
    sampler = RegularizedEvolutionSampler(n, n, seed=0, estimator=estimator)
    study = optuna.create_study(direction=direction, sampler=sampler)
    for i, (state, value, losses) in enumerate(population):
        add(study, state, x=i / 10, value=value, losses=losses)
    return child_parent(study)


C, P = TrialState.COMPLETE, TrialState.PRUNED


@pytest.mark.parametrize(
    "direction, population, expected",
    [
        # Complete trials rank by objective value in the study's direction.
        ("maximize", [(C, 0.2, ()), (C, 0.8, ()), (C, 0.5, ())], 1),
        ("minimize", [(C, 0.2, ()), (C, 0.8, ()), (C, 0.5, ())], 0),
        # A complete trial beats any pruned trial, however low its loss.
        ("maximize", [(P, None, [0.01, 0.001, 0.0]), (C, 0.1, [5.0, 5.0, 5.0])], 1),
        ("minimize", [(C, 9.0, [5.0]), (P, None, [0.01, 0.0])], 0),
        # Among pruned trials the deeper one wins...
        ("maximize", [(P, None, [2.0, 0.1]), (P, None, [2.0, 1.9, 1.8, 1.7])], 1),
        ("minimize", [(P, None, [2.0, 1.9, 1.8, 1.7]), (P, None, [2.0, 0.1])], 0),
        # ...and at the same step the lower loss, whatever the direction.
        ("maximize", [(P, None, [2.0, 0.5]), (P, None, [2.0, 0.3]), (P, None, [2.0, 0.9])], 1),
        ("minimize", [(P, None, [2.0, 0.5]), (P, None, [2.0, 0.3]), (P, None, [2.0, 0.9])], 1),
        # A non-finite loss ranks worst at its step; a trial that reported nothing ranks last.
        ("maximize", [(P, None, [math.nan]), (P, None, [9.0]), (P, None, [-math.inf])], 1),
        ("maximize", [(P, None, []), (P, None, [math.inf])], 1),
        # Ties go to the older trial.
        ("minimize", [(C, 0.5, ()), (C, 0.5, ())], 0),
    ],
)
def test_fitness_order(direction, population, expected) -> None:
    assert parent_among(direction, population) == expected


def test_the_estimator_ranks_pruned_trials() -> None:
    population = [(P, None, [4.0, 0.8]), (P, None, [1.0, 1.0])]
    assert parent_among("maximize", population, estimator=SoTLE(1)) == 0
    assert parent_among("maximize", population, estimator=SoTL()) == 1


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_population_is_the_most_recent_finished_trials(make_study, direction) -> None:
    sampler = RegularizedEvolutionSampler(population_size=3, tournament_size=3, seed=0)
    study = make_study(direction=direction, sampler=sampler)
    best_old, worst_old = (10.0, -10.0) if direction == "maximize" else (-10.0, 10.0)
    add(study, C, 0.0, value=best_old)  # 0: the best trial, but aged out
    add(study, C, 0.1, value=best_old)  # 1: aged out
    add(study, C, 0.2, value=1.0)  # 2
    add(study, TrialState.FAIL, 0.3)  # 3: not a member
    add(study, C, 0.4, value=2.0)  # 4
    add(study, P, 0.5, losses=[0.1])  # 5
    study.ask()  # 6: running, not a member
    add(study, C, 0.7, value=3.0)  # 7
    # Members: 4, 5 and 7.
    assert child_parent(study) == (7 if direction == "maximize" else 4)
    add(study, C, 0.9, value=worst_old)  # 9 (8 was the child, told FAIL)
    # Members: 5, 7 and 9.
    assert child_parent(study) == 7


def test_first_population_size_trials_are_random_then_children_of_one_mutation() -> None:
    sampler = RegularizedEvolutionSampler(population_size=6, tournament_size=3, seed=1)
    study = optuna.create_study(
        direction="maximize", sampler=sampler, pruner=SoTLPruner(n_startup_trials=2)
    )
    study.optimize(mixed_objective, n_trials=30)

    trials = study.trials
    lineage = lineage_of(study)
    assert sorted(lineage) == list(range(6, 30))
    assert {t.state for t in trials} == {TrialState.COMPLETE, TrialState.PRUNED}
    for number, record in lineage.items():
        child, parent = trials[number], trials[record["parent"]]
        assert parent.state in (TrialState.COMPLETE, TrialState.PRUNED)
        assert record["parent"] < number
        changed = [name for name in DISTRIBUTIONS if child.params[name] != parent.params[name]]
        assert changed == [record["mutated"]]
        assert all(contains(DISTRIBUTIONS[name], child.params[name]) for name in DISTRIBUTIONS)
    assert len({record["mutated"] for record in lineage.values()}) >= 5


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_mutation_changes_the_value_within_the_distribution(name) -> None:
    distribution = DISTRIBUTIONS[name]
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(300):
        value = sample_uniform(distribution, rng)
        assert contains(distribution, value)
        mutated = mutate(distribution, value, rng)
        assert mutated != value
        assert contains(distribution, mutated)
        assert type(mutated) is type(value) or name == "categorical"
        seen.add(mutated)
    if isinstance(distribution, CategoricalDistribution):
        assert len(seen) == len(distribution.choices)
    elif name == "int":
        assert seen == set(range(11))
    elif name == "int_step":
        assert seen == {1, 4, 7, 10, 13}
    elif name == "float_step":
        assert seen == {0.0, 0.25, 0.5, 0.75, 1.0}
    elif name == "int_log_two":
        assert seen == {4, 5}
    else:
        assert len(seen) > 50


def test_log_distributions_are_mutated_log_uniformly() -> None:
    rng = np.random.default_rng(0)
    values = [mutate(DISTRIBUTIONS["float_log"], 0.5, rng) for _ in range(2000)]
    below = sum(v < 1e-3 for v in values) / len(values)
    assert 0.33 < below < 0.47  # 2 of the 5 decades


def test_same_seed_same_sequence_and_another_seed_another() -> None:
    def run(seed: int) -> tuple[list[dict], dict]:
        sampler = RegularizedEvolutionSampler(population_size=5, tournament_size=2, seed=seed)
        study = optuna.create_study(
            direction="maximize", sampler=sampler, pruner=SoTLPruner(n_startup_trials=2)
        )
        study.optimize(mixed_objective, n_trials=25)
        return [t.params for t in study.trials], lineage_of(study)

    first, again, other = run(11), run(11), run(12)
    assert first == again
    assert first[0] != other[0]


def test_reseed_rng_gives_a_new_sequence() -> None:
    def params(sampler) -> list[dict]:
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(mixed_objective, n_trials=4)
        return [t.params for t in study.trials]

    reseeded = RegularizedEvolutionSampler(population_size=3, tournament_size=2, seed=5)
    reseeded.reseed_rng()
    assert params(reseeded) != params(RegularizedEvolutionSampler(3, 2, seed=5))


def test_parameters_the_parent_lacks_or_cannot_give_are_sampled_at_random() -> None:
    sampler = RegularizedEvolutionSampler(population_size=2, tournament_size=2, seed=0)
    study = optuna.create_study(sampler=sampler)
    for x in (0.8, 0.9):
        add(study, C, x, value=x)

    trial = study.ask()
    x = trial.suggest_float("x", 0.0, 1.0)
    y = trial.suggest_int("y", 0, 100)
    study.tell(trial, x)
    record = study.trials[-1].system_attrs[PARENT_ATTR]
    assert record == {"parent": 0, "mutated": "x"}  # "x" was the only parameter to mutate
    assert x != 0.8 and 0 <= y <= 100

    # Whatever the mutation gives, it is outside the child's range: drawn in that range instead.
    sampler = RegularizedEvolutionSampler(population_size=1, tournament_size=1, seed=0)
    study = optuna.create_study(sampler=sampler)
    study.add_trial(
        optuna.create_trial(
            value=1.0, params={"n": 9}, distributions={"n": IntDistribution(0, 10)}
        )
    )
    values = []
    for _ in range(5):
        trial = study.ask()
        values.append(trial.suggest_int("n", 20, 30))
        study.tell(trial, state=TrialState.FAIL)
    assert all(20 <= n <= 30 for n in values) and len(set(values)) > 1


def test_cooperates_with_hyperband_brackets() -> None:
    sampler = RegularizedEvolutionSampler(population_size=5, tournament_size=3, seed=0)
    pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=4, reduction_factor=2)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    study.optimize(mixed_objective, n_trials=20)
    trials = study.trials
    for number, record in lineage_of(study).items():
        parent = trials[record["parent"]]
        changed = [n for n in DISTRIBUTIONS if trials[number].params[n] != parent.params[n]]
        assert changed == [record["mutated"]]
    assert len(lineage_of(study)) == 15


def test_multi_objective_studies_are_refused() -> None:
    study = optuna.create_study(
        directions=["maximize", "minimize"], sampler=RegularizedEvolutionSampler(2, 1, seed=0)
    )
    with pytest.raises(ValueError, match="multi-objective"):
        study.ask().suggest_float("x", 0.0, 1.0)


@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        ({"population_size": 0}, ValueError, "population_size=0"),
        ({"population_size": 2.0}, TypeError, "population_size"),
        ({"tournament_size": 0}, ValueError, "tournament_size=0"),
        ({"population_size": 3, "tournament_size": 4}, ValueError, "tournament_size=4"),
        ({"seed": -1}, ValueError, "seed=-1"),
        ({"seed": True}, TypeError, "seed"),
        ({"seed": 1.5}, TypeError, "seed"),
        ({"estimator": "sotl"}, TypeError, "estimator"),
        ({"estimator": SoVL()}, ValueError, "estimator"),
    ],
)
def test_invalid_arguments(kwargs, error, fragment) -> None:
    with pytest.raises(error, match=fragment):
        RegularizedEvolutionSampler(**kwargs)


def test_defaults() -> None:
    sampler = RegularizedEvolutionSampler()
    assert (sampler.population_size, sampler.tournament_size) == (20, 5)
    assert isinstance(sampler.estimator, SoTLE) and sampler.estimator.window == 1


WORKER = """
import sys
import optuna
from optuna_sotl import RegularizedEvolutionSampler
from optuna_sotl import SoTLPruner

def objective(trial):
    kind = trial.suggest_categorical("kind", ["a", "b", "c"])
    n = trial.suggest_int("n", 1, 64, log=True)
    x = trial.suggest_float("x", 0.0, 1.0)
    rate = 0.05 + 0.1 * (kind == "b") + 0.002 * n + 0.1 * x
    loss = 2.0
    for epoch in range(3):
        loss *= 1.0 - rate
        trial.report(loss, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return 1.0 - loss / 2.0

optuna.logging.set_verbosity(optuna.logging.WARNING)
url, name, n_trials = sys.argv[1], sys.argv[2], int(sys.argv[3])
sampler = RegularizedEvolutionSampler(population_size=6, tournament_size=3, seed=0)
study = optuna.load_study(
    study_name=name, storage=url, sampler=sampler, pruner=SoTLPruner(n_startup_trials=2)
)
study.optimize(objective, n_trials=n_trials)
"""


def test_four_worker_processes_on_postgresql_account_for_every_trial() -> None:
    require_server("PostgreSQL", "127.0.0.1", 5432)
    name = f"optuna-sotl-test-re-{uuid.uuid4().hex[:12]}"
    storage = optuna.storages.RDBStorage(POSTGRES_URL)
    optuna.create_study(study_name=name, storage=storage, direction="maximize")
    try:
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, POSTGRES_URL, name, "10"],
                cwd=REPO_ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for _ in range(4)
        ]
        outputs = [worker.communicate(timeout=120)[0].decode() for worker in workers]
        assert [worker.returncode for worker in workers] == [0] * 4, outputs

        trials = optuna.load_study(study_name=name, storage=storage).trials
        assert len(trials) == 40
        assert sorted(t.number for t in trials) == list(range(40))
        assert {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.PRUNED}
        lineage = {
            t.number: t.system_attrs[PARENT_ATTR] for t in trials if PARENT_ATTR in t.system_attrs
        }
        # A trial is created once its worker's previous one finished: a population always exists.
        assert sorted(lineage) == list(range(6, 40))
        for number, record in lineage.items():
            assert number >= 6
            parent = trials[record["parent"]]
            changed = [
                n for n in ("kind", "n", "x") if trials[number].params[n] != parent.params[n]
            ]
            assert changed == [record["mutated"]]
        assert {t.state for t in trials} == {TrialState.COMPLETE, TrialState.PRUNED}
    finally:
        optuna.delete_study(study_name=name, storage=storage)
        storage.engine.dispose()
