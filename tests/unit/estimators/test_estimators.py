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


def test_sotl_ema_weights_by_age() -> None:
    expected = 0.125 * 2.0 + 0.25 * 1.5 + 0.5 * 1.0 + 0.5
    assert SoTLEMA(0.5)(CURVES[0]) == pytest.approx(expected)
    assert SoTLEMA(0.5)(CURVES[0], budget=2) == pytest.approx(0.5 * 2.0 + 1.5)


@pytest.mark.parametrize("budget", [1, 2, 3, 4])
def test_ema_limits_are_exactly_sotl_e_and_sotl(budget: int) -> None:
    rng = np.random.default_rng(0)
    curves = rng.uniform(0.1, 3.0, size=(50, 4))
    np.testing.assert_array_equal(SoTLEMA(0.0)(curves, budget), SoTLE(1)(curves, budget))
    np.testing.assert_array_equal(SoTLEMA(1.0)(curves, budget), SoTL()(curves, budget))


def test_one_curve_and_a_matrix_agree() -> None:
    for estimator in (SoTL(), SoTLE(2), SoTLEMA(0.9), SoVL(), ValidationMetric()):
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
    assert SoTLEMA(0.5)(ragged)[1] == pytest.approx(0.25 * 1.0 + 0.25)
    assert np.isnan(SoTLEMA(0.5)(ragged)[0])


def test_inf_propagates_but_a_zero_weight_drops_it() -> None:
    diverged = [math.inf, 1.0, 0.5]
    assert SoTL()(diverged) == math.inf
    assert SoTLEMA(0.5)(diverged) == math.inf
    assert SoTLEMA(0.0)(diverged) == 0.5
    assert SoTLE(1)(diverged) == 0.5


def test_window_tells_callers_how_much_to_read() -> None:
    assert SoTL().window is None
    assert SoTLE(3).window == 3
    assert SoTLEMA(0.0).window == 1
    assert SoTLEMA(0.5).window is None


@pytest.mark.parametrize(
    "make, error, fragment",
    [
        (lambda: SoTLE(0), ValueError, "window"),
        (lambda: SoTLE(-2), ValueError, "-2"),
        (lambda: SoTLE(1.5), TypeError, "window"),
        (lambda: SoTLEMA(1.5), ValueError, "gamma"),
        (lambda: SoTLEMA(-0.1), ValueError, "-0.1"),
        (lambda: SoTLEMA("0.5"), TypeError, "gamma"),
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
