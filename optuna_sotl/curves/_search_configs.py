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
    # The report mode whose intermediate values the sampler knows how to read (None: any). Such a
    # sampler is paired only with pruners of that mode and with the "baseline" (nothing pruned).
    report: ReportMode | None = None

    def pairs_with(self, pruner: PrunerEntry) -> bool:
        return self.report is None or pruner.family == "baseline" or pruner.report == self.report


@dataclasses.dataclass(frozen=True)
class PrunerEntry:
    name: str
    factory: Callable[[int], optuna.pruners.BasePruner]  # number of epochs -> pruner
    report: ReportMode
    family: PrunerFamily
    description: str = ""
    # The Optuna pruner a "sotl" entry replaces (its like-for-like row in the report).
    counterpart: str | None = None


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """One compared configuration: a sampler entry and a pruner entry.

    Example:

        .. code-block:: python

            from optuna_sotl.curves import search_configs

            (config,) = search_configs(["tpe/sotl"])
            sampler, pruner, report = config.build(seed=0, n_epochs=100)
            assert report == "train_loss"
    """

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
    name: str,
    factory: Callable[[int], optuna.samplers.BaseSampler],
    description: str = "",
    report: ReportMode | None = None,
) -> None:
    """Add a sampler entry; ``factory(seed)`` returns a fresh sampler seeded with ``seed``.

    ``report``: the report mode the sampler reads intermediate values in (``None``: any); it is
    then crossed only with the pruners of that mode and the baseline.
    """
    _check_name(name, SAMPLERS)
    if report not in (None, "val_metric", "train_loss"):
        raise ValueError(f"report must be None, 'val_metric' or 'train_loss', got {report!r}.")
    SAMPLERS[name] = SamplerEntry(name, factory, description, report)


def register_pruner(
    name: str,
    factory: Callable[[int], optuna.pruners.BasePruner],
    report: ReportMode,
    family: PrunerFamily,
    description: str = "",
    counterpart: str | None = None,
) -> None:
    """Add a pruner entry; ``factory(n_epochs)`` returns a fresh pruner for curves that long.

    ``counterpart``: for a ``"sotl"`` entry, the name of the Optuna pruner entry it stands in
    for (``"sotl-sha"`` for ``"sha"``); the report compares the two with the same sampler.
    """
    _check_name(name, PRUNERS)
    if report not in ("val_metric", "train_loss"):
        raise ValueError(f"report must be 'val_metric' or 'train_loss', got {report!r}.")
    if family not in ("baseline", "optuna", "sotl"):
        raise ValueError(f"family must be 'baseline', 'optuna' or 'sotl', got {family!r}.")
    PRUNERS[name] = PrunerEntry(name, factory, report, family, description, counterpart)


def _check_name(name: str, registry: dict[str, object]) -> None:
    if not isinstance(name, str) or not name or "/" in name or "," in name:
        raise ValueError(f"name must be a non-empty string without '/' or ',', got {name!r}.")
    if name in registry:
        raise ValueError(f"name {name!r} is already registered.")


def search_configs(names: Sequence[str] | None = None) -> list[SearchConfig]:
    """The configurations named ``"<sampler>/<pruner>"`` (default: every pair that fits).

    A pair fits unless the sampler reads intermediate values of one report mode and the pruner
    reports another (see :func:`register_sampler`); default order: sampler-major.
    """
    everything = [
        SearchConfig(sampler, pruner)
        for sampler in SAMPLERS.values()
        for pruner in PRUNERS.values()
        if sampler.pairs_with(pruner)
    ]
    if names is None:
        return everything
    by_name = {config.name: config for config in everything}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise ValueError(
            f"unknown or mismatched configurations {unknown}; known: {sorted(by_name)}."
        )
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


def _tpe_sotl(seed: int) -> optuna.samplers.BaseSampler:
    from optuna_sotl import SoTLSampler

    # The same TPE, seeing pruned trials ranked by SoTL-E (E=1) in the study's direction.
    return SoTLSampler(_tpe(seed))


def _regularized_evolution(seed: int) -> optuna.samplers.BaseSampler:
    from optuna_sotl import RegularizedEvolutionSampler

    # S/P = 1/4 as in Real et al. 2019 (P=100, S=25), scaled to a budget of ~100 full trainings.
    return RegularizedEvolutionSampler(population_size=20, tournament_size=5, seed=seed)


# Both read every intermediate value as a training loss: pair them with the "none" (nothing
# pruned) and "train_loss" pruners; with a "val_metric" pruner they would rank pruned trials by
# an accuracy read as a loss.
register_sampler(
    "tpe-sotl", _tpe_sotl, "SoTLSampler(TPESampler (Optuna defaults))", report="train_loss"
)
register_sampler(
    "re",
    _regularized_evolution,
    "RegularizedEvolutionSampler(population_size=20, tournament_size=5)",
    report="train_loss",
)

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
    counterpart="median",
)


def _sotl_sha(n_epochs: int) -> optuna.pruners.BasePruner:
    from optuna_sotl import SoTLSuccessiveHalvingPruner

    # Optuna's "sha" entry uses SuccessiveHalvingPruner's defaults; so does this one.
    return SoTLSuccessiveHalvingPruner()


def _sotl_hyperband(n_epochs: int) -> optuna.pruners.BasePruner:
    from optuna_sotl import SoTLHyperbandPruner

    # The arguments of Optuna's "hyperband" entry, so that both draw the same brackets.
    return SoTLHyperbandPruner(min_resource=1, max_resource=n_epochs, reduction_factor=3)


register_pruner(
    "sotl-sha",
    _sotl_sha,
    "train_loss",
    "sotl",
    "SoTLSuccessiveHalvingPruner() (SoTL-E, E=1) on the training loss via SoTLReporter",
    counterpart="sha",
)
register_pruner(
    "sotl-hyperband",
    _sotl_hyperband,
    "train_loss",
    "sotl",
    "SoTLHyperbandPruner(1, epochs, 3) (SoTL-E, E=1) on the training loss via SoTLReporter",
    counterpart="hyperband",
)


def _sotl_self_calibrating(n_epochs: int) -> optuna.pruners.BasePruner:
    from optuna_sotl import SelfCalibratingEstimator
    from optuna_sotl import SoTLPruner

    # SoTLPruner's defaults; only the signal differs: chosen at each step from the complete trials.
    return SoTLPruner(estimator=SelfCalibratingEstimator())


register_pruner(
    "sotl-auto",
    _sotl_self_calibrating,
    "train_loss",
    "sotl",
    "SoTLPruner(estimator=SelfCalibratingEstimator()) (50th percentile) on the training loss "
    "and the recorded validation accuracy via SoTLReporter",
    counterpart="median",
)
