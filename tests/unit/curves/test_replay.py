"""Differential test: the fast replay against real Optuna studies with the real pruner classes.

For several seeds of every pruner kind (small budgets), both make the same decision for every
trial at every step: each trial proposes the same architecture and stops (pruned, complete or
cut off by the budget) at the same step.
"""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from optuna_sotl.curves import load_curves
from optuna_sotl.curves._replay import fast_replay
from optuna_sotl.curves._replay import PrunerSpec
from optuna_sotl.curves._replay import ReplayData
from optuna_sotl.curves._replay import SamplerSpec
from optuna_sotl.curves._search import optuna_replay
from optuna_sotl.curves._search_configs import PRUNERS
from tests.conftest import data_path


def _data_path() -> str:
    # The module-scoped fixture below cannot take the function-scoped ``spikenas_path``.
    return str(data_path("spikenas_cifar10.npz"))


@pytest.fixture(scope="module")
def subset():
    """The file's architectures with their first 30 epochs (short curves: quick real studies)."""
    import dataclasses

    curves = load_curves(_data_path())

    fields = {}
    for field in dataclasses.fields(curves):
        value = getattr(curves, field.name)
        if isinstance(value, np.ndarray) and value.ndim == 2 and field.name != "ops":
            value = value[:, :30]  # every rung kind still has several rungs
        fields[field.name] = value
    return dataclasses.replace(curves, **fields)


KINDS = {
    "none": PrunerSpec("none"),
    "median": PRUNERS["median"],
    "median-w5": PRUNERS["median-w5"],
    "sha": PRUNERS["sha"],
    "sha-r2-e3": PRUNERS["sha-r2-e3"],
    "hyperband": PrunerSpec("hyperband", (("min_resource", 1), ("reduction_factor", 3))),
    "sotl": PRUNERS["sotl"],
    "sotl-w5-p25": PrunerSpec("sotl", (("n_warmup_steps", 5), ("percentile", 25.0))),
    "sotl-sum": PrunerSpec("sotl", (("estimator", "sotl"),)),
    "sotl-ema": PrunerSpec("sotl", (("estimator", "ema0.9"),)),
    "sotl-sha": PRUNERS["sotl-sha"],
    "sotl-sha-r2-e2-sotl": PrunerSpec(
        "sotl-sha", (("min_resource", 2), ("reduction_factor", 2), ("estimator", "sotl"))
    ),
    "sotl-sha-r1-e3-ema": PrunerSpec(
        "sotl-sha", (("min_resource", 1), ("reduction_factor", 3), ("estimator", "ema0.9"))
    ),
    "sotl-hyperband": PrunerSpec("sotl-hyperband", (("min_resource", 1), ("reduction_factor", 3))),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_sampling_same_decisions(subset, kind: str, seed: int) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = ReplayData(subset)
    pruner = KINDS[kind]
    fast = fast_replay(data, SamplerSpec("random"), pruner, seed, budget=1500, log=True)
    rows = [row for row, _, _ in fast.log]
    real = optuna_replay(subset, SamplerSpec("random"), pruner, seed, 1500, proposals=rows)
    assert real == fast.log
    # The comparison means something: trials were pruned (except "none") and completed.
    states = [state for _, state, _ in fast.log]
    assert states.count(0) >= 1
    assert kind == "none" or states.count(1) >= 5


@pytest.mark.parametrize(
    "kind", ["none", "sotl", "sotl-sha", "sotl-sha-r2-e2-sotl", "sotl-hyperband"]
)
@pytest.mark.parametrize("seed", [0, 1])
def test_regularized_evolution_same_proposals_and_decisions(subset, kind: str, seed: int) -> None:
    # The replay's evolution against the real RegularizedEvolutionSampler: same streams, same
    # fitness order, so the same architectures (missing ones included) and the same stops.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = ReplayData(subset)
    sampler = SamplerSpec("re", population_size=10, tournament_size=3)
    fast = fast_replay(data, sampler, KINDS[kind], seed, budget=1500, log=True)
    real = optuna_replay(subset, sampler, KINDS[kind], seed, 1500)
    assert real == fast.log
    assert sum(1 for row, _, _ in fast.log if row < 0) >= 1  # mutations left the file


@pytest.mark.parametrize("kind", ["median", "sha", "hyperband"])
def test_regularized_evolution_with_optuna_pruners_same_decisions(subset, kind: str) -> None:
    # Optuna's pruners read val_acc, which the real sampler would rank as a loss: the pruner
    # decisions are compared on the replay's own proposals.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = ReplayData(subset)
    sampler = SamplerSpec("re", population_size=10, tournament_size=3)
    fast = fast_replay(data, sampler, KINDS[kind], 3, budget=1500, log=True)
    rows = [row for row, _, _ in fast.log]
    real = optuna_replay(subset, SamplerSpec("random"), KINDS[kind], 3, 1500, proposals=rows)
    assert real == fast.log
