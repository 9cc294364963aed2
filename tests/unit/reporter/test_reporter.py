from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import optuna
from optuna.trial import TrialState
import pytest

from optuna_sotl import SoTLE
from optuna_sotl import SoTLPruner
from optuna_sotl import SoTLReporter


torch = pytest.importorskip("torch")


def stored(study: optuna.Study, trial: optuna.Trial) -> optuna.trial.FrozenTrial:
    return study._storage.get_trial(trial._trial_id)


def test_reports_epoch_means_and_keeps_scores_in_user_attrs(make_study) -> None:
    study = make_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    reporter = SoTLReporter(trial, window=2)
    for epoch_losses, accuracy in (([3.0, 1.0], 0.5), ([1.5, np.float32(0.5)], 0.7)):
        for loss in epoch_losses:
            reporter.add(loss)
        reporter.end_epoch(val_loss=1.0 - accuracy, val_metric=accuracy)
    reporter.add(torch.tensor(0.25))
    reporter.end_epoch(val_metric=0.8)  # no validation loss this epoch
    study.tell(trial, 0.8)

    frozen = study.trials[0]
    assert frozen.intermediate_values == {0: 2.0, 1: 1.0, 2: 0.25}
    assert frozen.user_attrs["sotl"] == 3.25
    assert frozen.user_attrs["sotl_e"] == 1.25
    assert frozen.user_attrs["val_metric"] == 0.8
    assert frozen.user_attrs["val_metric_curve"] == [0.5, 0.7, 0.8]
    assert frozen.user_attrs["val_loss_curve"] == [0.5, pytest.approx(0.3)]
    assert reporter.train_losses == [2.0, 1.0, 0.25]


def test_prunes_through_the_study_pruner_with_step_and_score(make_study) -> None:
    # The message names the estimator.
    pruner = SoTLPruner(n_startup_trials=1, estimator=SoTLE(1), spare_share=0.0)
    study = make_study(direction="maximize", pruner=pruner)
    study.add_trial(optuna.create_trial(value=0.9, intermediate_values={0: 1.0, 1: 0.5}))
    trial = study.ask()
    reporter = SoTLReporter(trial)
    reporter.add(0.9)
    reporter.end_epoch()  # 0.9 < 1.0 at step 0: kept
    reporter.add(0.75)
    with pytest.raises(optuna.TrialPruned, match=r"step 1: SoTL-E\(E=1\) = 0\.75"):
        reporter.end_epoch()
    study.tell(trial, state=TrialState.PRUNED)
    assert study.trials[1].state == TrialState.PRUNED
    assert study.trials[1].intermediate_values == {0: 0.9, 1: 0.75}


@pytest.mark.parametrize("bad_loss", [math.nan, math.inf])
def test_a_non_finite_epoch_is_recorded_and_prunes(make_study, bad_loss) -> None:
    study = make_study(pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    reporter = SoTLReporter(trial)
    reporter.add(1.0)
    reporter.add(torch.tensor(bad_loss))
    with pytest.raises(optuna.TrialPruned, match="step 0"):
        reporter.end_epoch()
    frozen = stored(study, trial)
    assert not math.isfinite(frozen.intermediate_values[0])
    assert frozen.user_attrs["sotl"] is None  # JSON has no NaN: None marks a diverged score


def _rejected(study, trial, call, error, fragment) -> None:
    before = stored(study, trial)
    with pytest.raises(error, match=fragment):
        call()
    after = stored(study, trial)
    assert after.intermediate_values == before.intermediate_values
    assert after.user_attrs == before.user_attrs


def test_bad_input_is_rejected_and_nothing_is_written(make_study) -> None:
    study = make_study()
    trial = study.ask()
    reporter = SoTLReporter(trial)
    _rejected(study, trial, reporter.end_epoch, ValueError, "no minibatch")
    reporter.add(1.0)
    reporter.end_epoch(step=3)
    for bad in ("1.0", None, True, [1.0], object()):
        _rejected(study, trial, lambda: reporter.add(bad), TypeError, "loss")
    _rejected(study, trial, lambda: reporter.add(torch.ones(2)), ValueError, r"loss.*\(2,\)")
    _rejected(study, trial, lambda: reporter.add(np.ones(3)), ValueError, r"loss.*\(3,\)")
    _rejected(study, trial, lambda: reporter.add(torch.tensor(True)), TypeError, "loss")
    reporter.add(0.5)
    for step, error in ((-1, ValueError), (3, ValueError), (2, ValueError), (4.5, TypeError)):
        _rejected(
            study, trial, lambda: reporter.end_epoch(step=step), error, f"step.*{step}"
        )
    _rejected(study, trial, lambda: reporter.end_epoch(val_loss="low"), TypeError, "val_loss")
    _rejected(
        study, trial, lambda: reporter.end_epoch(val_metric=torch.ones(3)), ValueError,
        "val_metric",
    )
    # The pending minibatch survives the rejected calls.
    assert reporter.end_epoch() == 0.5
    assert stored(study, trial).intermediate_values == {3: 1.0, 4: 0.5}


def test_constructor_arguments_are_checked() -> None:
    with pytest.raises(TypeError, match="trial"):
        SoTLReporter("trial")  # type: ignore[arg-type]
    study = optuna.create_study()
    with pytest.raises(ValueError, match="window"):
        SoTLReporter(study.ask(), window=0)


def test_adding_a_tensor_does_not_read_it_back() -> None:
    """A tensor on the meta device has no data: reading it back (a device sync) would raise."""
    reporter = SoTLReporter(optuna.create_study().ask())
    for _ in range(3):
        reporter.add(torch.tensor(1.0, device="meta", requires_grad=True) * 2)


def test_real_torch_training_with_optimize(make_study) -> None:
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(256, 8, generator=generator)
    labels = (features[:, :4].sum(dim=1) > 0).long()

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-4, 0.5, log=True)
        model = torch.nn.Sequential(
            torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2)
        )
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        reporter = SoTLReporter(trial)
        for _ in range(4):
            for batch in torch.split(torch.arange(192), 32):
                loss = torch.nn.functional.cross_entropy(model(features[batch]), labels[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                reporter.add(loss)
            with torch.no_grad():
                logits = model(features[192:])
                val_loss = torch.nn.functional.cross_entropy(logits, labels[192:])
                accuracy = (logits.argmax(dim=1) == labels[192:]).float().mean()
            reporter.end_epoch(val_loss=val_loss, val_metric=accuracy)
        return float(accuracy)

    study = make_study(
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=SoTLPruner(n_startup_trials=2),
    )
    study.optimize(objective, n_trials=8)

    states = [t.state for t in study.trials]
    assert states.count(TrialState.COMPLETE) >= 2
    assert TrialState.PRUNED in states
    for frozen in study.trials:
        losses = [frozen.intermediate_values[s] for s in sorted(frozen.intermediate_values)]
        assert sorted(frozen.intermediate_values) == list(range(len(losses)))
        assert frozen.user_attrs["sotl"] == pytest.approx(sum(losses))
        assert frozen.user_attrs["sotl_e"] == pytest.approx(SoTLE(1)(losses))
        assert len(frozen.user_attrs["val_metric_curve"]) == len(losses)
    # Each pruned trial's loss was above the median of the trials that had reached its step.
    for frozen in study.trials:
        if frozen.state == TrialState.PRUNED:
            step = frozen.last_step
            earlier = [
                t.intermediate_values[step]
                for t in study.trials
                if t.number < frozen.number and step in t.intermediate_values
            ]
            assert frozen.intermediate_values[step] > np.median(earlier)


def test_importing_the_package_does_not_import_torch() -> None:
    code = (
        "import sys, optuna_sotl; optuna_sotl.SoTLPruner(); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
