"""Misuse of SoTLReporter never drops an epoch silently, and bad numbers are named.

* A second reporter on a trial, or ``trial.report`` by hand, then ``end_epoch`` at a stored step:
  ``ValueError`` naming the step, nothing written.
* A retried trial's loop calling ``end_epoch()`` without ``step=``: one ``SoTLReporterWarning``.
* ``add(10**400)`` names ``loss``; finite losses never add up to inf; a NaN validation value is
  refused (JSON would store it as ``null``, "not measured"); steps beyond 32 bits are refused.
"""

from __future__ import annotations

from fractions import Fraction
import math
import warnings

import numpy as np
import optuna
from optuna.trial import TrialState
import pytest

from optuna_sotl import SoTLPruner
from optuna_sotl import SoTLReporter
from optuna_sotl import SoTLReporterWarning
from optuna_sotl.reporter._reporter import MAX_STEP
from optuna_sotl.stale._fail import RetryHeartbeatStaleTrialCallback


def stored(study: optuna.Study, trial: optuna.Trial) -> optuna.trial.FrozenTrial:
    return study._storage.get_trial(trial._trial_id)


def epoch(reporter: SoTLReporter, loss: float, **kwargs: object) -> float:
    reporter.add(loss)
    return reporter.end_epoch(**kwargs)


def test_a_second_reporter_on_the_trial_is_refused_at_a_stored_step(make_study) -> None:
    study = make_study(pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    first = SoTLReporter(trial)
    epoch(first, 3.0)
    epoch(first, 2.0)
    # A reporter created again, e.g. inside the epoch loop by mistake.
    second = SoTLReporter(trial)
    second.add(1.0)
    with pytest.raises(ValueError, match=r"step 0 of trial \d+ is already stored by this attempt"):
        second.end_epoch()
    assert stored(study, trial).intermediate_values == {0: 3.0, 1: 2.0}
    # Past the stored steps it is a reporter like any other.
    assert second.end_epoch(step=2) == 1.0
    assert stored(study, trial).intermediate_values == {0: 3.0, 1: 2.0, 2: 1.0}


def test_two_live_reporters_cannot_report_the_same_step() -> None:
    study = optuna.create_study(pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    first, second = SoTLReporter(trial), SoTLReporter(trial)
    epoch(first, 3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not Optuna's "already reported" warning: an error
        with pytest.raises(ValueError, match="step 0"):
            epoch(second, 9.0)
    assert stored(study, trial).intermediate_values == {0: 3.0}


def test_a_step_reported_by_hand_is_not_reported_over() -> None:
    study = optuna.create_study(pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    trial.report(5.0, 0)
    reporter = SoTLReporter(trial)
    with pytest.raises(ValueError, match="step 0"):
        epoch(reporter, 1.0)
    assert stored(study, trial).intermediate_values == {0: 5.0}


def test_a_retry_counted_from_0_warns_once_and_a_checkpointed_loop_does_not(make_study) -> None:
    study = make_study(pruner=optuna.pruners.NopPruner())
    first = study.ask()
    reporter = SoTLReporter(first)
    for loss in (3.0, 2.0, 1.0):
        epoch(reporter, loss)
    study._storage.set_trial_state_values(first._trial_id, state=TrialState.FAIL)
    RetryHeartbeatStaleTrialCallback(inherit_intermediate_values=True)(
        study, study._storage.get_trial(first._trial_id)
    )
    retry = study.ask()
    restarted = SoTLReporter(retry)
    with pytest.warns(SoTLReporterWarning, match=r"inherited steps 0\.\.2.*resume_step = 3"):
        epoch(restarted, 3.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        epoch(restarted, 2.5)  # once is enough
    assert stored(study, retry).intermediate_values == {0: 3.0, 1: 2.0, 2: 1.0}


def test_resuming_with_step_is_silent() -> None:
    study = optuna.create_study(pruner=optuna.pruners.NopPruner())
    first = study.ask()
    epoch(SoTLReporter(first), 3.0)
    study._storage.set_trial_state_values(first._trial_id, state=TrialState.FAIL)
    RetryHeartbeatStaleTrialCallback(inherit_intermediate_values=True)(
        study, study._storage.get_trial(first._trial_id)
    )
    retry = study.ask()
    reporter = SoTLReporter(retry)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        epoch(reporter, 2.0, step=reporter.resume_step)
        epoch(reporter, 1.0)  # counting on from the step given: not a restart
    assert stored(study, retry).intermediate_values == {0: 3.0, 1: 2.0, 2: 1.0}


@pytest.mark.parametrize(
    "huge", [10**400, -(10**400), Fraction(10**400, 3)], ids=["int", "-int", "fraction"]
)
def test_a_loss_beyond_the_float_range_is_named(huge: object) -> None:
    reporter = SoTLReporter(optuna.create_study().ask())
    with pytest.raises(ValueError, match="loss is too large for a float"):
        reporter.add(huge)
    with pytest.raises(ValueError, match="val_loss is too large"):
        reporter.add(1.0)
        reporter.end_epoch(val_loss=huge)


def test_finite_losses_never_add_up_to_inf() -> None:
    torch = pytest.importorskip("torch")
    study = optuna.create_study(pruner=SoTLPruner(n_startup_trials=0))
    trial = study.ask()
    reporter = SoTLReporter(trial)
    reporter.add(1e308)
    reporter.add(1e308)
    assert reporter.end_epoch() == 1e308  # not inf, so not pruned
    for loss in (1.7e308, 1.7e308, -1.7e308):
        reporter.add(loss)
    assert reporter.end_epoch() == pytest.approx(1.7e308 / 3)
    # Tensors too: float32 losses near their maximum, and float64 ones near theirs.
    reporter.add(torch.tensor(3e38))
    reporter.add(torch.tensor(3e38))
    assert reporter.end_epoch() == pytest.approx(3e38, rel=1e-6)
    reporter.add(torch.tensor(1e308, dtype=torch.float64))
    reporter.add(torch.tensor(1e308, dtype=torch.float64))
    assert reporter.end_epoch() == 1e308
    values = stored(study, trial).intermediate_values
    assert all(math.isfinite(v) for v in values.values()) and len(values) == 4
    # Ordinary sums are what plain addition gives, bit for bit.
    reporter.add(0.1)
    reporter.add(0.2)
    reporter.add(0.3)
    assert reporter.end_epoch() == (0.1 + 0.2 + 0.3) / 3


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, np.float32("nan")])
@pytest.mark.parametrize("name", ["val_loss", "val_metric"])
def test_a_non_finite_validation_value_is_refused_not_stored_as_missing(
    name: str, bad: float
) -> None:
    study = optuna.create_study()
    trial = study.ask()
    reporter = SoTLReporter(trial)
    reporter.add(1.0)
    with pytest.raises(ValueError, match=f"{name} must be finite.*None when it was not measured"):
        reporter.end_epoch(**{name: bad})
    frozen = stored(study, trial)
    assert frozen.intermediate_values == {} and frozen.user_attrs == {}
    assert reporter.end_epoch(**{name: 0.5}) == 1.0  # the epoch is still there to report


def test_a_step_beyond_32_bits_is_refused_before_the_storage_sees_it() -> None:
    study = optuna.create_study()
    trial = study.ask()
    reporter = SoTLReporter(trial)
    reporter.add(1.0)
    with pytest.raises(ValueError, match=r"step must be at most 2147483647.*2147483648"):
        reporter.end_epoch(step=2**31)
    assert stored(study, trial).intermediate_values == {}


@pytest.mark.parametrize("storage_supplier", ["postgresql", "mysql"], indirect=True)
def test_the_largest_step_allowed_is_one_the_databases_hold(make_study) -> None:
    study = make_study()
    trial = study.ask()
    reporter = SoTLReporter(trial)
    reporter.add(1.0)
    reporter.end_epoch(step=MAX_STEP)
    assert stored(study, trial).intermediate_values == {MAX_STEP: 1.0}
