"""Four worker processes share one multi-objective study on PostgreSQL (SoTLParetoPruner)."""

from __future__ import annotations

import collections
import pathlib
import subprocess
import sys
import time

import optuna
from optuna.trial import TrialState
import pytest

from tests.storages import StorageSupplier
from tests.system import _mo_workers


def test_four_workers_on_postgresql(tmp_path: pathlib.Path, request) -> None:
    supplier = StorageSupplier("postgresql", tmp_path, None)
    with supplier as storage:
        study = optuna.create_study(
            storage=storage,
            study_name=supplier.study_name(),
            directions=["maximize", "minimize"],
        )
        n_workers, n_trials = 4, 5
        go = tmp_path / "go"
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.system._mo_workers",
                    supplier.url,
                    study.study_name,
                    str(index),
                    str(n_trials),
                    str(go),
                ],
                cwd=_mo_workers.REPO_ROOT,
                env=_mo_workers.worker_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for index in range(n_workers)
        ]
        try:
            time.sleep(0.5)
            go.touch()  # released together, so they train at the same time
            outputs = [p.communicate(timeout=180) for p in processes]
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        for process, (_, stderr) in zip(processes, outputs):
            assert process.returncode == 0, stderr[-3000:]

        trials = optuna.load_study(study_name=study.study_name, storage=supplier.open()).trials
        assert len(trials) == n_workers * n_trials
        states = collections.Counter(t.state for t in trials)
        assert set(states) <= {TrialState.COMPLETE, TrialState.PRUNED}, states
        assert states[TrialState.PRUNED] >= 1, states
        for trial in trials:
            steps = sorted(trial.intermediate_values)
            assert steps == list(range(len(steps)))
            expected = _mo_workers.curve_of(trial.params["quality"])[: len(steps)]
            assert [trial.intermediate_values[s] for s in steps] == pytest.approx(expected)
            assert trial.user_attrs["sotl"] == pytest.approx(sum(expected))
            if trial.state == TrialState.COMPLETE:
                assert len(steps) == _mo_workers.N_EPOCHS
