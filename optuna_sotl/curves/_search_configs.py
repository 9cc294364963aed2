"""The sampler × pruner configurations compared by the replayed search, as two small registries.

A configuration is a sampler entry crossed with a pruner entry, named ``"<sampler>/<pruner>"``.
Adding a pruner (a successive-halving or Hyperband variant on SoTL, a self-calibrating estimator)
or a sampler (a wrapper that ranks pruned trials by their training loss, regularised evolution) is
one :func:`register_pruner` / :func:`register_sampler` call here; it is crossed with every entry
of the other registry, and the report and plot pick it up by name.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import dataclasses
from typing import Literal

import optuna


#: How a trial reports each epoch. ``"val_metric"``: ``trial.report(val_acc, epoch)`` then
#: ``trial.should_prune()``, how Optuna's pruners are fed today. ``"train_loss"``: the epoch's
#: training loss through :class:`~optuna_sotl.SoTLReporter` (validation results as attributes).
ReportMode = Literal["val_metric", "train_loss"]

#: ``"baseline"`` (no pruning), ``"optuna"`` (Optuna's own pruners) or ``"sotl"`` (this package's);
#: the report compares the best ``"sotl"`` configuration with the best ``"optuna"`` one.
PrunerFamily = Literal["baseline", "optuna", "sotl"]


@dataclasses.dataclass(frozen=True)
class SamplerEntry:
    name: str
    factory: Callable[[int], optuna.samplers.BaseSampler]  # seed -> sampler
    description: str = ""


@dataclasses.dataclass(frozen=True)
class PrunerEntry:
    name: str
    factory: Callable[[int], optuna.pruners.BasePruner]  # number of epochs -> pruner
    report: ReportMode
    family: PrunerFamily
    description: str = ""


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """One compared configuration: a sampler entry and a pruner entry."""

    sampler: SamplerEntry
    pruner: PrunerEntry

    @property
    def name(self) -> str:
        return f"{self.sampler.name}/{self.pruner.name}"

    @property
    def report(self) -> ReportMode:
        return self.pruner.report

    @property
    def family(self) -> PrunerFamily:
        return self.pruner.family

    def build(
        self, seed: int, n_epochs: int
    ) -> tuple[optuna.samplers.BaseSampler, optuna.pruners.BasePruner, ReportMode]:
        return self.sampler.factory(seed), self.pruner.factory(n_epochs), self.pruner.report


SAMPLERS: dict[str, SamplerEntry] = {}
PRUNERS: dict[str, PrunerEntry] = {}


def register_sampler(
    name: str, factory: Callable[[int], optuna.samplers.BaseSampler], description: str = ""
) -> None:
    """Add a sampler entry; ``factory(seed)`` returns a fresh sampler seeded with ``seed``."""
    _check_name(name, SAMPLERS)
    SAMPLERS[name] = SamplerEntry(name, factory, description)


def register_pruner(
    name: str,
    factory: Callable[[int], optuna.pruners.BasePruner],
    report: ReportMode,
    family: PrunerFamily,
    description: str = "",
) -> None:
    """Add a pruner entry; ``factory(n_epochs)`` returns a fresh pruner for curves that long."""
    _check_name(name, PRUNERS)
    if report not in ("val_metric", "train_loss"):
        raise ValueError(f"report must be 'val_metric' or 'train_loss', got {report!r}.")
    if family not in ("baseline", "optuna", "sotl"):
        raise ValueError(f"family must be 'baseline', 'optuna' or 'sotl', got {family!r}.")
    PRUNERS[name] = PrunerEntry(name, factory, report, family, description)


def _check_name(name: str, registry: dict[str, object]) -> None:
    if not isinstance(name, str) or not name or "/" in name or "," in name:
        raise ValueError(f"name must be a non-empty string without '/' or ',', got {name!r}.")
    if name in registry:
        raise ValueError(f"name {name!r} is already registered.")


def search_configs(names: Sequence[str] | None = None) -> list[SearchConfig]:
    """The configurations named ``"<sampler>/<pruner>"`` (default: every pair, sampler-major)."""
    everything = [
        SearchConfig(sampler, pruner) for sampler in SAMPLERS.values() for pruner in PRUNERS.values()
    ]
    if names is None:
        return everything
    by_name = {config.name: config for config in everything}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise ValueError(f"unknown configurations {unknown}; known: {sorted(by_name)}.")
    if len(set(names)) != len(names):
        raise ValueError(f"configurations must not repeat, got {list(names)}.")
    return [by_name[name] for name in names]


def _tpe(seed: int) -> optuna.samplers.BaseSampler:
    # Optuna's defaults (independent TPE, 10 start-up trials): what a user gets today.
    return optuna.samplers.TPESampler(seed=seed)


def _sotl_pruner(n_epochs: int) -> optuna.pruners.BasePruner:
    from optuna_sotl import SoTLPruner

    return SoTLPruner()


register_sampler("random", lambda seed: optuna.samplers.RandomSampler(seed=seed), "RandomSampler")
register_sampler("tpe", _tpe, "TPESampler (Optuna defaults)")

register_pruner(
    "none", lambda n_epochs: optuna.pruners.NopPruner(), "val_metric", "baseline", "no pruning"
)
register_pruner(
    "median",
    lambda n_epochs: optuna.pruners.MedianPruner(),
    "val_metric",
    "optuna",
    "MedianPruner() on the validation metric",
)
register_pruner(
    "sha",
    lambda n_epochs: optuna.pruners.SuccessiveHalvingPruner(),
    "val_metric",
    "optuna",
    "SuccessiveHalvingPruner() on the validation metric",
)
register_pruner(
    "hyperband",
    # Optuna's documented set-up: min_resource=1, max_resource=the epochs, reduction_factor=3.
    lambda n_epochs: optuna.pruners.HyperbandPruner(
        min_resource=1, max_resource=n_epochs, reduction_factor=3
    ),
    "val_metric",
    "optuna",
    "HyperbandPruner(1, epochs, 3) on the validation metric",
)
register_pruner(
    "sotl",
    _sotl_pruner,
    "train_loss",
    "sotl",
    "SoTLPruner() (SoTL-E, E=1, 50th percentile) on the training loss via SoTLReporter",
)
