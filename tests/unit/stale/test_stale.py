"""``fail_stale_trials`` and ``optuna-sotl fail-stale`` on the storages without a heartbeat.

A killed worker's trial stays RUNNING on a journal file, a Redis journal or behind the gRPC
proxy. The tool fails the RUNNING trials older than a bound and re-queues them with their stored
epochs, as ``RetryHeartbeatStaleTrialCallback(inherit_intermediate_values=True)`` does.
"""

from __future__ import annotations

import datetime
import math

import optuna
from optuna.distributions import FloatDistribution
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState
import pytest

from optuna_sotl import fail_stale_trials
from optuna_sotl import SoTLReporter
from optuna_sotl._cli import main


NO_HEARTBEAT = ["journal_file", "journal_redis", "grpc", "sqlite"]


def add_running_trial(study: optuna.Study, hours_ago: float) -> int:
    """A RUNNING trial whose worker died ``hours_ago`` hours ago, after two epochs."""
    started = datetime.datetime.now() - datetime.timedelta(hours=hours_ago)
    study.add_trial(
        optuna.trial.FrozenTrial(
            number=-1,  # the storage numbers it
            trial_id=-1,
            state=TrialState.RUNNING,
            value=None,
            datetime_start=started,
            datetime_complete=None,
            params={"lr": 0.1},
            distributions={"lr": FloatDistribution(0.01, 1.0)},
            user_attrs={"sotl": 5.0, "sotl_e": 2.0, "val_loss_curve": [3.5, 2.5]},
            system_attrs={},
            intermediate_values={0: 3.0, 1: 2.0},
        )
    )
    return study.trials[-1].number


@pytest.mark.parametrize("storage_supplier", NO_HEARTBEAT, indirect=True)
def test_fails_and_requeues_only_the_old_running_trials(make_study) -> None:
    study = make_study(pruner=optuna.pruners.NopPruner())
    study.add_trial(optuna.create_trial(value=1.0, intermediate_values={0: 1.0}))
    old = add_running_trial(study, hours_ago=2)
    fresh = study.ask()

    assert fail_stale_trials(study, older_than=3 * 3600, retry=True) == []
    results = fail_stale_trials(study, older_than=3600, retry=True)
    assert [(r.number, r.failed, r.n_epochs) for r in results] == [(old, True, 2)]
    assert results[0].age_seconds >= 3600

    trials = study.get_trials()
    assert trials[old].state == TrialState.FAIL
    assert trials[fresh.number].state == TrialState.RUNNING  # younger than the bound: alive
    copy = trials[results[0].retried_as]
    assert copy.state == TrialState.WAITING
    assert RetryHeartbeatStaleTrialCallback.retried_trial_number(copy) == old
    assert copy.params == {"lr": 0.1} and copy.intermediate_values == {0: 3.0, 1: 2.0}

    # The next worker picks the copy up and its reporter resumes after the stored epochs.
    retry = study.ask()
    assert retry.number == copy.number
    reporter = SoTLReporter(retry)
    assert reporter.resume_step == 2 and reporter.train_losses == [3.0, 2.0]
    reporter.add(1.0)
    reporter.end_epoch(step=2, val_loss=1.5)
    study.tell(retry, 0.5)
    done = study.get_trials()[copy.number]
    assert done.intermediate_values == {0: 3.0, 1: 2.0, 2: 1.0}
    assert done.user_attrs["sotl"] == 6.0 and done.user_attrs["val_loss_curve"] == [3.5, 2.5, 1.5]


@pytest.mark.parametrize("storage_supplier", ["journal_file", "journal_redis"], indirect=True)
def test_max_retry_and_no_retry(make_study) -> None:
    study = make_study()
    first = add_running_trial(study, hours_ago=2)
    [result] = fail_stale_trials(study, older_than=3600, retry=True, max_retry=1)
    retry = study.ask()  # the copy, RUNNING from now on; its worker dies too
    assert retry.number == result.retried_as
    [again] = fail_stale_trials(study, older_than=0, retry=True, max_retry=1)
    assert again.number == retry.number and again.failed and again.retried_as is None
    assert RetryHeartbeatStaleTrialCallback.retry_history(study.trials[retry.number]) == [first]
    second = add_running_trial(study, hours_ago=2)
    [plain] = fail_stale_trials(study, older_than=3600)  # retry is off by default
    assert plain.number == second
    assert plain.retried_as is None
    assert not study.get_trials(states=(TrialState.WAITING, TrialState.RUNNING))


def test_arguments_are_checked() -> None:
    study = optuna.create_study()
    with pytest.raises(TypeError, match="study"):
        fail_stale_trials("study", older_than=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="older_than"):
        fail_stale_trials(study, older_than="1h")  # type: ignore[arg-type]
    for bad in (-1, math.nan, math.inf):
        with pytest.raises(ValueError, match="older_than"):
            fail_stale_trials(study, older_than=bad)
    with pytest.raises(ValueError, match="max_retry"):
        fail_stale_trials(study, older_than=1, retry=True, max_retry=-1)
    with pytest.raises(TypeError, match="retry"):
        fail_stale_trials(study, older_than=1, retry="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("storage_supplier", ["journal_file", "grpc"], indirect=True)
def test_cli_fail_stale(make_study, storage_supplier, capsys) -> None:
    study = make_study()
    old = add_running_trial(study, hours_ago=2)
    fresh = study.ask()
    url = storage_supplier.url
    common = ["fail-stale", "--storage", url, "--study", study.study_name]

    assert main([*common, "--older-than", "3600", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"trial {old}: RUNNING since" in out and "nothing changed" in out
    assert study.trials[old].state == TrialState.RUNNING

    assert main([*common, "--older-than", "3600", "--max-retry", "2"]) == 0
    out = capsys.readouterr().out
    copy = study.trials[-1]
    assert f"trial {old}: RUNNING for" in out and f"re-queued as trial {copy.number}" in out
    assert "1 stale trial(s) failed" in out
    assert study.trials[old].state == TrialState.FAIL
    assert study.trials[fresh.number].state == TrialState.RUNNING
    assert copy.state == TrialState.WAITING and copy.intermediate_values == {0: 3.0, 1: 2.0}

    bad_arguments = (
        ["--older-than", "-5"], ["--older-than", "nan"], ["--older-than", "1", "--max-retry", "-1"]
    )
    for bad in bad_arguments:
        assert main([*common, *bad]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("optuna-sotl fail-stale: error: --")
    assert main([*common[:3], "--study", "nope", "--older-than", "1"]) == 2
    assert "--study 'nope' is not in" in capsys.readouterr().err
