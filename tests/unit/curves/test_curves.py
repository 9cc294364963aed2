"""Recorded learning curves: the loader, the rank table, the replayed search and their CLI."""

from __future__ import annotations

import csv
import io
import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from optuna_sotl._cli import main
from optuna_sotl.curves import fast_replay
from optuna_sotl.curves import LearningCurves
from optuna_sotl.curves import load_curves
from optuna_sotl.curves import optuna_replay
from optuna_sotl.curves import PrunerSpec
from optuna_sotl.curves import rank_estimators
from optuna_sotl.curves import RankEntry
from optuna_sotl.curves import ReplayData
from optuna_sotl.curves import run_search
from optuna_sotl.curves import SamplerSpec
from optuna_sotl.curves._rank import top_precision
from optuna_sotl.curves._search_report import _epochs_to
from optuna_sotl.curves._search_report import search_stats


OPS = ("conv", "none", "skip")
EDGES = ("0->1", "0->2", "1->2")


def synthetic(
    n_epochs: int = 8, *, missing: int = 3, seed: int = 0, noise: float = 0.0
) -> dict[str, np.ndarray]:
    """A full cell space of 3 edges x 3 ops minus ``missing`` archs; quality sets every curve.

    Training and validation losses fall with the architecture's quality, accuracies rise, and the
    final test accuracy is monotone in it, so every estimator orders the archs the same way at the
    last epoch when ``noise`` is 0.
    """
    rng = np.random.default_rng(seed)
    space = np.array(list(itertools.product(OPS, repeat=len(EDGES))))
    # Scattered over the space, so that every op of every edge is still in the file.
    dropped = (np.arange(missing) * 5) % len(space)
    kept = np.setdiff1d(np.arange(len(space)), dropped)
    ops = space[kept]
    n = len(ops)
    quality = rng.permutation(n) / n
    epochs = np.arange(1, n_epochs + 1)
    train_loss = (2.0 - quality[:, None]) * np.exp(-epochs[None, :] / 4) + 0.1
    train_loss += noise * rng.standard_normal(train_loss.shape)
    val_loss = train_loss + 0.2
    val_acc = 100 * (1 - val_loss / 3)
    return {
        "arch_id": kept,
        "ops": ops,
        "edges": np.array(EDGES),
        "train_loss": train_loss.astype(np.float32),
        "train_acc": val_acc.astype(np.float32) + 1,
        "val_loss": val_loss.astype(np.float32),
        "val_acc": val_acc.astype(np.float32),
        "test_acc": (60 + 30 * quality).astype(np.float32),
    }


def write(tmp_path: Path, arrays: dict[str, np.ndarray], name: str = "curves.npz") -> str:
    path = tmp_path / name
    np.savez(path, **arrays)
    return str(path)


# ----------------------------------------------------------------------------------- loader


def test_load_accuracy_layout(tmp_path: Path) -> None:
    arrays = synthetic()
    curves = load_curves(write(tmp_path, arrays))
    assert (curves.n_archs, curves.n_epochs) == (24, 8)
    assert curves.result_key == "test_acc" and curves.result_higher_is_better
    assert curves.val_metric_key == "val_acc" and curves.val_metric_higher_is_better
    assert curves.train_loss.dtype == np.float64
    np.testing.assert_allclose(curves.val_metric, arrays["val_acc"])
    assert curves.edges == EDGES
    assert curves.ops is not None and curves.ops.shape == (24, 3)


def test_load_loss_layout_without_optional_keys(tmp_path: Path) -> None:
    arrays = synthetic(n_epochs=3)
    arrays = {
        "train_loss": arrays["train_loss"][:5],
        "val_loss": arrays["val_loss"][:5],
        "test_loss": np.linspace(0.5, 1.0, 5),
    }
    curves = load_curves(write(tmp_path, arrays))
    assert (curves.n_archs, curves.n_epochs) == (5, 3)
    assert curves.result_key == "test_loss" and not curves.result_higher_is_better
    assert curves.val_acc is None and curves.train_acc is None and curves.ops is None
    assert curves.val_metric_key == "val_loss" and not curves.val_metric_higher_is_better
    np.testing.assert_allclose(curves.val_metric, arrays["val_loss"])


def test_load_numbers_edges_when_only_ops_given(tmp_path: Path) -> None:
    arrays = synthetic()
    del arrays["edges"]
    assert load_curves(write(tmp_path, arrays)).edges == ("edge0", "edge1", "edge2")


def _malformed() -> list[tuple[str, dict[str, object], str]]:
    def drop(key: str) -> dict[str, object]:
        return {key: None}

    return [
        ("missing train_loss", drop("train_loss"), "'train_loss'"),
        ("missing val_loss", drop("val_loss"), "'val_loss'"),
        ("no final result", drop("test_acc"), "test_acc"),
        ("1-D train_loss", {"train_loss": np.ones(24)}, "'train_loss' must have shape (N, T)"),
        ("val_loss shape", {"val_loss": np.ones((24, 7))}, "'val_loss' must have the shape"),
        ("val_acc shape", {"val_acc": np.ones((23, 8))}, "'val_acc'"),
        ("test_acc shape", {"test_acc": np.ones(23)}, "'test_acc' must have shape (24,)"),
        ("NaN test_acc", {"test_acc": np.r_[np.nan, np.ones(23)]}, "'test_acc' must be finite"),
        ("string curve", {"train_loss": np.full((24, 8), "x")}, "'train_loss' must be numeric"),
        ("ops shape", {"ops": np.full((24,), "conv")}, "'ops' must have shape"),
        ("edges length", {"edges": np.array(["a", "b"])}, "'edges'"),
    ]


@pytest.mark.parametrize(
    "change,message", [case[1:] for case in _malformed()], ids=[case[0] for case in _malformed()]
)
def test_load_rejects_malformed_file(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    arrays: dict[str, object] = dict(synthetic())
    for key, value in change.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    with pytest.raises(ValueError, match=_escaped(message)):
        load_curves(write(tmp_path, arrays))  # type: ignore[arg-type]


def _escaped(text: str) -> str:
    import re

    return re.escape(text)


def test_load_rejects_all_nan_row_naming_key_and_row(tmp_path: Path) -> None:
    arrays = synthetic()
    arrays["val_loss"][7] = np.nan
    with pytest.raises(ValueError, match=r"'val_loss' row 7 is all NaN"):
        load_curves(write(tmp_path, arrays))
    # A NaN epoch inside a row is a missing epoch, not an error.
    arrays = synthetic()
    arrays["train_loss"][3, 2] = np.nan
    assert math.isnan(load_curves(write(tmp_path, arrays, "ok.npz")).train_loss[3, 2])


def test_load_rejects_pickled_arrays_and_non_archives(tmp_path: Path) -> None:
    arrays: dict[str, object] = dict(synthetic())
    arrays["ops"] = np.array([[object()]] * 24, dtype=object)
    with pytest.raises(ValueError, match="'ops' cannot be read without pickle"):
        load_curves(write(tmp_path, arrays))  # type: ignore[arg-type]
    single = tmp_path / "single.npy"
    np.save(single, np.ones((3, 3)))
    with pytest.raises(ValueError, match="not an .npz archive"):
        load_curves(single)
    text = tmp_path / "text.npz"
    text.write_text("not a zip")
    with pytest.raises(ValueError, match="is not an .npz archive"):
        load_curves(text)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_curves(tmp_path / "absent.npz")


# ------------------------------------------------------------------------------------- rank


def test_rank_is_perfect_when_results_follow_the_last_loss() -> None:
    arrays = synthetic(n_epochs=6)
    curves = LearningCurves(
        train_loss=arrays["train_loss"].astype(float),
        val_loss=arrays["val_loss"].astype(float),
        result=arrays["test_acc"].astype(float),
        result_key="test_acc",
        val_acc=arrays["val_acc"].astype(float),
    )
    table = rank_estimators(curves, budgets=[1, 6, 50])
    assert table.budgets == [1, 6]  # 50 is clipped to the 6 epochs of the file
    names = ("SoTL", "SoTL-E(E=1)", "SoTL-E(E=5)", "SoTL-EMA(μ=0.9)", "SoTL-EMA(μ=0.5)", "SoVL")
    for name in names + ("val_acc@T",):
        for budget in (1, 6):
            assert table.value(budget, name) == pytest.approx(1.0)
            assert table.value(budget, name, "kendall") == pytest.approx(1.0)
            assert table.value(budget, name, "top_precision") == 1.0


def test_rank_reversed_and_loss_results() -> None:
    rng = np.random.default_rng(1)
    loss = np.sort(rng.uniform(0.2, 2.0, size=(40, 5)), axis=1)[:, ::-1].copy()
    # test_loss equal to the last training loss: lower is better, so the correlation is +1.
    curves = LearningCurves(loss, loss + 0.1, loss[:, -1].copy(), "test_loss")
    table = rank_estimators(curves, budgets=[5])
    assert table.value(5, "SoTL-E(E=1)") == pytest.approx(1.0)
    assert "val_loss@T" in table.estimators
    # An accuracy that rises with the loss is ordered exactly backwards.
    backwards = LearningCurves(loss, loss + 0.1, loss[:, -1].copy(), "test_acc")
    assert rank_estimators(backwards, budgets=[5]).value(5, "SoTL-E(E=1)") == pytest.approx(-1.0)


def test_rank_matches_scipy_on_noisy_curves() -> None:
    from scipy import stats

    arrays = synthetic(n_epochs=5, noise=0.3, seed=3)
    curves = LearningCurves(
        arrays["train_loss"].astype(float),
        arrays["val_loss"].astype(float),
        arrays["test_acc"].astype(float),
        "test_acc",
    )
    table = rank_estimators(curves, budgets=[3])
    expected = stats.spearmanr(-curves.train_loss[:, :3].sum(axis=1), curves.result)[0]
    assert table.value(3, "SoTL") == pytest.approx(expected)
    assert 0.0 < table.value(3, "SoTL") < 1.0


def test_rank_entry_extension_scores_only_its_rows() -> None:
    arrays = synthetic(n_epochs=4)
    curves = LearningCurves(
        arrays["train_loss"].astype(float),
        arrays["val_loss"].astype(float),
        arrays["test_acc"].astype(float),
        "test_acc",
    )

    def calibrated(curves: LearningCurves, budget: int) -> np.ndarray:
        # Stands for an estimator calibrated offline on the first rows: it scores the rest.
        scores = curves.train_loss[:, budget - 1].copy()
        scores[:4] = np.nan
        return scores

    table = rank_estimators(curves, budgets=[4], entries=[RankEntry("calibrated", calibrated)])
    (row,) = table.rows
    assert row.n == 20 and row.spearman == pytest.approx(1.0)
    assert "calibrated" in table.to_markdown()


def test_top_precision_counts_the_true_top_tenth() -> None:
    target = np.arange(20.0)  # true top 10 %: 19 and 18
    assert top_precision(target.copy(), target) == 1.0
    assert top_precision(-target, target) == 0.0
    half = target.copy()
    half[18] = -1.0  # the estimator ranks 19 and 17 first
    assert top_precision(half, target) == 0.5


REFERENCE = {  # docs/data.md: T -> SoTL-E(E=1), SoTL, SoVL, val_acc at T
    1: (0.389, 0.389, 0.327, 0.342),
    5: (0.643, 0.527, 0.468, 0.543),
    10: (0.775, 0.632, 0.581, 0.666),
    20: (0.881, 0.750, 0.698, 0.781),
    30: (0.890, 0.808, 0.742, 0.828),
    50: (0.876, 0.854, 0.746, 0.927),
    100: (0.849, 0.880, 0.645, 0.960),
}


def test_rank_reproduces_the_reference_table(spikenas_path: Path) -> None:
    curves = load_curves(spikenas_path)
    assert curves.n_archs == 14935 and curves.n_epochs == 100
    table = rank_estimators(curves)
    assert table.budgets == sorted(REFERENCE)
    for budget, expected in REFERENCE.items():
        names = ("SoTL-E(E=1)", "SoTL", "SoVL", "val_acc@T")
        got = tuple(round(table.value(budget, name), 3) for name in names)
        assert got == expected, f"T={budget}"
    # The README's other figures: the best test accuracy and the best-by-validation arch.
    assert round(float(curves.result.max()), 2) == 89.30
    assert round(float(curves.result[np.argmax(curves.val_acc[:, -1])]), 2) == 89.16


# ----------------------------------------------------------------------------------- search


def test_search_missing_architectures_cost_nothing(tmp_path: Path) -> None:
    # Regularised evolution mutates into the 9 architectures missing from the file: each is a
    # trial that reports nothing and costs no epoch, in the replay as in a real study.
    curves = load_curves(write(tmp_path, synthetic(missing=9)))  # 9 of 27 archs absent
    sampler = SamplerSpec("re", population_size=4, tournament_size=2)
    trace = fast_replay(ReplayData(curves), sampler, PrunerSpec("none"), 0, 160, log=True)
    assert trace.n_missing > 0
    assert trace.n_complete == 20 and trace.n_trials == trace.n_complete + trace.n_missing
    assert optuna_replay(curves, sampler, PrunerSpec("none"), 0, 160) == trace.log


def test_tiny_search_gives_sane_regrets(tmp_path: Path) -> None:
    path = write(tmp_path, synthetic(noise=0.05))
    names = ["random/none", "random/median", "random/sha", "random/sotl", "random/sotl-sha"]
    result = run_search(path, budget=160, seeds=6, configs=names, jobs=1, progress=False)
    assert result.test.shape[:2] == (5, 6) and result.seeds == tuple(range(6))
    assert result.grid[-1] == 160 and {20, 40, 80, 160} <= set(result.grid.tolist())
    finite = np.isfinite(result.test)
    assert np.all(result.test[finite] >= 0) and np.all(result.val[np.isfinite(result.val)] >= 0)
    # The validation regret of a study's pick only falls as epochs are spent.
    val = np.where(np.isfinite(result.val), result.val, 1e9)
    assert np.all(np.diff(val, axis=2) <= 0)
    none = result.names.index("random/none")
    assert np.all(result.counts[none, :, 2] == 0) and np.all(result.counts[none, :, 1] == 20)
    assert np.all(result.counts[result.names.index("random/sotl"), :, 2] > 0)

    stats = search_stats(result)
    assert stats.reference[("random", "test")] in ("random/median", "random/sha")
    rows = list(csv.DictReader(io.StringIO(stats.to_csv())))
    assert len(rows) == 5 * 4
    for column in ("configuration", "epochs", "seeds", "test_regret_mean", "test_regret_ci_low",
                   "test_regret_ci_high", "test_regret_median", "val_regret_mean"):
        assert column in rows[0]
    for row in rows:
        if row["test_regret_mean"] != "inf":
            low, mean, high = (float(row[k]) for k in
                               ("test_regret_ci_low", "test_regret_mean", "test_regret_ci_high"))
            assert low <= mean + 1e-9 and mean <= high + 1e-9
    # Against itself, the reference's paired difference is exactly 0.
    ref = stats.row(stats.reference[("random", "test")], 160)
    assert ref["test_diff_mean"] == 0.0 and ref["test_diff_ci_high"] == 0.0
    assert "| random/sotl |" in stats.to_markdown()


def test_seed_k_proposes_the_same_architectures_under_every_pruner(tmp_path: Path) -> None:
    data = ReplayData(load_curves(write(tmp_path, synthetic())))
    logs = [
        fast_replay(data, SamplerSpec("random"), PrunerSpec(kind), 7, 200, log=True).log
        for kind in ("none", "median", "sotl")
    ]
    proposals = [[row for row, _, _ in log] for log in logs]
    shortest = min(len(p) for p in proposals)
    assert shortest >= 10
    assert all(p[:shortest] == proposals[0][:shortest] for p in proposals)


def test_epochs_to_target_needs_the_mean_to_stay_below() -> None:
    grid = np.arange(1, 7) * 100
    curve = np.array([math.inf, 2.0, 0.5, 1.5, 0.4, 0.3])
    assert _epochs_to(curve, 0.5, grid) == 500  # the dip at 300 does not last
    assert _epochs_to(curve, 0.3, grid) == 600
    assert math.isinf(_epochs_to(curve, 0.2, grid))


def test_search_in_worker_processes_matches_one_process(tmp_path: Path) -> None:
    path = write(tmp_path, synthetic(noise=0.05))
    kwargs = {"budget": 64, "seeds": [3, 4], "configs": ["re/sotl-sha"], "progress": False}
    one = run_search(path, jobs=1, **kwargs)  # type: ignore[arg-type]
    two = run_search(path, jobs=2, **kwargs)  # type: ignore[arg-type]
    np.testing.assert_array_equal(one.test, two.test)
    np.testing.assert_array_equal(one.counts, two.counts)


def test_search_rejects_bad_arguments(tmp_path: Path) -> None:
    path = write(tmp_path, synthetic())
    with pytest.raises(ValueError, match="budget must be at least 1"):
        run_search(path, budget=0, seeds=1, jobs=1, progress=False)
    with pytest.raises(ValueError, match="unknown configurations"):
        run_search(path, budget=10, seeds=1, configs=["random/nope"], jobs=1, progress=False)
    with pytest.raises(TypeError, match="seeds"):
        run_search(path, budget=10, seeds=1.5, jobs=1, progress=False)  # type: ignore[arg-type]


# -------------------------------------------------------------------------------------- CLI


def test_cli_rank_markdown_csv_and_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, synthetic())
    csv_path, png = tmp_path / "rank.csv", tmp_path / "rank.png"
    code = main(
        [
            "curves",
            "rank",
            path,
            "--budgets",
            "1,4,100",
            "--csv",
            str(csv_path),
            "--plot",
            str(png),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "### Spearman ρ" in out and "| 8 |" in out and "| 100 |" not in out
    rows = list(csv.DictReader(csv_path.open()))
    assert {row["budget"] for row in rows} == {"1", "4", "8"} and len(rows) == 3 * 8
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert main(["curves", "rank", path, "--budgets", "2", "--csv", "-"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("budget,estimator,n,spearman,kendall,top10_precision")


def test_cli_search(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, synthetic())
    png = tmp_path / "search.png"
    args = ["curves", "search", path, "--budget", "48", "--seeds", "3", "--jobs", "1",
            "--configs", "random/none,random/sotl,random/median", "--no-progress"]
    assert main([*args, "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "### Sampler `random`" in out and "| random/sotl |" in out and "48 epochs" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert main([*args, "--csv", "-"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["configuration"], r["epochs"], r["seeds"]) for r in rows[:4]] == [
        ("random/none", "6", "3"), ("random/none", "12", "3"), ("random/none", "24", "3"),
        ("random/none", "48", "3"),
    ]
    assert len(rows) == 12 and rows[0]["test_regret_median"] != ""


def test_cli_reports_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["curves", "rank", str(tmp_path / "absent.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err
    path = write(tmp_path, synthetic())
    assert main(["curves", "rank", path, "--budgets", "0"]) == 2
    assert "budgets must be positive" in capsys.readouterr().err
    assert main(["curves", "search", path, "--configs", "random/x", "--no-progress"]) == 2
    assert "random/x" in capsys.readouterr().err
    assert main(["curves", "search", path, "--plot", str(tmp_path / "no" / "x.png")]) == 2
    assert "x.png" in capsys.readouterr().err
