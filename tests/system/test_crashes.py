"""A crashed worker costs a trial at most, never the study, and never leaves a half-written trial.

* A retried trial that inherited its failed attempt's epochs is resumed by the reporter: each
  epoch stays stored once (in-process tests on every storage).
* A worker killed with SIGKILL mid-trial: with RDB heartbeats and
  ``RetryHeartbeatStaleTrialCallback(inherit_intermediate_values=True)`` another worker marks the
  trial FAIL, re-queues it, resumes it, and the study reaches its trial count.
* A worker whose PostgreSQL connections are terminated (``pg_terminate_backend``) fails loudly
  or recovers; the storage holds no RUNNING, corrupted or half-written trial afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
import pathlib
import signal
import subprocess
import time
from typing import Any
import uuid
import warnings

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState
import pytest

from optuna_sotl import SoTLE
from optuna_sotl import SoTLPruner
from optuna_sotl import SoTLReporter
from optuna_sotl import SoTLReporterWarning
from tests.storages import POSTGRES_URL
from tests.storages import StorageSupplier
from tests.system import _workers
from tests.system.test_distributed import read_events
from tests.system.test_distributed import run_workers


HEARTBEAT_INTERVAL = 1  # seconds, the smallest Optuna allows
GRACE_PERIOD = 2


def fail_and_retry(study: optuna.Study, trial: optuna.Trial, inherit: bool = True) -> None:
    """What ``fail_stale_trials`` in a worker does to a stale trial: FAIL it, run the callback."""
    study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
    failed = study._storage.get_trial(trial._trial_id)
    RetryHeartbeatStaleTrialCallback(inherit_intermediate_values=inherit)(study, failed)


def run_epochs(reporter: SoTLReporter, losses: list[float], start: int = 0, **kwargs: Any) -> None:
    for epoch, loss in enumerate(losses, start=start):
        reporter.add(loss)
        reporter.end_epoch(val_loss=loss + 0.5, **kwargs)


def test_retried_trial_trained_again_from_epoch_0_stores_each_epoch_once(make_study) -> None:
    study = make_study(pruner=optuna.pruners.NopPruner())
    first = study.ask()
    run_epochs(SoTLReporter(first), [3.0, 2.0, 1.5])
    fail_and_retry(study, first)

    retry = study.ask()
    assert RetryHeartbeatStaleTrialCallback.retried_trial_number(
        study._storage.get_trial(retry._trial_id)
    ) == first.number
    reporter = SoTLReporter(retry)
    assert reporter.resume_step == 3
    assert reporter.train_losses == [3.0, 2.0, 1.5]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Trained again from scratch, not bit-identically: the stored epochs keep their values.
        run_epochs(reporter, [3.1, 2.1, 1.6, 1.25])
    # Optuna warns when a step is reported twice: the reporter must not do it. It says once that
    # it took the epochs for steps trained again, which a loop from a checkpoint must not be.
    assert [type(w.message) for w in caught] == [SoTLReporterWarning]
    assert "pass step=epoch" in str(caught[0].message)
    study.tell(retry, 0.5)

    frozen = study._storage.get_trial(retry._trial_id)
    assert frozen.intermediate_values == {0: 3.0, 1: 2.0, 2: 1.5, 3: 1.25}
    assert frozen.user_attrs["sotl"] == pytest.approx(7.75)
    assert frozen.user_attrs["sotl_e"] == pytest.approx(1.25)
    assert frozen.user_attrs["val_loss_curve"] == pytest.approx([3.5, 2.5, 2.0, 1.75])
    assert reporter.train_losses == [3.0, 2.0, 1.5, 1.25]


def test_retried_trial_resumed_from_a_checkpoint(make_study) -> None:
    study = make_study(pruner=optuna.pruners.NopPruner())
    first = study.ask()
    run_epochs(SoTLReporter(first), [3.0, 2.0], val_metric=0.5)
    fail_and_retry(study, first)

    retry = study.ask()
    reporter = SoTLReporter(retry)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for epoch in range(reporter.resume_step, 4):
            reporter.add(1.0 / epoch)
            reporter.end_epoch(step=epoch, val_metric=0.9)
    frozen = study._storage.get_trial(retry._trial_id)
    assert frozen.intermediate_values == {0: 3.0, 1: 2.0, 2: 0.5, 3: pytest.approx(1 / 3)}
    assert frozen.user_attrs["sotl"] == pytest.approx(5.5 + 1 / 3)
    assert frozen.user_attrs["val_metric_curve"] == [0.5, 0.5, 0.9, 0.9]
    assert frozen.user_attrs["val_loss_curve"] == [3.5, 2.5]  # none given since the retry


def test_retry_without_inherited_values_starts_afresh(make_study) -> None:
    study = make_study(pruner=optuna.pruners.NopPruner())
    first = study.ask()
    run_epochs(SoTLReporter(first), [3.0, 2.0, 1.0])
    fail_and_retry(study, first, inherit=False)

    retry = study.ask()
    reporter = SoTLReporter(retry)
    assert reporter.resume_step == 0
    run_epochs(reporter, [4.0])
    frozen = study._storage.get_trial(retry._trial_id)
    assert frozen.intermediate_values == {0: 4.0}
    # The user attributes the callback copied from the failed attempt are replaced, not mixed in.
    assert frozen.user_attrs["sotl"] == 4.0
    assert frozen.user_attrs["val_loss_curve"] == [4.5]


def test_a_retry_fills_the_validation_entries_its_killed_attempt_left_out(make_study) -> None:
    """A worker killed between ``trial.report`` and the user attributes of epoch 3."""
    study = make_study(pruner=optuna.pruners.NopPruner())
    first = study.ask()
    run_epochs(SoTLReporter(first), [3.0, 2.0, 1.5], val_metric=0.5)
    first.report(1.25, 3)  # the killed attempt's last write
    stale = study._storage.get_trial(first._trial_id)
    assert stale.user_attrs["sotl"] == pytest.approx(6.5)  # the epoch before: stale
    fail_and_retry(study, first)

    retry = study.ask()
    reporter = SoTLReporter(retry)
    assert reporter.resume_step == 4
    frozen = study._storage.get_trial(retry._trial_id)
    assert frozen.user_attrs["sotl"] == pytest.approx(7.75)  # repaired from the stored losses
    assert frozen.user_attrs["sotl_e"] == pytest.approx(1.25)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SoTLReporterWarning)  # trained again from epoch 0
        for epoch, loss in enumerate([3.1, 2.1, 1.6, 1.3, 1.0]):
            reporter.add(loss)
            reporter.end_epoch(val_loss=loss + 0.5, val_metric=0.9 + epoch / 100)
    frozen = study._storage.get_trial(retry._trial_id)
    assert frozen.intermediate_values == {0: 3.0, 1: 2.0, 2: 1.5, 3: 1.25, 4: 1.0}
    # Every epoch the retry trained has its entries; the attempt's own ones are kept.
    assert frozen.user_attrs["val_metric_curve"] == pytest.approx([0.5, 0.5, 0.5, 0.93, 0.94])
    assert frozen.user_attrs["val_loss_curve"] == pytest.approx([3.5, 2.5, 2.0, 1.8, 1.5])
    assert frozen.user_attrs["val_metric"] == pytest.approx(0.94)
    assert frozen.user_attrs["sotl"] == pytest.approx(8.75)
    assert frozen.user_attrs["sotl_e"] == pytest.approx(1.0)


@pytest.mark.filterwarnings("ignore::optuna_sotl.SoTLReporterWarning")  # from 0 on purpose
def test_retried_trial_is_judged_once_at_its_last_stored_epoch(make_study) -> None:
    study = make_study(
        pruner=SoTLPruner(n_startup_trials=1, estimator=SoTLE(1), spare_share=0.0)
    )
    study.add_trial(optuna.create_trial(value=1.0, intermediate_values={0: 1.0, 1: 1.0, 2: 1.0}))
    first = study.ask()
    reporter = SoTLReporter(first)
    run_epochs(reporter, [0.5, 0.5])
    # The attempt stores a bad epoch and dies before the pruner answers.
    first.report(5.0, 2)
    fail_and_retry(study, first)

    retry = study.ask()
    reporter = SoTLReporter(retry)
    run_epochs(reporter, [0.5, 0.5])  # the pruner is not asked again at steps it kept
    reporter.add(0.5)
    with pytest.raises(optuna.TrialPruned, match=r"step 2: SoTL-E\(E=1\) = 5\b"):
        reporter.end_epoch()
    stored = study._storage.get_trial(retry._trial_id).intermediate_values
    assert stored == {0: 0.5, 1: 0.5, 2: 5.0}


# --- worker processes on real servers ---------------------------------------------------------


@pytest.fixture(params=["postgresql", "mysql"])
def rdb(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[StorageSupplier]:
    supplier = StorageSupplier(request.param, tmp_path, None)
    with supplier:
        yield supplier


def heartbeat_config(supplier: StorageSupplier, study_name: str, **config: Any) -> dict[str, Any]:
    return {
        "url": supplier.url,
        "study_name": study_name,
        "heartbeat_interval": HEARTBEAT_INTERVAL,
        "grace_period": GRACE_PERIOD,
        **config,
    }


def start_worker(config: dict[str, Any]) -> subprocess.Popen[str]:
    argv, env = _workers.worker_command(config)
    return subprocess.Popen(
        argv,
        cwd=_workers.REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_epochs(
    storage: optuna.storages.BaseStorage,
    study_name: str,
    n_epochs: int,
    worker: subprocess.Popen[str],
) -> optuna.trial.FrozenTrial:
    """Wait until a RUNNING trial of the study has stored ``n_epochs`` epochs."""
    study = optuna.load_study(study_name=study_name, storage=storage)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert worker.poll() is None, worker.communicate()[1][-3000:]
        for trial in study.get_trials(states=(TrialState.RUNNING,)):
            if len(trial.intermediate_values) >= n_epochs:
                return trial
        time.sleep(0.05)
    raise AssertionError(f"no trial reached {n_epochs} epochs")


def check_trial_is_whole(trial: optuna.trial.FrozenTrial) -> None:
    """The trial's stored epochs are 0..k with the replayed values, and its attributes agree.

    An epoch is one ``trial.report`` and then separate user-attribute writes: a worker that dies
    between them leaves a FAIL trial whose attributes describe the epoch before. The stored
    losses, which the pruner reads, are the record; a retry's reporter recomputes the SoTL
    attributes from them and fills the validation entries of the epochs it trained again.
    """
    steps = sorted(trial.intermediate_values)
    assert steps == list(range(len(steps))), (trial.number, steps)
    losses = [trial.intermediate_values[s] for s in steps]
    assert losses == pytest.approx(_workers.replay_curve(trial.params, len(steps)), rel=1e-12)
    if not steps:
        return
    crashed = trial.state == TrialState.FAIL
    if crashed and "sotl" not in trial.user_attrs:
        # Died between its first report and that epoch's attribute writes: no epoch before it
        # had attributes to describe.
        assert len(steps) == 1, (trial.number, steps, trial.user_attrs)
    else:
        sums = [sum(losses), sum(losses[:-1])] if crashed else [sum(losses)]
        assert any(trial.user_attrs["sotl"] == pytest.approx(s, rel=1e-12) for s in sums), (
            trial.number, trial.state, losses, trial.user_attrs,
        )
    curve = trial.user_attrs.get("val_loss_curve", [])
    expected = [_workers.val_loss_of(loss) for loss in losses]
    if crashed:
        assert len(steps) - 1 <= len(curve) <= len(steps), (trial.number, curve)
        for value, want in zip(curve, expected):
            assert value is None or value == pytest.approx(want, rel=1e-12), (trial.number, curve)
    else:  # a retry trained every epoch again, from 0: none of its entries is missing
        assert curve == pytest.approx(expected, rel=1e-12), (trial.number, curve)


def test_sigkilled_worker_costs_one_retried_trial(rdb: StorageSupplier, tmp_path) -> None:
    study = optuna.create_study(storage=rdb.storage, study_name=rdb.study_name())
    victim = start_worker(
        heartbeat_config(
            rdb, study.study_name, worker_index=99, n_trials=1, epoch_seconds=0.3,
            events_path=str(tmp_path / "events-victim.jsonl"),
        )
    )
    try:
        wait_for_epochs(rdb.storage, study.study_name, 2, victim)
        victim.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        victim.wait(timeout=30)
    finally:
        if victim.poll() is None:
            victim.kill()
        victim.communicate()
    killed = study.trials[0]
    assert killed.state == TrialState.RUNNING
    n_inherited = len(killed.intermediate_values)

    target = 4
    run_workers(
        rdb, study.study_name, tmp_path, 2, n_trials=target, epoch_seconds=0.02,
        # Once the heartbeat is stale, so that the survivors' first trials find it.
        not_before=killed_at + GRACE_PERIOD + 1.2,
        max_finished=target, heartbeat_interval=HEARTBEAT_INTERVAL, grace_period=GRACE_PERIOD,
    )

    trials = optuna.load_study(study_name=study.study_name, storage=rdb.open()).trials
    states = [trial.state for trial in trials]
    assert states[0] == TrialState.FAIL
    assert states.count(TrialState.FAIL) == 1
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) >= target
    retries = [
        t for t in trials if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == 0
    ]
    assert len(retries) == 1, "the stale trial must be re-queued exactly once"
    retry = retries[0]
    assert retry.state in (TrialState.COMPLETE, TrialState.PRUNED)
    assert retry.params == killed.params
    assert len(retry.intermediate_values) >= n_inherited
    for trial in trials:
        check_trial_is_whole(trial)
    # The retry resumed from the inherited epochs (the workers turn a repeated report into an
    # error, so none was repeated).
    retry_events = [
        e for e in read_events(tmp_path) if e["kind"] == "epoch" and e["trial"] == retry.number
    ]
    assert retry_events and {e["resume_step"] for e in retry_events} == {n_inherited}


def postgres_with_password() -> tuple[str, str]:
    """The test server's URL with a password in it (trust authentication ignores it)."""
    import sqlalchemy

    url = sqlalchemy.engine.make_url(POSTGRES_URL)
    if url.password is None:
        url = url.set(password=f"not-a-secret-{uuid.uuid4().hex[:8]}")
    return url.render_as_string(hide_password=False), str(url.password)


def terminate_backends(application_name: str) -> int:
    import psycopg2
    import sqlalchemy

    url = sqlalchemy.engine.make_url(POSTGRES_URL)
    connection = psycopg2.connect(
        host=url.host, port=url.port or 5432, user=url.username or "postgres",
        password=url.password, dbname=url.database,
    )
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                (application_name,),
            )
            return sum(1 for (terminated,) in cursor.fetchall() if terminated)
    finally:
        connection.close()


@pytest.mark.parametrize("pool_pre_ping", [False, True])
def test_terminated_connection_fails_loudly_or_recovers(
    tmp_path: pathlib.Path, pool_pre_ping: bool
) -> None:
    """Optuna's default engine for PostgreSQL has no ``pool_pre_ping``: the worker's next write on
    the dead connection fails, and so does the trial, loudly. With ``pool_pre_ping=True`` a
    connection that died while idle is replaced on checkout and the worker usually goes on; one
    that dies mid-query still fails. Either way the storage must stay whole."""
    url, password = postgres_with_password()
    supplier = StorageSupplier("postgresql", tmp_path, None)
    with supplier:
        supplier.url = url
        study = optuna.create_study(storage=supplier.open(), study_name=supplier.study_name())
        name = f"optuna-sotl-crash-{uuid.uuid4().hex[:8]}"
        worker = start_worker(
            heartbeat_config(
                supplier, study.study_name, worker_index=7, n_trials=2, epoch_seconds=0.4,
                application_name=name, pool_pre_ping=pool_pre_ping,
            )
        )
        try:
            wait_for_epochs(supplier.storage, study.study_name, 1, worker)
            assert terminate_backends(name) >= 1
            stdout, stderr = worker.communicate(timeout=90)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
        assert password not in stdout + stderr
        if worker.returncode != 0:
            # Loud: the error names the lost connection.
            assert "StorageInternalError" in stderr or "OperationalError" in stderr, stderr[-3000:]
        if any(t.state == TrialState.RUNNING for t in study.trials):
            time.sleep(GRACE_PERIOD + 1.5)

        target = 3
        run_workers(
            supplier, study.study_name, tmp_path, 1, n_trials=10, epoch_seconds=0.02,
            max_finished=target, heartbeat_interval=HEARTBEAT_INTERVAL,
            grace_period=GRACE_PERIOD,
        )
        trials = optuna.load_study(study_name=study.study_name, storage=supplier.open()).trials
        states = [trial.state for trial in trials]
        assert TrialState.RUNNING not in states and TrialState.WAITING not in states
        assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) >= target
        for trial in trials:
            check_trial_is_whole(trial)
