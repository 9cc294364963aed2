"""Many worker processes on one PostgreSQL study decide as one process would.

Rungs (and Hyperband's brackets) live in the storage only: four processes, each with its own
pruner, make exactly the decisions of one process running the trials in the same order (see
tests/_lockstep.py). Hyperband runs in the same processes to share their start-up.
"""

from __future__ import annotations

import uuid

import optuna

from tests import _lockstep
from tests.storages import POSTGRES_URL
from tests.storages import require_server
from tests.unit.pruners.test_successive_halving import _random_curves


def test_four_worker_processes_on_postgres_decide_as_one() -> None:
    require_server("PostgreSQL", "127.0.0.1", 5432)
    prefix = f"optuna-sotl-test-halving-{uuid.uuid4().hex[:12]}"
    jobs = [
        (
            f"{prefix}-sha",
            "sha",
            {"min_resource": 1, "reduction_factor": 2},
            _random_curves(2, 16, 9),
        ),
        (
            f"{prefix}-hyperband",
            "hyperband",
            # Unspared: which trial is spared depends on when its first epoch arrives, which
            # the lock step does not order (the sparing test is in test_spare_share.py).
            {"min_resource": 1, "max_resource": 9, "reduction_factor": 2, "spare_share": 0.0},
            _random_curves(3, 16, 9),
        ),
    ]
    try:
        parallel = _lockstep.run_in_processes(POSTGRES_URL, jobs, n_workers=4)
    finally:
        for name, *_ in jobs:
            try:
                optuna.delete_study(study_name=name, storage=POSTGRES_URL)
            except KeyError:
                pass
    sequential = [
        _lockstep.run_sequentially(curves, kind, kwargs, name)
        for name, kind, kwargs, curves in jobs
    ]
    assert parallel == sequential
    sha_pruned_at = {step for state, step in sequential[0].values() if state == "PRUNED"}
    assert sha_pruned_at >= {1, 2, 4}
    assert any(state == "PRUNED" for state, _ in sequential[1].values())
