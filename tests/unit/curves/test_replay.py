"""Differential test: the fast replay against real Optuna studies with the real pruner classes.

For several seeds of every pruner kind (small budgets), both make the same decision for every
trial at every step: each trial proposes the same architecture and stops (pruned, complete or
cut off by the budget) at the same step.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import optuna
import pytest

from optuna_sotl.curves import LearningCurves
from optuna_sotl.curves import load_curves
from optuna_sotl.curves._replay import fast_replay
from optuna_sotl.curves._replay import PrunerSpec
from optuna_sotl.curves._replay import ReplayData
from optuna_sotl.curves._replay import SamplerSpec
from optuna_sotl.curves._replay import study_name
from optuna_sotl.curves._replay_data import PRUNED
from optuna_sotl.curves._replay_pruners import spared_in_log
from optuna_sotl.curves._search import optuna_replay
from optuna_sotl.curves._search_configs import PRUNERS
from tests.conftest import data_path


def _data_path() -> str:
    # The module-scoped fixture below cannot take the function-scoped ``spikenas_path``.
    return str(data_path("spikenas_cifar10.npz"))


@pytest.fixture(scope="module")
def subset():
    """The file's architectures with their first 30 epochs (short curves: quick real studies)."""
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
    "sotl-unspared": PRUNERS["sotl-unspared"],
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
    # SelfCalibratingEstimator: its choice (SoTL-E, a rank blend or the metric) at each decision.
    "sotl-sha-cal-e3": PRUNERS["sotl-sha-cal-e3"],
    "sotl-sha-cal-e4": PRUNERS["sotl-sha-cal-e4"],
    "sotl-cal": PRUNERS["sotl-cal"],
    # The same with no prior (rank mean before evidence, a blend weighted by it after).
    "sotl-sha-cal-even-e3": PRUNERS["sotl-sha-cal-even-e3"],
    "sotl-sha-cal-even-e4": PRUNERS["sotl-sha-cal-even-e4"],
    "sotl-cal-even": PRUNERS["sotl-cal-even"],
    "sotl-hyperband-cal": PRUNERS["sotl-hyperband-cal"],
    "sotl-hyperband-cal-even": PRUNERS["sotl-hyperband-cal-even"],
    "sotl-cal-even-sotl": PRUNERS["sotl-cal-even-sotl"],
    # SoTLSuccessiveHalvingPruner()'s estimator before the "metric-first" prior ("sotl-sha").
    "sotl-sha-cal-metric-e4": PRUNERS["sotl-sha-cal-metric-e4"],
    # SoTLHyperbandPruner() as users get it: the metric prior, calibrated per bracket.
    "sotl-hyperband-default": PRUNERS["sotl-hyperband"],
    "sotl-hyperband-unspared": PRUNERS["sotl-hyperband-unspared"],
    # The defaults ranking by each trial's best metric so far (metric_value="best-so-far").
    "sotl-at-step": PRUNERS["sotl-at-step"],
    "sotl-sha-at-rung": PRUNERS["sotl-sha-at-rung"],
    "sotl-hyperband-best": PRUNERS["sotl-hyperband-best"],
    # Spared trials (never pruned on a finite loss), calibrated and not.
    "sotl-spare4": PrunerSpec("sotl", (("spare_every", 4), ("spare_share", 0.0))),
    "sotl-sum-spare3": PrunerSpec(
        "sotl", (("estimator", "sotl"), ("spare_every", 3), ("spare_share", 0.0))
    ),
    # Their fair baseline: MedianPruner sparing the same trials.
    "median-spare4": PrunerSpec("median", (("spare_every", 4),)),
    # Sparing by a share of the epochs, which depends on what the study spent.
    "sotl-share25": PrunerSpec("sotl", (("spare_share", 0.25),)),
    "median-share25": PrunerSpec("median", (("spare_share", 0.25),)),
    # The same in successive halving, whose "auto" first rung prunes nothing before a trial
    # completes: the share still counts those trials.
    "sotl-sha-share25": PrunerSpec("sotl-sha", (("spare_share", 0.25),)),
    # Its baseline: Optuna's successive halving sparing by the share (spared trials stay in its
    # rungs, as in ours).
    "sha-share25": PrunerSpec("sha", (("spare_share", 0.25),)),
    # And in Hyperband, whose share is counted over every bracket.
    "sotl-hyperband-share25": PrunerSpec(
        "sotl-hyperband", (("min_resource", 1), ("reduction_factor", 3), ("spare_share", 0.25))
    ),
}
CALIBRATING = (
    "sotl-sha-cal-e3", "sotl-sha-cal-e4", "sotl-cal", "sotl-sha-cal-even-e3",
    "sotl-sha-cal-even-e4", "sotl-cal-even", "sotl-hyperband-cal", "sotl-hyperband-cal-even",
    "sotl-cal-even-sotl", "sotl-hyperband-default", "sotl-sha", "sotl-sha-cal-metric-e4",
    "sotl-at-step", "sotl-sha-at-rung", "sotl-hyperband-best",
)


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
    "kind",
    ["none", "sotl", "sotl-sha", "sotl-sha-r2-e2-sotl", "sotl-hyperband", "sotl-sha-cal-e3",
     "sotl-cal", "sotl-sha-cal-even-e4", "sotl-cal-even", "sotl-spare4", "sotl-share25",
     "sotl-sha-share25", "sotl-hyperband-share25", "sotl-at-step"],
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


@pytest.mark.parametrize(
    "kind", ["median", "sha", "hyperband", "median-spare4", "median-share25", "sha-share25"]
)
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


@pytest.mark.parametrize("kind", CALIBRATING)
def test_self_calibrating_replay_is_not_sotl_e(subset, kind: str) -> None:
    # The differential tests above mean something for the self-calibrating estimator only if it
    # left SoTL-E somewhere: some trial stops elsewhere than with SoTL-E's scores.
    data = ReplayData(subset)
    spec = KINDS[kind]
    plain = dataclasses.replace(
        spec, options=tuple((k, "sotl-e" if k == "estimator" else v) for k, v in spec.options)
    )
    differ = 0
    for seed in range(3):
        calibrated = fast_replay(data, SamplerSpec("random"), spec, seed, budget=1500, log=True)
        sotl_e = fast_replay(data, SamplerSpec("random"), plain, seed, budget=1500, log=True)
        differ += calibrated.log != sotl_e.log
    assert differ >= 2


@pytest.mark.parametrize(
    "kind, at_step", [("sotl", "sotl-at-step"), ("sotl-sha", "sotl-sha-at-rung"),
                      ("sotl-hyperband-best", "sotl-hyperband-default")]
)
def test_best_so_far_changes_decisions(subset, kind: str, at_step: str) -> None:
    # The differential tests of the best-so-far kinds mean something only if ranking by the
    # best metric so far decided otherwise than the metric at the step somewhere.
    data = ReplayData(subset)
    differ = 0
    for seed in range(3):
        best = fast_replay(data, SamplerSpec("random"), KINDS[kind], seed, budget=1500, log=True)
        plain = fast_replay(
            data, SamplerSpec("random"), KINDS[at_step], seed, budget=1500, log=True
        )
        differ += best.log != plain.log
    assert differ >= 1


@pytest.mark.parametrize(
    "kind, alone",
    [("sotl-spare4", "sotl-unspared"), ("median-spare4", "median"),
     ("sotl-share25", "sotl-unspared"),
     ("median-share25", "median"), ("sotl-sha-share25", "sotl-sha"), ("sha-share25", "sha"),
     ("sotl-hyperband-share25", "sotl-hyperband-unspared")],
)
def test_spared_trials_are_never_pruned_and_change_the_search(subset, kind, alone) -> None:
    # The differential tests of sparing kinds mean something only if sparing kept trials that
    # the pruner alone would have pruned.
    data = ReplayData(subset)
    spec, plain = KINDS[kind], KINDS[alone]
    n_spared = n_would_prune = 0
    share = float(spec.option("spare_share", 0.0))
    for seed in range(3):
        log = fast_replay(data, SamplerSpec("random"), spec, seed, budget=1500, log=True).log
        alone = fast_replay(data, SamplerSpec("random"), plain, seed, budget=1500, log=True).log
        spared_epochs = 0
        flags = spared_in_log(
            log, study_name(seed), int(spec.option("spare_every", 0)), share
        )
        for number, ((_, state, last), spared) in enumerate(zip(log, flags)):
            if spared:
                n_spared += 1
                spared_epochs += last + 1
                assert state != PRUNED
                n_would_prune += number < len(alone) and alone[number][1] == PRUNED
        if share:  # the share bounds the cost, give or take the last spared trial's epochs
            assert spared_epochs <= share * 1500 + data.n_epochs
    assert n_spared >= 10
    assert n_would_prune >= 3


def _curves_with_metric_gaps() -> LearningCurves:
    """Synthetic curves where some architectures lack the validation metric at some epochs
    (the estimator then keeps SoTL-E, or judges on fewer trials): 400 architectures, 20 epochs."""
    rng = np.random.default_rng(7)
    n, epochs = 400, 20
    quality = rng.normal(size=n)
    steps = np.arange(1, epochs + 1)
    noise = rng.normal(size=(n, epochs))
    train_loss = (1.0 + 0.3 * quality[:, None]) / np.sqrt(steps) + 0.05 * noise
    val_acc = 70.0 - 5.0 * quality[:, None] + 10.0 * np.log(steps) + rng.normal(size=(n, epochs))
    val_acc[::40, 2:10] = np.nan  # a gap early on (over the rungs at steps 3 and 9)
    val_acc[1::40, 12:14] = np.nan  # a gap at a later step, which can be a calibration target
    val_acc[2::50, 16:19] = np.nan  # the metric stops before the end (the last epoch has it)
    result = val_acc[:, -1] + rng.normal(size=n)
    return LearningCurves(train_loss, train_loss.copy(), result, "test_acc", val_acc=val_acc)


@pytest.mark.parametrize("kind", ["sotl-sha-cal-e3", "sotl-cal", "sotl-sha-cal-even-e3",
                                  "sotl-cal-even", "sotl", "sotl-sha"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_self_calibrating_with_missing_metrics_same_decisions(kind: str, seed: int) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    curves = _curves_with_metric_gaps()
    data = ReplayData(curves)
    fast = fast_replay(data, SamplerSpec("random"), KINDS[kind], seed, budget=1500, log=True)
    rows = [row for row, _, _ in fast.log]
    real = optuna_replay(curves, SamplerSpec("random"), KINDS[kind], seed, 1500, proposals=rows)
    assert real == fast.log
    states = [state for _, state, _ in fast.log]
    assert states.count(0) >= 5 and states.count(1) >= 10
    assert any(np.isnan(data.val[row]).any() for row in rows)  # gapped trials took part


def test_tpe_replay_wraps_tpe_with_the_default_estimators_loss_score(subset) -> None:
    # SoTLPruner's and the rung pruners' defaults differ in estimator; with a self-calibrating
    # one the sampler ranks pruned trials by its training-loss score.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for name in ("sotl-sha", "sotl"):
        log = optuna_replay(subset, SamplerSpec("tpe"), PRUNERS[name], 0, 600)
        states = [state for _, state, _ in log]
        assert states.count(0) >= 1 and states.count(1) >= 1, name


@pytest.mark.parametrize(
    "name", ["auto", "auto-metric@best", "auto-sotl-e+sotl@best", "auto-even+sotl", "sotl-e3"]
)
def test_estimator_short_names_round_trip(name: str) -> None:
    from optuna_sotl.curves._replay_data import estimator_name
    from optuna_sotl.curves._replay_data import make_estimator

    estimator = make_estimator(name)
    assert make_estimator(estimator_name(estimator)).__repr__() == repr(estimator)
    assert ("@best" in estimator_name(estimator)) == name.endswith("@best")


def test_unknown_estimator_reading_is_refused() -> None:
    from optuna_sotl.curves._replay_data import make_estimator

    with pytest.raises(ValueError, match="auto-metric@last"):
        make_estimator("auto-metric@last")
