from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from optuna_sotl.curves import LearningCurves
from optuna_sotl.curves._calibration import evaluate_self_calibrating


def synthetic_curves(n: int = 400, epochs: int = 6, seed: int = 0) -> LearningCurves:
    """Early training losses rank the archs well; the validation accuracy does so only late."""
    rng = np.random.default_rng(seed)
    quality = rng.uniform(0, 1, n)
    t = np.arange(1, epochs + 1) / epochs
    train_loss = 2.0 - quality[:, None] * t + rng.normal(0, 0.05, (n, epochs))
    # Validation accuracy: noise early, quality late.
    noise = rng.uniform(0, 1, (n, 1))
    val_acc = 100 * ((1 - t**3) * noise + t**3 * quality[:, None])
    test_acc = 100 * quality + rng.normal(0, 1, n)
    return LearningCurves(
        train_loss=train_loss, val_loss=2 - val_acc / 100, result=test_acc,
        result_key="test_acc", val_acc=val_acc,
    )


def test_calibration_picks_the_early_and_the_late_winner() -> None:
    table = evaluate_self_calibrating(synthetic_curves(), [2, 6], seeds=range(3))
    early, late = table.rows
    assert set(dict(early.chosen)) <= {"SoTL-E(E=1)"}
    assert set(dict(late.chosen)) <= {"val_metric@T", "rank-mean(SoTL-E, val_metric)"}
    for row in table.rows:
        assert row.goal_met
        assert len(row.self_calibrating) == 3
    assert "| 2 |" in table.to_markdown()


def test_small_calibration_sets_and_subsets() -> None:
    curves = synthetic_curves(n=400)
    table = evaluate_self_calibrating(
        curves, [2, 6], calibration_size=20, seeds=range(4), subset_size=(100, 150)
    )
    assert table.calibration_size == 20 and table.fraction is None
    assert table.subset_size == (100, 150)
    assert "a random 20 of a random subset of 100–150" in table.to_markdown()
    early, late = table.rows
    assert set(dict(late.chosen)) <= {"val_metric@T", "rank-mean(SoTL-E, val_metric)"}
    assert sum(dict(early.chosen).values()) == 4
    # The same seeds draw the same sets: the evaluation is reproducible.
    again = evaluate_self_calibrating(
        curves, [2, 6], calibration_size=20, seeds=range(4), subset_size=(100, 150)
    )
    assert again == table
    with pytest.raises(ValueError, match="calibration_size"):
        evaluate_self_calibrating(curves, [6], calibration_size=99, subset_size=100)
    with pytest.raises(ValueError, match="calibration_size"):
        evaluate_self_calibrating(curves, [6], calibration_size=2)
    with pytest.raises(TypeError, match="subset_size"):
        evaluate_self_calibrating(curves, [6], calibration_size=20, subset_size=(1.5, 3))


def test_held_out_rows_only_and_argument_checks() -> None:
    curves = synthetic_curves(n=50)
    table = evaluate_self_calibrating(curves, [6], fraction=0.2, seeds=[0])
    assert table.fraction == 0.2
    with pytest.raises(ValueError, match="fraction"):
        evaluate_self_calibrating(curves, [6], fraction=1.0)
    with pytest.raises(TypeError, match="fraction"):
        evaluate_self_calibrating(curves, [6], fraction="0.1")
    with pytest.raises(ValueError, match="seeds"):
        evaluate_self_calibrating(curves, [6], seeds=[])


def test_cli_option(tmp_path) -> None:
    curves = synthetic_curves(n=120)
    path = tmp_path / "curves.npz"
    np.savez(
        path, train_loss=curves.train_loss, val_loss=curves.val_loss, val_acc=curves.val_acc,
        test_acc=curves.result,
    )
    command = [sys.executable, "-m", "optuna_sotl._cli", "curves", "rank", str(path)]
    done = subprocess.run(
        command + ["--self-calibrating", "--calibration-seeds", "2"],
        capture_output=True, text=True, check=True,
    )
    assert "Self-calibrating estimator" in done.stdout
    refused = subprocess.run(
        command + ["--self-calibrating", "--calibration-fraction", "0"],
        capture_output=True, text=True,
    )
    assert refused.returncode == 2 and "--calibration-fraction" in refused.stderr
    sized = subprocess.run(
        command + ["--self-calibrating", "--calibration-size", "20", "--calibration-seeds", "2"],
        capture_output=True, text=True, check=True,
    )
    assert "a random 20 of the 120 architectures" in sized.stdout
    for extra in (["--calibration-size", "119"], ["--calibration-size", "2"],
                  ["--calibration-size", "20", "--calibration-fraction", "0.2"]):
        refused = subprocess.run(
            command + ["--self-calibrating", *extra], capture_output=True, text=True
        )
        assert refused.returncode == 2 and "--calibration-" in refused.stderr
        assert "Traceback" not in refused.stderr
