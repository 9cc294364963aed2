from __future__ import annotations

import math

import numpy as np
import pytest

from optuna_sotl import SoTL
from optuna_sotl import SoTLE
from optuna_sotl import SoTLEMA
from optuna_sotl import SoVL
from optuna_sotl import ValidationMetric


CURVES = np.array(
    [
        [2.0, 1.5, 1.0, 0.5],
        [3.0, 1.0, 0.75, 0.25],
        [1.0, 1.0, 1.0, 1.0],
    ]
)


def test_sotl_is_the_sum_up_to_the_budget() -> None:
    np.testing.assert_array_equal(SoTL()(CURVES), [5.0, 5.0, 4.0])
    np.testing.assert_array_equal(SoTL()(CURVES, budget=2), [3.5, 4.0, 2.0])
    assert SoTL()(CURVES[0]) == 5.0


def test_sotl_e_sums_the_last_e_epochs() -> None:
    np.testing.assert_array_equal(SoTLE()(CURVES), [0.5, 0.25, 1.0])
    np.testing.assert_array_equal(SoTLE(2)(CURVES), [1.5, 1.0, 2.0])
    np.testing.assert_array_equal(SoTLE(2)(CURVES, budget=3), [2.5, 1.75, 2.0])
    # Before epoch E the window holds the epochs there are.
    np.testing.assert_array_equal(SoTLE(5)(CURVES, budget=2), [3.5, 4.0, 2.0])


def test_sotl_ema_is_the_authors_recursion() -> None:
    # ema = 2.0; 0.5 * 1.5 + 0.5 * 2.0 = 1.75; 0.5 * 1.0 + 0.5 * 1.75 = 1.375; then 0.9375
    assert SoTLEMA(newest_weight=0.5)(CURVES[0]) == pytest.approx(0.9375)
    assert SoTLEMA(newest_weight=0.5)(CURVES[0], budget=2) == pytest.approx(1.75)
    assert SoTLEMA()(CURVES[0], budget=2) == pytest.approx(0.9 * 1.5 + 0.1 * 2.0)
    assert SoTLEMA().newest_weight == 0.9


def reference_ema(curve: np.ndarray, mu: float) -> float:
    """TSE-EMA written as the plain recursion, skipping missing (NaN) epochs."""
    ema = math.nan
    for loss in curve:
        if math.isnan(loss):
            continue
        ema = loss if math.isnan(ema) else mu * loss + (1 - mu) * ema
    return ema


@pytest.mark.parametrize("mu", [0.9, 0.5, 0.1, 1.0])
def test_sotl_ema_equals_the_recursion_on_random_curves(mu: float) -> None:
    rng = np.random.default_rng(1)
    curves = rng.uniform(0.1, 3.0, size=(200, 12))
    curves[rng.uniform(size=curves.shape) < 0.15] = np.nan  # missing epochs
    estimator = SoTLEMA() if mu == 0.9 else SoTLEMA(newest_weight=mu)
    for budget in (1, 5, 12):
        scores = estimator(curves, budget)
        for row, score in zip(curves[:, :budget], scores):
            if math.isnan(row[-1]):
                assert math.isnan(score)  # did not reach the budget
            else:
                assert score == pytest.approx(reference_ema(row, mu), rel=1e-12)


@pytest.mark.parametrize("budget", [1, 2, 3, 4])
def test_ema_with_all_weight_on_the_newest_epoch_is_sotl_e(budget: int) -> None:
    rng = np.random.default_rng(0)
    curves = rng.uniform(0.1, 3.0, size=(50, 4))
    np.testing.assert_array_equal(
        SoTLEMA(newest_weight=1.0)(curves, budget), SoTLE(1)(curves, budget)
    )


def test_one_curve_and_a_matrix_agree() -> None:
    for estimator in (SoTL(), SoTLE(2), SoTLEMA(), SoVL(), ValidationMetric()):
        matrix_scores = estimator(CURVES, budget=3)
        for row, score in zip(CURVES, matrix_scores):
            assert estimator(row, budget=3) == score


def test_validation_baselines() -> None:
    np.testing.assert_array_equal(SoVL()(CURVES, budget=2), [3.5, 4.0, 2.0])
    assert ValidationMetric()([50.0, 80.0, 70.0]) == -70.0
    assert ValidationMetric()([50.0, 80.0, 70.0], budget=2) == -80.0
    assert ValidationMetric(higher_is_better=False)([0.9, 0.4]) == 0.4


def test_nan_at_the_budget_means_not_reached_and_earlier_nan_is_skipped() -> None:
    ragged = np.array([[1.0, 0.5, math.nan], [1.0, math.nan, 0.25]])
    assert np.isnan(SoTL()(ragged)[0])
    assert SoTL()(ragged)[1] == 1.25
    assert SoTLE(2)(ragged)[1] == 0.25
    assert SoTLEMA(newest_weight=0.5)(ragged)[1] == pytest.approx(0.5 * 0.25 + 0.5 * 1.0)
    assert np.isnan(SoTLEMA(newest_weight=0.5)(ragged)[0])


def test_inf_propagates_but_a_zero_weight_drops_it() -> None:
    diverged = [math.inf, 1.0, 0.5]
    assert SoTL()(diverged) == math.inf
    assert SoTLEMA()(diverged) == math.inf
    assert SoTLEMA(newest_weight=1.0)(diverged) == 0.5
    assert SoTLE(1)(diverged) == 0.5


def test_window_tells_callers_how_much_to_read() -> None:
    assert SoTL().window is None
    assert SoTLE(3).window == 3
    assert SoTLEMA(newest_weight=1.0).window == 1
    assert SoTLEMA().window is None


@pytest.mark.parametrize(
    "make, error, fragment",
    [
        (lambda: SoTLE(0), ValueError, "window"),
        (lambda: SoTLE(-2), ValueError, "-2"),
        (lambda: SoTLE(1.5), TypeError, "window"),
        (lambda: SoTLEMA(newest_weight=1.5), ValueError, "newest_weight"),
        (lambda: SoTLEMA(newest_weight=0.0), ValueError, "newest_weight"),
        (lambda: SoTLEMA(newest_weight="0.5"), TypeError, "newest_weight"),
        # The old argument weighted the past in a sum: refused, naming the new one.
        (lambda: SoTLEMA(gamma=0.9), TypeError, "newest_weight"),
        (lambda: SoTLEMA(0.9), TypeError, "newest_weight"),
        (lambda: ValidationMetric(higher_is_better=1), TypeError, "higher_is_better"),
    ],
)
def test_bad_arguments_name_argument_and_value(make, error, fragment) -> None:
    with pytest.raises(error, match=fragment):
        make()


@pytest.mark.parametrize(
    "curves, budget, error, fragment",
    [
        ([], None, ValueError, "shape"),
        (np.zeros((2, 3, 4)), None, ValueError, r"\(2, 3, 4\)"),
        ([1.0, 2.0], 3, ValueError, "budget"),
        ([1.0, 2.0], 0, ValueError, "budget"),
        ([1.0, 2.0], 1.0, TypeError, "budget"),
        (["a", "b"], None, TypeError, "curves"),
    ],
)
def test_bad_curves_or_budget(curves, budget, error, fragment) -> None:
    with pytest.raises(error, match=fragment):
        SoTL()(curves, budget)


def test_sotl_ema_on_the_shared_curves_gives_the_authors_figures(spikenas_path) -> None:
    """The authors' TSE-EMA (μ = 0.9) on the shared SpikeNAS-Bench curves (issue 12's figures)."""
    path = str(spikenas_path)
    from scipy import stats

    with np.load(path, allow_pickle=False) as data:
        train_loss = data["train_loss"].astype(np.float64)
        test_acc = data["test_acc"].astype(np.float64)
    for budget, expected in ((5, 0.638), (10, 0.773), (20, 0.881)):
        ema = train_loss[:, 0]
        for t in range(1, budget):
            ema = 0.9 * train_loss[:, t] + 0.1 * ema
        scores = SoTLEMA()(train_loss, budget)
        np.testing.assert_allclose(scores, ema, rtol=1e-12)
        assert round(float(stats.spearmanr(-scores, test_acc)[0]), 3) == expected
