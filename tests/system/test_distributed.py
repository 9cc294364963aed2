"""Several worker processes share one study on a real database, as on a cluster.

Each test starts :data:`N_WORKERS` separate Python processes (``tests/system/_workers.py``) on one
study of a shared storage, each training trials with :class:`~optuna_sotl.SoTLReporter` on
replayed loss curves and pruning with :class:`~optuna_sotl.SoTLPruner`, then checks from the
storage (and the workers' event logs) that the reporter and the pruner behaved as in one process.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
import json
import pathlib
import subprocess
import time
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState
import pytest

from optuna_sotl.pruners._sparing import SPARED_ATTR
from tests.storages import StorageSupplier
from tests.system import _workers


N_WORKERS = 4
TRIALS_PER_WORKER = 4

# The storages several hosts can share; SQLite (one host only) is covered by the one-process tests
# of every storage (tests/unit/reporter/test_reporter.py, tests/unit/pruners/test_pruner.py).
DISTRIBUTED_MODES = ["postgresql", "mysql", "journal_file", "journal_redis", "grpc"]


@pytest.fixture(params=DISTRIBUTED_MODES)
def shared(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> Iterator[tuple[StorageSupplier, optuna.storages.BaseStorage]]:
    grpc_url = request.getfixturevalue("grpc_url") if request.param == "grpc" else None
    supplier = StorageSupplier(request.param, tmp_path, grpc_url)
    with supplier as storage:
        yield supplier, storage


def run_workers(
    supplier: StorageSupplier,
    study_name: str,
    work_dir: pathlib.Path,
    n_workers: int,
    timeout: float = 120.0,
    not_before: float = 0.0,
    **config: Any,
) -> list[subprocess.CompletedProcess[str]]:
    """Run ``n_workers`` worker processes at once and wait for them.

    They are released together once all have started, and not before ``time.monotonic()`` reaches
    ``not_before``.
    """
    barrier = work_dir / "barrier"
    barrier.mkdir()
    processes = []
    for index in range(n_workers):
        worker_config = {
            "url": supplier.url,
            "study_name": study_name,
            "worker_index": index,
            "barrier_dir": str(barrier),
            "events_path": str(work_dir / f"events-{index}.jsonl"),
            # The Redis journal of a test lives under the supplier's key prefix.
            "redis_prefix": supplier._prefix if supplier.mode == "journal_redis" else None,
            **config,
        }
        argv, env = _workers.worker_command(worker_config)
        processes.append(
            subprocess.Popen(
                argv,
                cwd=_workers.REPO_ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    try:
        # Release them together once all have imported and opened the storage.
        deadline = time.monotonic() + timeout
        while len(list(barrier.glob("ready-*"))) < n_workers:
            assert all(p.poll() is None for p in processes), _outputs(processes)
            assert time.monotonic() < deadline, "workers did not start"
            time.sleep(0.05)
        time.sleep(max(0.0, not_before - time.monotonic()))
        (barrier / "go").touch()
        results = []
        for process in processes:
            stdout, stderr = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
            results.append(
                subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
            )
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]
    return results


def _outputs(processes: list[subprocess.Popen[str]]) -> str:
    return "\n".join(
        (p.stderr.read() if p.stderr and p.poll() is not None else "")[-2000:] for p in processes
    )


def read_events(work_dir: pathlib.Path) -> list[dict[str, Any]]:
    events = []
    for path in sorted(work_dir.glob("events-*.jsonl")):
        events.extend(json.loads(line) for line in path.read_text().splitlines())
    return events


def journal_intermediate_writes(
    storage: optuna.storages.JournalStorage,
) -> collections.Counter[tuple[int, int]]:
    """How many times the journal (file or Redis) holds a write of each (trial_id, step)."""
    op_code = optuna.storages.journal._storage.JournalOperation.SET_TRIAL_INTERMEDIATE_VALUE
    writes: collections.Counter[tuple[int, int]] = collections.Counter()
    for record in storage._backend.read_logs(0):
        if record["op_code"] == op_code:
            writes[(record["trial_id"], record["step"])] += 1
    return writes


def decision_is_possible(
    own: float,
    certain: list[float],
    uncertain: list[float],
    certain_complete: int,
    possible_complete: int,
    pruned: bool,
) -> bool:
    """Could SoTLPruner have decided ``pruned`` from some storage state the bounds allow?

    The pruner saw every ``certain`` score, some subset of the ``uncertain`` ones, and between
    ``certain_complete`` and ``possible_complete`` complete trials. Its rule, written out here
    independently: prune when at least N_STARTUP_TRIALS trials are complete, at least one other
    trial reached the step, and the own score is above the PERCENTILE-th percentile (linear
    interpolation) of the others' scores.

    For a fixed number of others, every order statistic, and so the percentile, is smallest when
    the smallest uncertain scores are the ones seen and largest with the largest ones; so the
    certain scores plus the j smallest or the j largest uncertain ones, for every j, reach both
    extremes the pruner could have computed. The rule is monotone in the count of complete
    trials, so its two bounds suffice.
    """
    ranked = sorted(uncertain)
    for size in range(len(ranked) + 1):
        for extra in (ranked[:size], ranked[len(ranked) - size :]):
            others = certain + extra
            for n_complete in {certain_complete, possible_complete}:
                would_prune = (
                    n_complete >= _workers.N_STARTUP_TRIALS
                    and len(others) >= 1
                    and own > np.percentile(others, _workers.PERCENTILE)
                )
                if would_prune == pruned:
                    return True
    return False


def check_pruning_decisions(trials: list[optuna.trial.FrozenTrial], events: list[dict]) -> int:
    """Check every pruning decision against what the storage held when it was taken.

    Why this is sound: a worker logs ``t0`` just before ``end_epoch`` (which reports the loss and
    then asks the pruner, whose one ``get_trials`` read sees a snapshot of the storage) and ``t1``
    just after it returns or raises, on ``time.monotonic()``, one clock for every process of the
    machine. For the decision of trial P at step s, another trial Q's loss at step s was
    *certainly* in the snapshot when Q's ``end_epoch`` at s had returned before P's began
    (``t1_Q < t0_P``: the write had committed), and *possibly* in it when Q's began before P's
    returned (``t0_Q < t1_P``); a loss written later cannot have been seen. Losses are recomputed
    from the trial's parameters, not trusted from the log. Complete trials are bounded the same way
    (objective returned before ``t1_P``: possibly complete; told before ``t0_P``: certainly).
    The decision passes when some storage state between the bounds gives it, so a pruner that read
    stale or partial data (missing a certainly-stored loss), pruned before its start-up trials
    completed, or kept a trial every possible state says prune, fails the check. Trials that
    finished after P was pruned are never counted, as they are not in any allowed state.

    Returns the number of decisions checked.
    """
    by_number = {trial.number: trial for trial in trials}
    epochs = {(e["trial"], e["step"]): e for e in events if e["kind"] == "epoch"}
    returned = {e["trial"]: e["t"] for e in events if e["kind"] == "return"}
    told_complete = {
        e["trial"]: e["t"] for e in events if e["kind"] == "told" and e["state"] == "COMPLETE"
    }
    checked = 0
    for (number, step), event in sorted(epochs.items()):
        if step < _workers.N_WARMUP_STEPS:
            assert not event["pruned"], f"trial {number} pruned at step {step}, in its warm-up"
            continue
        own = by_number[number].intermediate_values[step]
        certain, uncertain = [], []
        for (other, other_step), other_event in epochs.items():
            if other == number or other_step != step:
                continue
            loss = by_number[other].intermediate_values[step]
            if other_event["t1"] < event["t0"]:
                certain.append(loss)
            elif other_event["t0"] < event["t1"]:
                uncertain.append(loss)
        certain_complete = sum(t < event["t0"] for t in told_complete.values())
        possible_complete = sum(
            returned[n] < event["t1"] for n in told_complete if n in returned
        )
        assert decision_is_possible(
            own, certain, uncertain, certain_complete, possible_complete, event["pruned"]
        ), (
            f"trial {number} {'pruned' if event['pruned'] else 'kept'} at step {step} with loss "
            f"{own}: others certainly stored {sorted(certain)}, possibly {sorted(uncertain)}, "
            f"complete trials {certain_complete}..{possible_complete}"
        )
        checked += 1
    return checked


def run_shared_study(
    shared: tuple[StorageSupplier, optuna.storages.BaseStorage],
    work_dir: pathlib.Path,
    **config: Any,
) -> list[optuna.trial.FrozenTrial]:
    """A new study of the shared storage run by :data:`N_WORKERS` workers; its trials."""
    supplier, storage = shared
    study = optuna.create_study(
        storage=storage, study_name=supplier.study_name(), direction="maximize"
    )
    run_workers(
        supplier,
        study.study_name,
        work_dir,
        N_WORKERS,
        n_trials=TRIALS_PER_WORKER,
        epoch_seconds=0.02,
        **config,
    )
    return optuna.load_study(study_name=study.study_name, storage=supplier.open()).trials


def test_many_workers_share_one_study(shared, tmp_path: pathlib.Path) -> None:
    storage = shared[1]
    trials = run_shared_study(shared, tmp_path)
    events = read_events(tmp_path)

    # Every trial reached a final state, and the workers ran all of them.
    assert len(trials) == N_WORKERS * TRIALS_PER_WORKER
    states = collections.Counter(trial.state for trial in trials)
    assert set(states) <= {TrialState.COMPLETE, TrialState.PRUNED}, states
    assert states[TrialState.PRUNED] >= 1 and states[TrialState.COMPLETE] >= 2, states

    epoch_events = collections.Counter(
        (e["trial"], e["step"]) for e in events if e["kind"] == "epoch"
    )
    assert max(epoch_events.values()) == 1, "an epoch was ended twice"
    for trial in trials:
        curve = _workers.replay_curve(trial.params, _workers.N_EPOCHS)
        steps = sorted(trial.intermediate_values)
        # Every reported epoch is stored, once, with the value the worker reported.
        assert steps == list(range(len(steps))), (trial.number, steps)
        assert steps == [s for (n, s) in sorted(epoch_events) if n == trial.number]
        stored = [trial.intermediate_values[s] for s in steps]
        assert stored == pytest.approx(curve[: len(steps)], rel=1e-12)
        assert trial.user_attrs["sotl"] == pytest.approx(sum(stored), rel=1e-12)
        assert trial.user_attrs["val_loss_curve"] == pytest.approx(
            [_workers.val_loss_of(loss) for loss in stored], rel=1e-12
        )
        if trial.state == TrialState.COMPLETE:
            assert len(steps) == _workers.N_EPOCHS
            assert trial.value == pytest.approx(1.0 / (1.0 + curve[-1]))
        else:
            assert steps[-1] >= _workers.N_WARMUP_STEPS, "pruned in its warm-up"
    if isinstance(storage, optuna.storages.JournalStorage):
        # The journal is the write log itself: no step was written twice.
        writes = journal_intermediate_writes(storage)
        assert sum(writes.values()) == sum(len(t.intermediate_values) for t in trials)
        assert max(writes.values()) == 1

    assert check_pruning_decisions(trials, events) >= len(trials)


@pytest.mark.parametrize("pruner", ["sotl", "sha", "hyperband"])
def test_workers_spare_trials_until_they_took_the_share(
    shared, tmp_path: pathlib.Path, pruner: str
) -> None:
    """Sparing by a share (the spare_share of SoTLPruner, SoTLSuccessiveHalvingPruner and
    SoTLHyperbandPruner, whose share counts every bracket),
    decided by several processes: each trial's choice is made once and stored, a spared trial
    (its losses are finite) is never pruned, and the spared epochs overshoot the share by at most
    what the trials running at the last spared decision, one per worker, trained after it."""
    share = 0.2
    trials = run_shared_study(shared, tmp_path, spare_share=share, pruner=pruner)
    assert len(trials) == N_WORKERS * TRIALS_PER_WORKER
    assert all(isinstance(trial.system_attrs.get(SPARED_ATTR), bool) for trial in trials)
    spared = [trial for trial in trials if trial.system_attrs[SPARED_ATTR]]
    assert spared and all(trial.state == TrialState.COMPLETE for trial in spared)
    assert any(trial.state == TrialState.PRUNED for trial in trials)
    epochs = sum(len(trial.intermediate_values) for trial in trials)
    spared_epochs = sum(len(trial.intermediate_values) for trial in spared)
    assert spared_epochs <= share * epochs + N_WORKERS * _workers.N_EPOCHS


def test_the_decision_check_rejects_wrong_decisions() -> None:
    """The check above must be able to fail: decisions no storage state allows are caught."""
    step = _workers.N_WARMUP_STEPS

    def case(losses: list[float], pruned: bool, overlap: bool = False) -> int:
        trials = [_frozen(number, [loss] * (step + 1)) for number, loss in enumerate(losses)]
        # Trials 10 and 11 completed before anything else happened: the start-up rule is met.
        events: list[dict[str, Any]] = [
            {"kind": kind, "trial": n, "state": "COMPLETE", "t": t}
            for n in (10, 11)
            for kind, t in (("return", 0.5), ("told", 0.6))
        ]
        for s in range(step + 1):
            # Trials 0 and 1 end each epoch one after the other, trial 2 long after both ...
            starts = [1.0 + s, 1.3 + s, 5.0 + s]
            if overlap and s == step:
                starts[1] = starts[2] + 0.1  # ... unless trial 1 ends its last while 2 decides.
            for number, t0 in enumerate(starts):
                events.append({
                    "kind": "epoch", "trial": number, "step": s, "t0": t0, "t1": t0 + 0.2,
                    "pruned": pruned and number == 2 and s == step,
                })
        return check_pruning_decisions(trials, events)

    # 3.0 against 2.0 and 1.0 (median 1.5): pruning trial 2 is right, keeping it is not.
    assert case([2.0, 1.0, 3.0], pruned=True) == 3
    with pytest.raises(AssertionError, match="trial 2 kept at step"):
        case([2.0, 1.0, 3.0], pruned=False)
    # With trial 1's loss only possibly stored, 3.0 is worse than 2.0 alone too: still wrong.
    with pytest.raises(AssertionError, match="trial 2 kept at step"):
        case([2.0, 1.0, 3.0], pruned=False, overlap=True)
    # A loss better than every other must never be pruned.
    with pytest.raises(AssertionError, match="trial 2 pruned at step"):
        case([2.0, 1.0, 0.5], pruned=True)


def _frozen(number: int, losses: list[float]) -> optuna.trial.FrozenTrial:
    trial = optuna.create_trial(value=0.0, intermediate_values=dict(enumerate(losses)))
    trial.number = number
    return trial
