"""SoTL where people train: Lightning (one process, ddp, ddp_spawn), plain torch DDP, HF Trainer.

Each run trains a few trials of a tiny regression on SQLite and PostgreSQL; trial 1 is pruned at
step 1 by a deterministic pruner. Every rank writes its minibatch losses to a file, and the test
checks from storage that the value stored at step e is the mean of all ranks' minibatch losses
of epoch e, that every epoch of a finished trial is stored, that the pruned trial is PRUNED (not
FAIL) and that the study went on to the next trial. Multi-process runs are child processes with
a time limit, their ranks with a 60 s process-group timeout, so that a rank left waiting fails
the test instead of hanging it.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import json
import os
import pathlib
import subprocess
import sys

import optuna
from optuna.trial import TrialState
import pytest

from tests.storages import StorageSupplier


pytest.importorskip("torch")
REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
JOBS = pathlib.Path(__file__).resolve().parent
EPOCHS, PRUNED_TRIAL, PRUNED_STEP = 3, 1, 1


@contextlib.contextmanager
def studies(tmp_path: pathlib.Path) -> Iterator[list[tuple[StorageSupplier, str]]]:
    """A fresh study on SQLite and one on PostgreSQL (skipped off CI when it is unreachable)."""
    with contextlib.ExitStack() as stack:
        opened = []
        for mode in ("sqlite", "postgresql"):
            supplier = StorageSupplier(mode, tmp_path, None)
            try:
                storage = stack.enter_context(supplier)
            except pytest.skip.Exception:
                if mode == "sqlite":
                    raise
                continue
            name = supplier.study_name()
            optuna.create_study(storage=storage, study_name=name)
            opened.append((supplier, name))
        yield opened


def run_job(argv: list[str], timeout: float) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONWARNINGS": "ignore"}
    try:
        result = subprocess.run(
            [sys.executable, *argv],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"a rank hung: {argv[0]} did not end within {timeout} s\n{error.stderr}")
    assert result.returncode == 0, result.stderr[-4000:]


def check_study(
    supplier: StorageSupplier, study_name: str, out_dir: pathlib.Path, n_trials: int, ranks: int
) -> None:
    study = optuna.load_study(study_name=study_name, storage=supplier.open())
    trials = study.get_trials(deepcopy=False)
    # study.optimize went on after the pruned trial, to the last one.
    assert [t.number for t in trials] == list(range(n_trials))
    for trial in trials:
        losses = {}  # epoch -> every rank's minibatch losses
        for rank in range(ranks):
            path = out_dir / f"losses-{study_name}-{trial.number}-{rank}.json"
            for epoch, values in json.loads(path.read_text()).items():
                losses.setdefault(int(epoch), []).extend(values)
        if trial.number == PRUNED_TRIAL:
            assert trial.state == TrialState.PRUNED, (trial.state, trial.user_attrs)
            assert sorted(trial.intermediate_values) == list(range(PRUNED_STEP + 1))
        else:
            assert trial.state == TrialState.COMPLETE, (trial.state, trial.user_attrs)
            # Every epoch, the last one too, at step = epoch index.
            assert sorted(trial.intermediate_values) == list(range(EPOCHS))
        for step, stored in trial.intermediate_values.items():
            every_rank = losses[step]
            assert len(every_rank) > 0
            assert stored == pytest.approx(sum(every_rank) / len(every_rank), abs=1e-6)
        # The SoTL attributes SoTLReporter writes, and a validation value per stored epoch.
        assert trial.user_attrs["sotl"] == pytest.approx(sum(trial.intermediate_values.values()))
        assert len(trial.user_attrs["val_loss_curve"]) == len(trial.intermediate_values)


def test_import_optuna_sotl_imports_no_framework() -> None:
    code = (
        "import sys, optuna_sotl, optuna_sotl.integration;"
        "loaded = [m for m in ('torch', 'lightning', 'pytorch_lightning', 'transformers')"
        " if m in sys.modules];"
        "assert not loaded, loaded;"
        "assert 'SoTLLightningCallback' not in vars(optuna_sotl);"
        "from optuna_sotl import *"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT, timeout=120)


def test_lightning_one_process(tmp_path: pathlib.Path) -> None:
    # With gradient accumulation: Lightning hands the callback the loss divided by 2.
    pytest.importorskip("lightning")
    from tests.system import _lightning_job

    with studies(tmp_path) as opened:
        pairs = [(supplier.url, name) for supplier, name in opened]
        _lightning_job.run("auto", 1, 3, str(tmp_path), pairs, accumulate_grad_batches=2)
        for supplier, name in opened:
            check_study(supplier, name, tmp_path, n_trials=3, ranks=1)


def test_lightning_ddp_two_ranks(tmp_path: pathlib.Path) -> None:
    # Lightning's ddp runs the script again for rank 1, which follows rank 0 through both
    # studies; the old import name pytorch_lightning is used here.
    pytest.importorskip("pytorch_lightning")
    with studies(tmp_path) as opened:
        pairs = [arg for supplier, name in opened for arg in (supplier.url, name)]
        job = str(JOBS / "_lightning_job.py")
        run_job([job, "ddp", "2", "3", str(tmp_path), *pairs, "pl"], timeout=400)
        for supplier, name in opened:
            check_study(supplier, name, tmp_path, n_trials=3, ranks=2)


def test_lightning_ddp_spawn_two_ranks(tmp_path: pathlib.Path) -> None:
    # Each fit spawns the ranks anew (slow): two trials, pruned then complete, on SQLite.
    pytest.importorskip("lightning")
    supplier = StorageSupplier("sqlite", tmp_path, None)
    job = str(JOBS / "_lightning_job.py")
    with supplier as storage:
        name = supplier.study_name()
        optuna.create_study(storage=storage, study_name=name)
        run_job([job, "ddp_spawn", "2", "2", str(tmp_path), supplier.url, name], timeout=400)
        check_study(supplier, name, tmp_path, n_trials=2, ranks=2)
    # Every spawned rank (2 fits x 2 ranks) destroyed its process group before the interpreter
    # shut down: none was left with gloo's threads running into the runtime's own teardown,
    # where they used to abort a rank now and then ("terminate called without an active
    # exception"), which failed the trial.
    exits = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("exit-*.json"))]
    assert len(exits) == 4, exits
    for state in exits:
        assert not state["initialized"], state
        assert not [t for t in state["threads"] if "gloo" in t or "tcpstore" in t], state


def test_torch_ddp_two_ranks(tmp_path: pathlib.Path) -> None:
    # Without optuna-integration (rank 0 passes its trial, the others None), and with its
    # TorchDistributedTrial on every rank; one launch of the ranks runs all the studies.
    pytest.importorskip("optuna_integration")
    with studies(tmp_path) as plain, studies(tmp_path) as wrapped:
        runs = [("plain", s, n) for s, n in plain] + [("tdt", s, n) for s, n in wrapped]
        args = [arg for mode, supplier, name in runs for arg in (mode, supplier.url, name)]
        run_job([str(JOBS / "_torch_ddp_job.py"), "2", "3", str(tmp_path), *args], timeout=300)
        for _, supplier, name in runs:
            check_study(supplier, name, tmp_path, n_trials=3, ranks=2)


def test_hf_trainer(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    from tests.system import _hf_job

    with studies(tmp_path) as opened:
        pairs = [(supplier.url, name) for supplier, name in opened]
        # Two micro-batches per optimisation step: the trainer's loss is each one's half.
        _hf_job.run(3, str(tmp_path), pairs, gradient_accumulation_steps=2)
        for supplier, name in opened:
            check_study(supplier, name, tmp_path, n_trials=3, ranks=1)
