"""Worker processes of the distributed and crash tests: ``python -m tests.system._workers CONFIG``.

Each worker opens the shared storage from a URL, loads the study and runs ``study.optimize`` with
:class:`~optuna_sotl.SoTLReporter` and :class:`~optuna_sotl.SoTLPruner` on a replayed loss curve
that depends on the trial's parameters only, so that the tests can recompute every value the
worker reported, and a retried trial replays the curve of its failed attempt.

Every epoch the worker appends a line to its own event file: the trial, the step, and the
``time.monotonic()`` (one clock for every process of the machine) just before ``end_epoch`` and
just after it returned or raised. ``tests/system/test_distributed.py`` reads these to bound what
the pruner could have seen in the storage when it decided.

The tests start workers with ``cwd`` at the repository root and ``PYTHONPATH`` naming it, see
:func:`worker_command`.
"""

from __future__ import annotations

from collections.abc import Sequence
import json
import math
import os
import pathlib
import sys
import time
from typing import Any
from typing import TYPE_CHECKING
import warnings


if TYPE_CHECKING:
    import optuna


REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]

# Minibatch losses of an epoch are the epoch's curve value times (1 + offset); the offsets sum to
# zero so that the epoch mean is the curve value.
MINIBATCH_OFFSETS = (-0.2, 0.2, -0.1, 0.1)
N_EPOCHS = 6
PERCENTILE = 50.0
N_STARTUP_TRIALS = 2
N_WARMUP_STEPS = 2


def replay_curve(params: dict[str, float], n_epochs: int) -> list[float]:
    """The training-loss curve a trial with ``params`` reports: decreasing, distinct per trial."""
    rate = params["rate"]
    floor = params["floor"]
    return [
        floor + 2.0 * math.exp(-rate * (epoch + 1)) + 0.02 * math.sin(7.0 * epoch + 13.0 * floor)
        for epoch in range(n_epochs)
    ]


def val_loss_of(train_loss: float) -> float:
    return 1.1 * train_loss + 0.05


def worker_command(config: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """The argv and environment that start a worker on ``config`` from the repository root."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return [sys.executable, "-m", "tests.system._workers", json.dumps(config)], env


def _open(config: dict[str, Any]) -> Any:
    import optuna

    from optuna_sotl._storage_url import open_storage

    if config.get("redis_prefix") is not None:
        backend = optuna.storages.journal.JournalRedisBackend(
            config["url"], prefix=config["redis_prefix"]
        )
        return optuna.storages.JournalStorage(backend)
    rdb_kwargs: dict[str, Any] = {}
    if config.get("heartbeat_interval"):
        rdb_kwargs["heartbeat_interval"] = config["heartbeat_interval"]
        rdb_kwargs["grace_period"] = config["grace_period"]
        rdb_kwargs["heartbeat_stale_trial_callback"] = (
            optuna.storages.RetryHeartbeatStaleTrialCallback(inherit_intermediate_values=True)
        )
    if config.get("application_name"):
        # Lets the crash test find this worker's PostgreSQL backends in pg_stat_activity.
        rdb_kwargs["engine_kwargs"] = {
            "connect_args": {"application_name": config["application_name"]},
            "pool_pre_ping": bool(config.get("pool_pre_ping")),
        }
    return open_storage(config["url"], **rdb_kwargs)


class _EventLog:
    def __init__(self, path: str | None) -> None:
        self._file = open(path, "a", encoding="utf-8") if path else None

    def write(self, **event: Any) -> None:
        if self._file is not None:
            self._file.write(json.dumps(event) + "\n")
            self._file.flush()


def _wait_for_go(config: dict[str, Any]) -> None:
    barrier = config.get("barrier_dir")
    if not barrier:
        return
    pathlib.Path(barrier, f"ready-{config['worker_index']}").touch()
    deadline = time.monotonic() + 120
    while not pathlib.Path(barrier, "go").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the test never said go")
        time.sleep(0.01)


def run_worker(config: dict[str, Any]) -> None:
    import optuna
    from optuna.trial import TrialState

    from optuna_sotl import SoTLReporter

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # Optuna ignores a step reported twice with this warning; in a worker it is a bug of ours.
    warnings.filterwarnings("error", message=".*is already reported")

    n_epochs = config.get("n_epochs", N_EPOCHS)
    epoch_seconds = config.get("epoch_seconds", 0.0)
    log = _EventLog(config.get("events_path"))
    study = optuna.load_study(
        study_name=config["study_name"],
        storage=_open(config),
        sampler=optuna.samplers.RandomSampler(seed=1000 + config["worker_index"]),
        pruner=_pruner(config),
    )

    def objective(trial: optuna.Trial) -> float:
        curve = replay_curve(
            {
                "rate": trial.suggest_float("rate", 0.05, 1.0, log=True),
                "floor": trial.suggest_float("floor", 0.05, 1.0),
            },
            n_epochs,
        )
        reporter = SoTLReporter(trial)
        for epoch, loss in enumerate(curve):
            for offset in MINIBATCH_OFFSETS:
                reporter.add(loss * (1.0 + offset))
            time.sleep(epoch_seconds)  # the epoch's training
            event = {"trial": trial.number, "step": epoch, "resume_step": reporter.resume_step}
            before = time.monotonic()
            try:
                reporter.end_epoch(val_loss=val_loss_of(loss), val_metric=1.0 / (1.0 + loss))
            except optuna.TrialPruned:
                log.write(kind="epoch", t0=before, t1=time.monotonic(), pruned=True, **event)
                raise
            log.write(kind="epoch", t0=before, t1=time.monotonic(), pruned=False, **event)
        log.write(kind="return", trial=trial.number, t=time.monotonic())
        return 1.0 / (1.0 + curve[-1])  # an accuracy: the study maximises

    def told(study: optuna.Study, frozen: optuna.trial.FrozenTrial) -> None:
        log.write(kind="told", trial=frozen.number, state=frozen.state.name, t=time.monotonic())

    callbacks = [told]
    if config.get("max_finished") is not None:
        callbacks.append(
            optuna.study.MaxTrialsCallback(
                config["max_finished"], states=(TrialState.COMPLETE, TrialState.PRUNED)
            )
        )
    _wait_for_go(config)
    study.optimize(objective, n_trials=config["n_trials"], callbacks=callbacks)


def _pruner(config: dict[str, Any]) -> optuna.pruners.BasePruner:
    from optuna_sotl import SoTLE
    from optuna_sotl import SoTLHyperbandPruner
    from optuna_sotl import SoTLPruner
    from optuna_sotl import SoTLSuccessiveHalvingPruner

    # The tests check each decision against the stored loss at the step: SoTL-E(1), and no
    # trial spared from the comparison unless a test asks for it.
    spare_share = config.get("spare_share", 0.0)
    if config.get("pruner", "sotl") == "sha":
        return SoTLSuccessiveHalvingPruner(
            min_resource=1, reduction_factor=2, estimator=SoTLE(1), spare_share=spare_share
        )
    if config.get("pruner") == "hyperband":
        return SoTLHyperbandPruner(
            min_resource=1, max_resource=N_EPOCHS, reduction_factor=2, estimator=SoTLE(1),
            spare_share=spare_share,
        )
    return SoTLPruner(
        # Overridden only to check that the tests' decision check catches a wrong pruner.
        percentile=config.get("percentile", PERCENTILE),
        n_startup_trials=N_STARTUP_TRIALS,
        n_warmup_steps=N_WARMUP_STEPS,
        estimator=SoTLE(1),
        spare_share=spare_share,
    )


def main(argv: Sequence[str]) -> int:
    run_worker(json.loads(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
