"""Samplers of the replay: uniform rows paired by seed, or regularised evolution draw for draw."""

from __future__ import annotations

from collections.abc import Callable
import math

import numpy as np

from optuna_sotl.curves._replay_data import COMPLETE
from optuna_sotl.curves._replay_data import MISSING
from optuna_sotl.curves._replay_data import PRUNED
from optuna_sotl.curves._replay_data import ReplayData


# ---------------------------------------------------------------------------------------------
# Samplers: random rows, or regularised evolution exactly as RegularizedEvolutionSampler draws.


class _RandomRows:
    """Seed k proposes the same rows in the same order under every pruner (paired runs)."""

    def __init__(self, data: ReplayData, seed: int) -> None:
        self._rng = np.random.default_rng([seed, 0x5EA])
        self._n = data.n_archs
        self._buffer: list[int] = []
        self._position = 0

    def propose(self, number: int) -> int:
        if self._position == len(self._buffer):
            self._buffer = self._rng.integers(self._n, size=4096).tolist()
            self._position = 0
        self._position += 1
        return self._buffer[self._position - 1]

    def tell(self, number: int, row: int, state: int, last_step: int) -> None:
        pass


class _RegularizedEvolution:
    """:class:`~optuna_sotl.RegularizedEvolutionSampler` on the file's categorical space.

    The same random streams (seed, trial number, purpose) and fitness order, so with
    ``RegularizedEvolutionSampler(P, S, seed=k)`` a real study proposes the same architectures.
    Pruned trials rank by the pruner's own signal at their last step: the training loss
    (SoTL-E, E=1) for this package's pruners, as the real sampler; the val metric for Optuna's
    (the real sampler would read it as a loss). Under a Hyperband pruner the population is the
    trial's bracket.
    """

    def __init__(
        self, data: ReplayData, seed: int, population: int, tournament: int, signal: str,
        bracket_of: Callable[[int], int] | None = None,
    ) -> None:
        data.build_space()
        self._data, self._seed = data, seed
        self._population, self._tournament = population, tournament
        self._bracket_of = bracket_of
        self._signal = signal
        self._arch: dict[int, tuple[int, ...]] = {}
        self._key: dict[int, tuple] = {}
        self._finished: dict[int, list[int]] = {}
        self._sorted_names = sorted(range(len(data.edges)), key=lambda j: data.edges[j])
        self._mutable = [j for j in self._sorted_names if len(data.choices[j]) > 1]

    def propose(self, number: int) -> int:
        arch = self._sample(number)
        self._arch[number] = arch
        return self._data.rows.get(arch, -1)

    def _sample(self, number: int) -> tuple[int, ...]:
        parent = self._select_parent(number)
        data = self._data
        if parent is None:
            arch = []
            for j, choices in enumerate(data.choices):
                rng = np.random.default_rng([self._seed, number, 2, data.name_crc[j]])
                arch.append(int(rng.integers(len(choices))))
            return tuple(arch)
        arch = list(self._arch[parent])
        if self._mutable:
            rng = np.random.default_rng([self._seed, number, 1])
            j = self._mutable[int(rng.integers(len(self._mutable)))]
            other = int(rng.integers(len(data.choices[j]) - 1))
            arch[j] = other + 1 if other >= arch[j] else other
        return tuple(arch)

    def _select_parent(self, number: int) -> int | None:
        if number < self._population:
            return None
        bracket = 0 if self._bracket_of is None else self._bracket_of(number)
        population = self._finished.get(bracket, [])[-self._population :]
        if not population:
            return None
        rng = np.random.default_rng([self._seed, number, 0])
        size = min(self._tournament, len(population))
        picked = sorted(rng.choice(len(population), size=size, replace=False).tolist())
        return min((population[i] for i in picked), key=self._key.__getitem__)

    def tell(self, number: int, row: int, state: int, last_step: int) -> None:
        data = self._data
        if state == COMPLETE:
            value = data.final_val[row]
            key: tuple = (0, -value if data.higher else value, number)
        elif state == MISSING:
            key = (1, 1, math.inf, number)
        elif state == PRUNED:
            if self._signal == "train_loss":
                loss = data.train_loss[row, last_step]
                score = float(loss) if math.isfinite(loss) else math.inf
            else:
                value = data.val[row, last_step]
                score = -value if data.higher else value
                score = float(score) if math.isfinite(score) else math.inf
            key = (1, -last_step, score, number)
        else:
            return  # FAIL: not a population member
        self._key[number] = key
        bracket = 0 if self._bracket_of is None else self._bracket_of(number)
        self._finished.setdefault(bracket, []).append(number)
