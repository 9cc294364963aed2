"""The replay on a search space that is not NAS-Bench-201's: dimensions with different numbers of
choices (one of them a single value), value strings that are not operations, hyperparameter names
as "edges" (as the held-out tabular set of benchmarks/make_heldout_curves.py has)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import optuna
import pytest

from optuna_sotl.curves import load_curves
from optuna_sotl.curves._replay import fast_replay
from optuna_sotl.curves._replay import MISSING
from optuna_sotl.curves._replay import PrunerSpec
from optuna_sotl.curves._replay import ReplayData
from optuna_sotl.curves._replay import SamplerSpec
from optuna_sotl.curves._search import optuna_replay
from optuna_sotl.curves._search_configs import PRUNERS


# 4 * 2 * 1 * 3 = 24 configurations; "fixed" has a single value, so it is never mutated.
SPACE = (
    ("width", ("16", "64", "256", "1024")),
    ("activation", ("relu", "tanh")),
    ("fixed", ("adam",)),
    ("lr", ("0.0003", "0.001", "0.01")),
)


def _write(tmp_path: Path, n_epochs: int = 10, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    ops = np.array(list(itertools.product(*(values for _, values in SPACE))))
    n = len(ops)
    quality = rng.permutation(n) / n
    epochs = np.arange(1, n_epochs + 1)
    train_loss = (2.0 - quality[:, None]) * np.exp(-epochs[None, :] / 4) + 0.1
    train_loss += 0.05 * rng.standard_normal(train_loss.shape)
    val_acc = 100 * (1 - (train_loss + 0.2) / 3)
    path = tmp_path / "mixed.npz"
    np.savez(
        path,
        ops=ops,
        edges=np.array([name for name, _ in SPACE]),
        train_loss=train_loss.astype(np.float32),
        val_loss=(train_loss + 0.2).astype(np.float32),
        val_acc=val_acc.astype(np.float32),
        test_acc=(50 + 40 * quality).astype(np.float32),
    )
    return path


def test_space_of_a_mixed_file_has_each_dimensions_own_choices(tmp_path: Path) -> None:
    data = ReplayData(load_curves(_write(tmp_path)))
    data.build_space()
    assert data.edges == tuple(name for name, _ in SPACE)
    assert [len(choices) for choices in data.choices] == [4, 2, 1, 3]
    assert sorted(data.choices[0]) == sorted(SPACE[0][1])
    assert len(data.rows) == 24  # every configuration is one distinct row


@pytest.mark.parametrize("kind", ["none", "sotl", "sotl-sha", "sotl-hyperband"])
@pytest.mark.parametrize("seed", [0, 1])
def test_regularized_evolution_on_a_mixed_space_matches_the_real_sampler(
    tmp_path: Path, kind: str, seed: int
) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    curves = load_curves(_write(tmp_path, seed=seed))
    data = ReplayData(curves)
    sampler = SamplerSpec("re", population_size=6, tournament_size=3)
    pruner = PrunerSpec("none") if kind == "none" else PRUNERS[kind]
    fast = fast_replay(data, sampler, pruner, seed, budget=400, log=True)
    assert fast.log is not None
    real = optuna_replay(curves, sampler, pruner, seed, 400)
    assert real == fast.log
    # The whole space is in the file: no proposal leaves it, and evolution ran past its
    # random start (more trials than the population).
    assert all(state != MISSING for _, state, _ in fast.log)
    assert len(fast.log) > 2 * sampler.population_size


def test_mutation_changes_one_dimension_with_more_than_one_choice(tmp_path: Path) -> None:
    data = ReplayData(load_curves(_write(tmp_path)))
    sampler = SamplerSpec("re", population_size=6, tournament_size=3)
    fast = fast_replay(data, sampler, PrunerSpec("none"), 3, budget=400, log=True)
    assert fast.log is not None
    archs = [data.arch_of_row[row] for row, _, _ in fast.log]
    children = archs[sampler.population_size :]
    # Every child is one mutation away from some earlier architecture (its parent; it may also
    # revisit another one), and "fixed" keeps its only value.
    for i, child in enumerate(children, start=sampler.population_size):
        distances = [sum(a != b for a, b in zip(child, parent)) for parent in archs[:i]]
        assert 1 in distances
        assert child[2] == 0
