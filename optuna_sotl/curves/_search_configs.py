"""The sampler × pruner configurations the replayed search compares, by name.

A configuration is ``"<sampler>/<pruner>"``. Pruner names spell their shape, so that Optuna's
pruners fed the validation accuracy run with every shape tried for this package's pruners (a
baseline is never weaker than what is tuned): ``sha-r4-e3`` is a successive halving with first
rung at step 4 and reduction factor 3, ``sotl-sha-r4-e3-sotl`` the same shape ranking by SoTL;
``default`` stands for the class's own default. Estimators: ``sotl-e`` (SoTL-E, E=1), ``sotl``
(the sum), ``ema0.9`` (SoTL-EMA, gamma 0.9).
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses

from optuna_sotl.curves._replay import PrunerSpec
from optuna_sotl.curves._replay import SamplerSpec


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """One compared configuration: a sampler and a pruner.

    Example:

        .. code-block:: python

            from optuna_sotl.curves import search_configs

            (config,) = search_configs(["random/sotl-sha"])
            assert config.pruner.report == "train_loss"
    """

    name: str
    sampler: SamplerSpec
    pruner: PrunerSpec
    pruner_name: str
    sampler_name: str

    @property
    def family(self) -> str:
        return self.pruner.family

    @property
    def report(self) -> str:
        return self.pruner.report


SAMPLERS: dict[str, SamplerSpec] = {
    "random": SamplerSpec("random"),
    "re": SamplerSpec("re", population_size=20, tournament_size=5),
    "tpe": SamplerSpec("tpe"),
}

#: Shapes (first rung step, reduction factor) tried for successive halving, for both families.
SHAPES: tuple[tuple[int, int], ...] = tuple((r, eta) for r in (1, 2) for eta in (2, 3, 4))
ESTIMATORS: tuple[str, ...] = ("sotl-e", "sotl", "ema0.9")
WARMUPS: tuple[int, ...] = (0, 5)
SPARE_EVERY: tuple[int, ...] = (20, 50)
SPARE_SHARES: tuple[float, ...] = (0.1, 0.2, 0.3)


def _pruners() -> dict[str, PrunerSpec]:
    pruners: dict[str, PrunerSpec] = {"none": PrunerSpec("none")}
    # Optuna's pruners at their defaults (Hyperband: its documented set-up for 100 epochs).
    pruners["median"] = PrunerSpec("median")
    pruners["sha"] = PrunerSpec("sha")
    pruners["hyperband"] = PrunerSpec("hyperband", (("min_resource", 1), ("reduction_factor", 3)))
    for warmup in WARMUPS[1:]:
        pruners[f"median-w{warmup}"] = PrunerSpec("median", (("n_warmup_steps", warmup),))
    for eta in (2, 3):  # the default "auto" first rung with the other factors
        pruners[f"sha-auto-e{eta}"] = PrunerSpec("sha", (("reduction_factor", eta),))
    for r, eta in SHAPES:
        pruners[f"sha-r{r}-e{eta}"] = PrunerSpec(
            "sha", (("min_resource", r), ("reduction_factor", eta))
        )
    # This package's pruners at the same defaults and shapes.
    pruners["sotl"] = PrunerSpec("sotl")
    # SoTLPruner()'s default before best-so-far: the metric at the step. Named here, before
    # the entries with the same arguments, so that saved runs of the old default read as it.
    pruners["sotl-at-step"] = PrunerSpec("sotl", (("estimator", "auto-sotl-e+sotl"),))
    pruners["sotl-sha"] = PrunerSpec("sotl-sha")
    # SoTLSuccessiveHalvingPruner()'s default before best-so-far: the metric at the rung.
    pruners["sotl-sha-at-rung"] = PrunerSpec("sotl-sha", (("estimator", "auto-metric-first"),))
    pruners["sotl-hyperband"] = PrunerSpec(
        "sotl-hyperband", (("min_resource", 1), ("reduction_factor", 3))
    )
    # SoTLHyperbandPruner as it was before spare_share=0.2 became its default.
    pruners["sotl-hyperband-unspared"] = PrunerSpec(
        "sotl-hyperband", (("min_resource", 1), ("reduction_factor", 3), ("spare_share", 0.0))
    )
    # Hyperband with SoTL-E, its default estimator until 0598e7e (sparing as the default does
    # since spare_share=0.2 became its default; unspared before).
    pruners["sotl-hyperband-sotl-e"] = PrunerSpec(
        "sotl-hyperband", (("min_resource", 1), ("reduction_factor", 3), ("estimator", "sotl-e"))
    )
    for warmup in WARMUPS[1:]:  # with SoTL, SoTLPruner's default until the calibrated one
        pruners[f"sotl-w{warmup}"] = PrunerSpec(
            "sotl", (("n_warmup_steps", warmup), ("estimator", "sotl"))
        )
    # The warm-up with SoTL-E, the estimator SoTLPruner had by default before SoTL.
    pruners["sotl-sotl-e-w5"] = PrunerSpec(
        "sotl", (("n_warmup_steps", 5), ("estimator", "sotl-e"))
    )
    # SoTLPruner with each estimator ("sotl-sotl": its default until the calibrated one).
    for estimator in ESTIMATORS:
        pruners[f"sotl-{estimator}"] = PrunerSpec("sotl", (("estimator", estimator),))
    for eta in (2, 3, 4):  # the "auto" first rung with SoTL-E (e3: the default until 0598e7e)
        pruners[f"sotl-sha-auto-e{eta}"] = PrunerSpec(
            "sotl-sha",
            (("min_resource", "auto"), ("reduction_factor", eta), ("estimator", "sotl-e")),
        )
    # The self-calibrating estimator (it adapts the signal to the study): SoTLPruner's defaults,
    # and successive halving at the "auto" first rung.
    # The priors of SelfCalibratingEstimator: "cal" SoTL-E, "cal-even" the rank mean,
    # "cal-metric" the metric (Hyperband's default; successive halving's until "cal-mfirst",
    # "metric-first", became it); "-sotl": SoTL as the loss score.
    for prior, suffix in (
        ("sotl-e", ""), ("even", "-even"), ("metric", "-metric"), ("metric-first", "-mfirst")
    ):
        pruners[f"sotl-cal{suffix}"] = PrunerSpec("sotl", (("estimator", f"auto-{prior}"),))
        pruners[f"sotl-cal{suffix}-sotl"] = PrunerSpec(
            "sotl", (("estimator", f"auto-{prior}+sotl"),)
        )
        pruners[f"sotl-hyperband-cal{suffix}"] = PrunerSpec(
            "sotl-hyperband",
            (("min_resource", 1), ("reduction_factor", 3), ("estimator", f"auto-{prior}")),
        )
        for eta in (3, 4):
            pruners[f"sotl-sha-cal{suffix}-e{eta}"] = PrunerSpec(
                "sotl-sha",
                (
                    ("min_resource", "auto"), ("reduction_factor", eta),
                    ("estimator", f"auto-{prior}"),
                ),
            )
    # The defaults with the estimator ranking by each trial's best metric so far
    # (metric_value="best-so-far"), as Optuna's percentile pruners read the judged trial.
    pruners["sotl-best"] = PrunerSpec("sotl", (("estimator", "auto-sotl-e+sotl@best"),))
    pruners["sotl-sha-best"] = PrunerSpec(
        "sotl-sha", (("estimator", "auto-metric-first@best"),)
    )
    pruners["sotl-hyperband-best"] = PrunerSpec(
        "sotl-hyperband",
        (("min_resource", 1), ("reduction_factor", 3), ("estimator", "auto-metric@best")),
    )
    # Sparing (SoTLPruner's spare_every, spare_share) and its fair baseline, MedianPruner sparing
    # by the same rule.
    for every in SPARE_EVERY:
        pruners[f"sotl-spare{every}"] = PrunerSpec(
            "sotl", (("spare_every", every), ("spare_share", 0.0))
        )
        pruners[f"median-spare{every}"] = PrunerSpec("median", (("spare_every", every),))
    # SoTLPruner as it was before spare_share=0.2 became its default.
    pruners["sotl-unspared"] = PrunerSpec("sotl", (("spare_share", 0.0),))
    for share in SPARE_SHARES:
        percent = round(share * 100)
        pruners[f"sotl-share{percent}"] = PrunerSpec("sotl", (("spare_share", share),))
        pruners[f"median-share{percent}"] = PrunerSpec("median", (("spare_share", share),))
        # The same in successive halving (SoTLSuccessiveHalvingPruner's spare_share), and
        # Optuna's SuccessiveHalvingPruner sparing by the same rule (replay only).
        pruners[f"sotl-sha-share{percent}"] = PrunerSpec("sotl-sha", (("spare_share", share),))
        pruners[f"sha-share{percent}"] = PrunerSpec("sha", (("spare_share", share),))
        # And in Hyperband (SoTLHyperbandPruner's spare_share, counted over every bracket).
        pruners[f"sotl-hyperband-share{percent}"] = PrunerSpec(
            "sotl-hyperband",
            (("min_resource", 1), ("reduction_factor", 3), ("spare_share", share)),
        )
    for estimator in ESTIMATORS:
        for r, eta in SHAPES:
            pruners[f"sotl-sha-r{r}-e{eta}-{estimator}"] = PrunerSpec(
                "sotl-sha",
                (("min_resource", r), ("reduction_factor", eta), ("estimator", estimator)),
            )
    return pruners


#: Every entry with the classes' defaults spelled out at import time: ``"sotl-sha"`` is
#: ``SoTLSuccessiveHalvingPruner()`` as this version of the package defines it.
PRUNERS: dict[str, PrunerSpec] = {name: spec.explicit() for name, spec in _pruners().items()}


def all_configs() -> list[SearchConfig]:
    """Every known configuration, sampler-major (TPE ones included)."""
    return [
        SearchConfig(f"{s}/{p}", sampler, pruner, p, s)
        for s, sampler in SAMPLERS.items()
        for p, pruner in PRUNERS.items()
    ]


#: TPE runs real Optuna (its own cost): only these pruners by default.
TPE_PRUNERS: tuple[str, ...] = ("none", "median", "sha", "hyperband", "sotl", "sotl-sha",
                                "sotl-hyperband")


#: Regularised evolution costs about ten times random sampling per run (its random streams):
#: the defaults of both families and the candidate shapes.
RE_PRUNERS: tuple[str, ...] = (
    "none", "median", "sha", "hyperband", "sha-auto-e2", "sha-r1-e4", "sotl-sotl", "sotl-sotl-e",
    "sotl-sha", "sotl-sha-auto-e3", "sotl-hyperband", "sotl-sha-r1-e3-sotl",
)


#: The self-calibrating estimator in SoTLPruner, left out of the default set for its cost and
#: run by name (``make -C benchmarks search-cal`` and ``search-sotlpruner``): its bootstrap
#: choice runs whenever the calibration set changes, which in SoTLPruner (a check every step)
#: makes about 3 s per run with random sampling and 7 s with regularised evolution, against
#: 0.04 s for SoTL-E. ``"sotl"`` (``SoTLPruner()``) is one of them; the successive-halving
#: defaults (2-3 s per run) stay in the default set. The sparing entries, SoTLPruner's and their
#: baselines, are run by name too (``make -C benchmarks spare``).
COSTLY_PRUNERS: tuple[str, ...] = tuple(
    name for name in PRUNERS
    if "-cal" in name
    or name in ("sotl", "sotl-unspared", "sotl-best", "sotl-at-step")
    or "-spare" in name
    or "-share" in name
)


def default_names(sampler: str | None = None) -> list[str]:
    """The fast-replay default: every pruner but :data:`COSTLY_PRUNERS` with random sampling,
    :data:`RE_PRUNERS` with regularised evolution (``sampler``: only that sampler's)."""
    names = [f"random/{p}" for p in PRUNERS if p not in COSTLY_PRUNERS]
    names += [f"re/{p}" for p in RE_PRUNERS]
    if sampler is not None:
        names = [n for n in names if n.startswith(sampler + "/")]
    return names


def tpe_names() -> list[str]:
    return [f"tpe/{p}" for p in TPE_PRUNERS]


def search_configs(names: Sequence[str] | None = None) -> list[SearchConfig]:
    """The configurations named ``"<sampler>/<pruner>"`` (default: :func:`default_names`)."""
    by_name = {config.name: config for config in all_configs()}
    names = default_names() if names is None else list(names)
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise ValueError(
            f"unknown configurations {unknown}; samplers {sorted(SAMPLERS)}, pruners such as "
            f"{sorted(PRUNERS)[:8]}... (see optuna_sotl.curves._search_configs)."
        )
    if len(set(names)) != len(names):
        raise ValueError(f"configurations must not repeat, got {names}.")
    return [by_name[name] for name in names]
