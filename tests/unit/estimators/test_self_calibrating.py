from __future__ import annotations

import numpy as np
import optuna
import pytest

from optuna_sotl import SelfCalibratingEstimator
from optuna_sotl import SoTLHyperbandPruner
from optuna_sotl import SoTLPruner
from optuna_sotl import SoTLSuccessiveHalvingPruner
from optuna_sotl.estimators._self_calibrating import RANK_MEAN


def test_choose_takes_the_best_correlated_candidate_and_falls_back_when_unsure() -> None:
    estimator = SelfCalibratingEstimator()
    later = np.arange(12, dtype=float)
    scores = {
        "SoTL-E(E=1)": later[::-1].copy(),  # ranks exactly backwards
        "noise": np.array([5, 3, 1, 0, 2, 4, 6, 8, 11, 10, 9, 7], dtype=float),
        "val_metric@T": later + 100.0,  # ranks exactly right
    }
    assert estimator.choose(scores, later) == "val_metric@T"
    assert estimator.choose({k: v[:9] for k, v in scores.items()}, later[:9]) == "SoTL-E(E=1)"
    with_nan = dict(scores, **{"val_metric@T": np.where(later == 3, np.nan, later)})
    assert estimator.choose(with_nan, later) == "noise"


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
    assert chosen in ("SoTL-E(E=1)", "SoTL-EMA(γ=0.9)")
    assert scores.shape == (n,)
    # The same call with a validation metric equal to the result picks it.
    _, chosen = SelfCalibratingEstimator().score_curves(
        train_loss, np.column_stack([final, final]), 2, calibration, later=-final
    )
    assert chosen in ("val_metric@T", RANK_MEAN)


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_the_pruner_follows_the_signal_that_ranked_completed_trials(make_study, direction):
    """Completed trials whose losses rank them backwards teach the pruner to use the metric."""
    maximize = direction == "maximize"
    study = make_study(
        direction=direction,
        pruner=SoTLPruner(n_startup_trials=0, estimator=SelfCalibratingEstimator()),
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


def test_too_few_completed_trials_fall_back_to_sotl_e(make_study) -> None:
    study = make_study(
        direction="maximize",
        pruner=SoTLPruner(n_startup_trials=0, estimator=SelfCalibratingEstimator()),
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
    assert not trial.should_prune()  # lowest loss: kept by SoTL-E despite the worst metric


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
        lambda estimator: SoTLHyperbandPruner(
            min_resource=1, max_resource=1, reduction_factor=2, estimator=estimator
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
