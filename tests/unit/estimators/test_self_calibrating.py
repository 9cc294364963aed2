from __future__ import annotations

import copy

import numpy as np
import optuna
import pytest

from optuna_sotl import SelfCalibratingEstimator
from optuna_sotl import SoTLE
from optuna_sotl import SoTLHyperbandPruner
from optuna_sotl import SoTLPruner
from optuna_sotl import SoTLSuccessiveHalvingPruner
from optuna_sotl.estimators._signal_choice import choose_signal
from optuna_sotl.estimators._signal_choice import RANK_MEAN
from optuna_sotl.estimators._signal_choice import SOTL_E
from optuna_sotl.estimators._signal_choice import VAL_METRIC
from optuna_sotl.estimators._trial_rows import TrialRows


def noisy(target: np.ndarray, scale: float, seed: int) -> np.ndarray:
    return target + np.random.default_rng(seed).normal(0.0, scale, target.size)


def test_choose_signal_follows_clear_evidence_only() -> None:
    target = np.arange(30, dtype=float)  # lower-is-better outcome
    exact, noise = target + 100.0, noisy(np.zeros(30), 1.0, 0)
    assert choose_signal(noise, exact, target).signal == VAL_METRIC
    assert choose_signal(exact, noise, target).signal == SOTL_E
    # Two equally noisy signals cannot be told apart; their rank mean averages the noise out.
    choice = choose_signal(noisy(target, 8.0, 21), noisy(target, 8.0, 22), target)
    assert choice.signal == RANK_MEAN and choice.metric_weight == 0.5
    assert choice.p_rank_mean >= 0.7 and choice.p_val_metric < 0.9
    # Weaker evidence for the rank mean: a blend that leans to SoTL-E, between 0 and 1/2.
    blend = choose_signal(noisy(target, 5.0, 9), noisy(target, 12.0, 10), target)
    assert 0.4 < blend.p_rank_mean < 0.7, blend
    assert 0.0 < blend.metric_weight < 0.5 and blend.kind.startswith("rank blend")
    # Too few trials, no metric, a metric with gaps or a constant outcome: the prior, SoTL-E.
    assert choose_signal(noise[:9], exact[:9], target[:9]).signal == SOTL_E
    assert choose_signal(noise, None, target).signal == SOTL_E
    assert choose_signal(noise, np.where(target == 3, np.nan, exact), target).signal == SOTL_E
    assert choose_signal(noise, exact, np.ones(30)).signal == SOTL_E


def test_even_prior_weighs_the_metric_by_the_evidence() -> None:
    target = np.arange(30, dtype=float)
    exact, noise = target + 100.0, noisy(np.zeros(30), 1.0, 0)
    assert choose_signal(noise, exact, target, prior="even").signal == VAL_METRIC
    assert choose_signal(exact, noise, target, prior="even").signal == SOTL_E
    # Equally noisy signals: a weight near 1/2, the share of resamples the metric won.
    choice = choose_signal(noisy(target, 8.0, 21), noisy(target, 8.0, 22), target, prior="even")
    assert 0.2 < choice.metric_weight < 0.8
    assert choice.metric_weight == choice.p_val_metric
    # Less noise in the metric: the weight leans to it without discarding SoTL-E.
    leaning = choose_signal(noisy(target, 9.0, 9), noisy(target, 8.0, 10), target, prior="even")
    assert 0.5 < leaning.metric_weight < 1.0
    # No evidence: the rank mean; no metric to blend (or gaps in it): SoTL-E.
    assert choose_signal(noise[:9], exact[:9], target[:9], prior="even").signal == RANK_MEAN
    assert choose_signal(noise, exact, np.ones(30), prior="even").signal == RANK_MEAN
    assert choose_signal(noise, None, target, prior="even").signal == SOTL_E
    gaps = np.where(target == 3, np.nan, exact)
    assert choose_signal(noise, gaps, target, prior="even").signal == SOTL_E


def test_metric_first_prior_keeps_the_metric_until_the_evidence_turns() -> None:
    target = np.arange(30, dtype=float)
    exact, noise = target + 100.0, noisy(np.zeros(30), 1.0, 0)
    assert choose_signal(exact, noise, target, prior="metric-first").signal == SOTL_E
    assert choose_signal(noise, exact, target, prior="metric-first").signal == VAL_METRIC
    for sotl_scale, metric_scale, seed in ((8.0, 8.0, 21), (9.0, 8.0, 9), (6.0, 9.0, 3)):
        sotl_e, metric = noisy(target, sotl_scale, seed), noisy(target, metric_scale, seed + 1)
        first = choose_signal(sotl_e, metric, target, prior="metric-first")
        shared = choose_signal(sotl_e, metric, target, prior="metric")
        # The same evidence as the "metric" prior; the weight is twice its share, at most 1.
        assert first.p_val_metric == shared.metric_weight
        assert first.metric_weight == min(1.0, 2.0 * shared.metric_weight)
    # A metric that ranks worse than the loss in most resamples loses weight, not all of it.
    leaning = choose_signal(
        noisy(target, 6.0, 3), noisy(target, 9.0, 4), target, prior="metric-first"
    )
    assert 0.0 < leaning.metric_weight < 1.0, leaning
    # No evidence: the metric alone; no metric: SoTL-E.
    assert choose_signal(noise[:9], exact[:9], target[:9], prior="metric-first").signal == (
        VAL_METRIC
    )
    assert choose_signal(noise, None, target, prior="metric-first").signal == SOTL_E


def test_successive_halving_defaults_to_the_metric_first_prior() -> None:
    estimator = SoTLSuccessiveHalvingPruner().estimator
    assert isinstance(estimator, SelfCalibratingEstimator)
    assert estimator.prior == "metric-first"
    hyperband = SoTLHyperbandPruner().estimator
    assert isinstance(hyperband, SelfCalibratingEstimator) and hyperband.prior == "metric"


@pytest.mark.parametrize("prior, error", [("odd", ValueError), (None, TypeError)])
def test_invalid_prior(prior, error) -> None:
    with pytest.raises(error, match="prior"):
        SelfCalibratingEstimator(prior=prior)


def test_choose_signal_is_deterministic_and_cheap_for_large_sets() -> None:
    target = np.arange(3000, dtype=float)
    first = choose_signal(noisy(target, 900.0, 3), noisy(target, 1000.0, 4), target)
    again = choose_signal(noisy(target, 900.0, 3), noisy(target, 1000.0, 4), target)
    assert first == again  # a fixed seed: every worker makes the same choice
    assert first.n_calibration == 3000
    with pytest.raises(ValueError, match="shape"):
        choose_signal(target[:5], target, target)
    with pytest.raises(ValueError, match="n_bootstrap"):
        choose_signal(target, target, target, n_bootstrap=0)


def test_offline_scoring_calibrates_on_the_calibration_rows_only() -> None:
    rng = np.random.default_rng(0)
    n = 200
    final = rng.uniform(50, 90, n)  # final validation accuracy
    # Training loss that orders the archs well, and a validation metric that is pure noise.
    train_loss = np.column_stack([np.full(n, 2.0), 3.0 - final / 50 + rng.normal(0, 0.01, n)])
    val_metric = rng.uniform(0, 100, (n, 2))
    calibration = np.zeros(n, dtype=bool)
    calibration[:20] = True

    scores, chosen = SelfCalibratingEstimator().score_curves(
        train_loss, val_metric, 2, calibration, later=-final
    )
    assert chosen.signal == SOTL_E
    np.testing.assert_array_equal(scores, train_loss[:, 1])
    # A validation metric equal to the result and a loss that is noise: the metric.
    noise_loss = rng.uniform(0, 1, (n, 2))
    scores, chosen = SelfCalibratingEstimator().score_curves(
        noise_loss, np.column_stack([final, final]), 2, calibration, later=-final
    )
    assert chosen.signal == VAL_METRIC
    np.testing.assert_array_equal(scores, -final)
    # Both nearly exact: the evidence leans to the metric without ruling SoTL-E out, a blend.
    _, chosen = SelfCalibratingEstimator().score_curves(
        train_loss, np.column_stack([final, final]), 2, calibration, later=-final
    )
    assert 0.0 < chosen.metric_weight < 1.0


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_the_pruner_follows_the_signal_that_ranked_completed_trials(make_study, direction):
    """Completed trials whose losses rank them backwards teach the pruner to use the metric."""
    maximize = direction == "maximize"
    study = make_study(
        direction=direction,
        pruner=SoTLPruner(
            n_startup_trials=0, estimator=SelfCalibratingEstimator(), spare_share=0.0
        ),
    )
    for i in range(12):
        goodness = float(i)
        metric = goodness if maximize else -goodness
        study.add_trial(
            optuna.create_trial(
                value=metric,
                intermediate_values={0: 1.0 + goodness / 10},  # high loss = good here
                user_attrs={"val_metric_curve": [metric]},
            )
        )

    def running(loss: float, metric: float) -> optuna.Trial:
        trial = study.ask()
        trial.report(loss, 0)
        trial.set_user_attr("val_metric_curve", [metric])
        return trial

    best_metric, worst_metric = (11.0, 0.0) if maximize else (-11.0, 0.0)
    # A low loss alone would keep a trial; the calibrated signal prunes on the metric instead.
    assert running(loss=0.5, metric=worst_metric).should_prune()
    assert not running(loss=5.0, metric=best_metric).should_prune()


@pytest.mark.parametrize(
    "prior, pruned", [("sotl-e", False), ("metric", True), ("metric-first", True)]
)
def test_too_few_completed_trials_keep_the_prior(make_study, prior: str, pruned: bool) -> None:
    study = make_study(
        direction="maximize",
        pruner=SoTLPruner(
            n_startup_trials=0, estimator=SelfCalibratingEstimator(prior=prior), spare_share=0.0
        ),
    )
    for i in range(5):
        study.add_trial(
            optuna.create_trial(
                value=float(i),
                intermediate_values={0: 1.0 + i / 10},
                user_attrs={"val_metric_curve": [float(i)]},
            )
        )
    trial = study.ask()
    trial.report(0.5, 0)
    trial.set_user_attr("val_metric_curve", [0.0])
    # The lowest loss and the worst metric: SoTL-E keeps it, the metric prunes it.
    assert trial.should_prune() == pruned


@pytest.mark.parametrize(
    "value, error", [(2, ValueError), (True, TypeError), (10.0, TypeError)]
)
def test_invalid_min_calibration_trials(value, error) -> None:
    with pytest.raises(error, match="min_calibration_trials"):
        SelfCalibratingEstimator(min_calibration_trials=value)


@pytest.mark.parametrize(
    "make_pruner",
    [
        lambda estimator: SoTLSuccessiveHalvingPruner(
            min_resource=1, reduction_factor=2, estimator=estimator
        ),
        # Unspared, as the successive halving: the test is about the rung's ranking.
        lambda estimator: SoTLHyperbandPruner(
            min_resource=1, max_resource=1, reduction_factor=2, estimator=estimator,
            spare_share=0.0,
        ),
    ],
    ids=["successive-halving", "hyperband"],
)
def test_the_rung_pruners_take_the_calibrated_signal(make_pruner) -> None:
    pruner = make_pruner(SelfCalibratingEstimator())
    study = optuna.create_study(direction="maximize", pruner=pruner)
    for i in range(40):
        study.add_trial(
            optuna.create_trial(
                value=float(i),
                intermediate_values={0: 2.0, 1: 1.0 + i / 40},  # high loss = good here
                user_attrs={"val_metric_curve": [0.0, float(i)]},
            )
        )

    def reaches_rung(loss: float, metric: float) -> bool:
        trial = study.ask()
        trial.report(2.0, 0)
        trial.report(loss, 1)
        trial.set_user_attr("val_metric_curve", [0.0, metric])
        return not trial.should_prune()

    # Rung step 1 (Hyperband has one bracket here): ranked by the metric, not by the lower loss.
    assert not reaches_rung(loss=0.5, metric=0.0)
    assert reaches_rung(loss=5.0, metric=39.0)


def add_pruned(study: optuna.Study, goodness: float, steps: int, maximize: bool) -> None:
    """A pruned trial that reached ``steps - 1``: high loss and high metric for good trials."""
    metric = goodness if maximize else -goodness
    study.add_trial(
        optuna.create_trial(
            state=optuna.trial.TrialState.PRUNED,
            intermediate_values={s: 1.0 + goodness / 10 for s in range(steps)},
            user_attrs={"val_metric_curve": [metric] * steps},
        )
    )


@pytest.mark.parametrize("reached, follows_metric", [(4, True), (3, False)])
def test_trials_that_reached_a_later_step_calibrate_when_far_enough(
    make_study, reached: int, follows_metric: bool
) -> None:
    """No trial completed; 12 pruned trials reached step ``reached - 1``. At step 1 their metric
    at step 3 (>= 2 * 1 + 1) is a sound target; at step 2 it is too close to step 1. The prior
    is SoTL-E, so that only calibration makes the pruner follow the metric."""
    estimator = SelfCalibratingEstimator(prior="sotl-e")
    study = make_study(
        direction="maximize",
        pruner=SoTLPruner(n_startup_trials=0, estimator=estimator, spare_share=0.0),
    )
    for i in range(12):
        add_pruned(study, float(i), reached, maximize=True)
    rows = TrialRows.of(study.get_trials(), 1, SoTLE(1))
    members, target_step = SelfCalibratingEstimator()._calibration_set(rows, 1)
    assert target_step == (reached - 1 if follows_metric else None)
    assert np.count_nonzero(members) == (12 if follows_metric else 0)
    trial = study.ask()
    trial.report(5.0, 0)
    trial.report(0.5, 1)  # the lowest loss at step 1, with the worst metric
    trial.set_user_attr("val_metric_curve", [0.0, 0.0])
    assert trial.should_prune() == follows_metric


def test_bootstrap_ranks_from_counts_equal_ranking_each_resample() -> None:
    from scipy import stats

    from optuna_sotl.estimators._signal_choice import _bootstrap_spearman

    rng = np.random.default_rng(7)
    scores = np.round(rng.normal(size=(3, 25)), 1)  # rounded: ties, as in recorded losses
    scores[0, 3] = np.inf  # a diverged trial
    target = np.round(rng.normal(size=25), 1)
    index = rng.integers(0, 25, size=(40, 25))
    rho, valid = _bootstrap_spearman(scores, target, index)
    assert valid.all()
    for b in range(40):
        for k in range(3):
            expected = stats.spearmanr(scores[k, index[b]], target[index[b]])[0]
            assert rho[k, b] == pytest.approx(expected, abs=1e-12)


def test_resample_ranks_are_each_resamples_own() -> None:
    from scipy import stats

    from optuna_sotl.estimators._signal_choice import resample_counts
    from optuna_sotl.estimators._signal_choice import resample_ranks

    rng = np.random.default_rng(3)
    values = np.round(rng.normal(size=20), 1)  # ties
    index = rng.integers(0, 20, size=(30, 20))
    ranks = resample_ranks(values, resample_counts(index))
    for b in range(30):
        expected = stats.rankdata(values[index[b]])
        np.testing.assert_allclose(ranks[b, index[b]], expected)


@pytest.mark.parametrize(
    "make_pruner",
    [
        lambda **kwargs: SoTLSuccessiveHalvingPruner(min_resource=1, reduction_factor=2, **kwargs),
        lambda **kwargs: SoTLHyperbandPruner(
            min_resource=1, max_resource=1, reduction_factor=2, spare_share=0.0, **kwargs
        ),
    ],
    ids=["successive-halving", "hyperband"],
)
def test_the_rung_pruners_rank_by_the_metric_until_the_study_shows_otherwise(make_pruner) -> None:
    assert isinstance(make_pruner().estimator, SelfCalibratingEstimator)
    assert make_pruner().estimator.prior in ("metric", "metric-first")

    def candidate_survives(**kwargs) -> bool:
        study = optuna.create_study(direction="maximize", pruner=make_pruner(**kwargs))
        for i in range(4):  # too few to calibrate on: the prior decides
            study.add_trial(
                optuna.create_trial(
                    value=float(i),
                    intermediate_values={0: 2.0, 1: 1.0 + i / 10},
                    user_attrs={"val_metric_curve": [0.0, float(i)]},
                )
            )
        trial = study.ask()
        trial.report(2.0, 0)
        trial.report(0.5, 1)  # the lowest loss and the worst metric
        trial.set_user_attr("val_metric_curve", [0.0, -1.0])
        return not trial.should_prune()

    assert not candidate_survives()  # ranked by the metric, as Optuna's pruner would
    assert candidate_survives(estimator=SoTLE(1))


def test_default_successive_halving_shape_is_optunas() -> None:
    assert "reduction_factor=4" in repr(SoTLSuccessiveHalvingPruner())
    assert "prior='metric-first'" in repr(SoTLSuccessiveHalvingPruner())


def test_one_estimator_shared_by_two_studies_makes_each_studys_own_choice() -> None:
    """The same trial numbers in two studies: the kept choice of one must not serve the other."""
    estimator = SelfCalibratingEstimator()

    def trials(loss_ranks_backwards: bool) -> list[optuna.trial.FrozenTrial]:
        made = []
        for i in range(12):
            goodness = float(i)
            loss = 1.0 + goodness / 10 if loss_ranks_backwards else 2.0 - goodness / 10
            trial = optuna.create_trial(
                value=goodness if loss_ranks_backwards else 0.5 + (i * 7) % 12,
                intermediate_values={0: loss},
                user_attrs={"val_metric_curve": [goodness]},
            )
            trial.number = i
            made.append(trial)
        return made

    maximize = optuna.study.StudyDirection.MAXIMIZE
    for first, second in [(True, False), (False, True)]:
        shared = copy.deepcopy(estimator)
        shared.score_trials(trials(first), 0, maximize)
        reused = shared.score_trials(trials(second), 0, maximize)
        fresh = SelfCalibratingEstimator().score_trials(trials(second), 0, maximize)
        np.testing.assert_array_equal(reused, fresh)


def test_average_ranks_are_scipys() -> None:
    from scipy import stats

    from optuna_sotl.estimators._signal_choice import average_ranks

    rng = np.random.default_rng(3)
    for size in (1, 2, 7, 50, 300):
        values = rng.integers(0, 6, size).astype(np.float64)
        values[rng.random(size) < 0.1] = np.inf
        values[rng.random(size) < 0.1] = -np.inf
        np.testing.assert_array_equal(average_ranks(values), stats.rankdata(values))


@pytest.mark.parametrize("value, error", [("best", ValueError), (None, TypeError)])
def test_invalid_metric_value(value, error) -> None:
    with pytest.raises(error, match="metric_value"):
        SelfCalibratingEstimator(metric_value=value)


def test_metric_value_is_kept_and_shown() -> None:
    estimator = SelfCalibratingEstimator(metric_value="best-so-far")
    assert estimator.metric_value == "best-so-far"
    assert "metric_value='best-so-far'" in repr(estimator)
    assert SelfCalibratingEstimator().metric_value == "at-step"


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
@pytest.mark.parametrize("metric_value, pruned", [("at-step", True), ("best-so-far", False)])
def test_best_so_far_does_not_prune_on_a_one_epoch_dip(
    make_study, direction: str, metric_value: str, pruned: bool
) -> None:
    """A trial best at step 0 dips to the worst metric at step 1: the metric at the step prunes
    it, its best so far keeps it (as Optuna's MedianPruner reads the judged trial)."""
    sign = 1.0 if direction == "maximize" else -1.0
    study = make_study(
        direction=direction,
        pruner=SoTLPruner(
            n_startup_trials=0,
            estimator=SelfCalibratingEstimator(prior="metric", metric_value=metric_value),
            spare_share=0.0,
        ),
    )
    for i in range(5):
        study.add_trial(
            optuna.create_trial(
                value=sign * i,
                intermediate_values={0: 1.0, 1: 1.0},
                user_attrs={"val_metric_curve": [sign * i, sign * i]},
            )
        )
    trial = study.ask()
    trial.report(1.0, 0)
    trial.report(1.0, 1)
    trial.set_user_attr("val_metric_curve", [sign * 10.0, sign * -1.0])
    assert trial.should_prune() == pruned


def test_best_so_far_skips_gaps_and_keeps_none_at_the_step() -> None:
    trials = [
        optuna.create_trial(
            value=1.0,
            intermediate_values={0: 1.0, 1: 1.0, 2: 1.0},
            user_attrs={"val_metric_curve": curve},
        )
        for curve in ([1.0, None, 3.0], [5.0, 2.0, None], [0.5, 4.0, 2.0])
    ]
    rows = TrialRows.of(trials, 2, SoTLE(1))
    np.testing.assert_array_equal(rows.best_high, [3.0, np.nan, 4.0])
    np.testing.assert_array_equal(rows.best_low, [1.0, np.nan, 0.5])


def test_offline_scoring_reads_the_best_metric_so_far() -> None:
    # Three epochs; the last one dips for row 0: at the step it ranks last, by its best first.
    val_metric = np.array([[50.0, 90.0, 10.0], [40.0, 60.0, 70.0], [30.0, 50.0, 60.0]])
    train_loss = np.ones((3, 3))
    calibration = np.zeros(3, dtype=bool)  # too few: the prior, here the metric alone
    estimator = SelfCalibratingEstimator(prior="metric", metric_value="best-so-far")
    scores, _ = estimator.score_curves(train_loss, val_metric, 3, calibration, np.zeros(3))
    np.testing.assert_array_equal(scores, [-90.0, -70.0, -60.0])
    at_step, _ = SelfCalibratingEstimator(prior="metric").score_curves(
        train_loss, val_metric, 3, calibration, np.zeros(3)
    )
    np.testing.assert_array_equal(at_step, [-10.0, -70.0, -60.0])
