from __future__ import annotations

import io
from pathlib import Path
import shutil
import subprocess
import sys

import optuna
from optuna.trial import TrialState
import pytest

from optuna_sotl import _attrs
from optuna_sotl import SoTLE
from optuna_sotl.demo._table import format_demo_table
from optuna_sotl.nas import arch_string
from optuna_sotl.nas import edge_param_name
from optuna_sotl.nas import EDGES
from optuna_sotl.ranking import rank_study


torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from optuna_sotl.demo import run_demo  # noqa: E402


# Small enough for seconds, and aggressive enough that the seeded run prunes: pruning starts
# after one complete trial, at step 1, and keeps only trials at or better than the best quarter.
TINY = dict(
    n_trials=5,
    epochs=3,
    seed=0,
    percentile=25.0,
    n_startup_trials=1,
    n_warmup_steps=1,
    interval_steps=1,
    show_progress=False,
)


class _Recorder:
    """A demo callback that keeps its arguments and the text printed before it was called."""

    def __init__(self, out: io.StringIO) -> None:
        self.out = out
        self.calls: list[tuple[object, object, str]] = []

    def __call__(self, study: optuna.Study, result: object) -> None:
        self.calls.append((study, result, self.out.getvalue()))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    out = io.StringIO()
    recorder = _Recorder(out)
    threads = torch.get_num_threads()
    verbosity = optuna.logging.get_verbosity()
    result = run_demo(
        storage=f"sqlite:///{path}", study_name="tiny", callbacks=[recorder], file=out, **TINY
    )
    return {
        "path": path,
        "result": result,
        "out": out.getvalue(),
        "recorder": recorder,
        "threads": (threads, torch.get_num_threads()),
        "verbosity": (verbosity, optuna.logging.get_verbosity()),
    }


def _load(path: Path, name: str = "tiny") -> optuna.Study:
    # A fresh connection: the assertions read what is in the file, not the run's cache.
    return optuna.load_study(study_name=name, storage=f"sqlite:///{path}")


def test_demo_trains_reports_and_prunes_into_storage(tiny_run: dict) -> None:
    study = _load(tiny_run["path"])
    trials = study.trials
    assert len(trials) == TINY["n_trials"]
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    states = [trial.state for trial in trials]
    assert set(states) <= {TrialState.COMPLETE, TrialState.PRUNED}
    assert TrialState.COMPLETE in states and TrialState.PRUNED in states

    for trial in trials:
        steps = sorted(trial.intermediate_values)
        losses = [trial.intermediate_values[step] for step in steps]
        # One report per epoch from step 0, without gaps; a pruned trial got past the warm-up.
        assert steps == list(range(len(steps)))
        if trial.state == TrialState.COMPLETE:
            assert len(steps) == TINY["epochs"]
        else:
            assert 2 <= len(steps) <= TINY["epochs"]
        assert all(0.0 < loss < 5.0 for loss in losses)
        attrs = trial.user_attrs
        assert attrs["sotl"] == pytest.approx(sum(losses))
        assert attrs["sotl_e"] == pytest.approx(losses[-1])
        assert len(attrs[_attrs.VAL_LOSS_CURVE]) == len(steps)
        assert len(attrs[_attrs.VAL_METRIC_CURVE]) == len(steps)
        assert all(0.0 <= acc <= 1.0 for acc in attrs[_attrs.VAL_METRIC_CURVE])
        ops = [trial.params[edge_param_name(edge)] for edge in EDGES]
        assert attrs["arch"] == arch_string(ops)
        if trial.state == TrialState.COMPLETE:
            assert trial.value == attrs[_attrs.VAL_METRIC_CURVE][-1] == attrs[_attrs.VAL_METRIC]
    # Ten classes: even on the noisy, occluded digits and after 3 epochs the best network is far
    # better than the 0.1 of chance.
    assert study.best_value > 0.25

    config = study.user_attrs["optuna_sotl_demo_config"]
    assert config["epochs"] == TINY["epochs"] and config["seed"] == TINY["seed"]
    assert (config["train_size"], config["noise"], config["occlusion"]) == (500, 0.3, 3)


def test_demo_ranks_by_training_loss_and_prints_the_table(tiny_run: dict) -> None:
    result = tiny_run["result"]
    study = _load(tiny_run["path"])
    by_number = {trial.number: trial for trial in study.trials}
    rows = result.ranking.rows
    assert result.ranking.step == TINY["n_warmup_steps"]
    assert sorted(row.number for row in rows) == sorted(by_number)
    assert [row.rank for row in rows] == list(range(1, len(rows) + 1))
    scores = [row.score for row in rows]
    assert scores == sorted(scores)
    for row in rows:
        trial = by_number[row.number]
        assert row.score == pytest.approx(trial.intermediate_values[1])
        assert row.state == trial.state.name
        assert row.value == (trial.value if trial.state == TrialState.COMPLETE else None)
        assert result.archs[row.number] == trial.user_attrs["arch"]
    assert result.n_pruned + result.n_complete == TINY["n_trials"]

    out = tiny_run["out"]
    lines = out.splitlines()
    assert lines[0].startswith("Trials ranked by SoTL-E(E=1) at step 1 (epoch 2)")
    header = next(i for i, line in enumerate(lines) if line.lstrip().startswith("rank"))
    assert lines[header].split() == [
        "rank", "trial", "state", "epochs", "SoTL-E(E=1)@1", "val", "acc", "architecture"
    ]
    for row, line in zip(rows, lines[header + 1 : header + 1 + len(rows)]):
        cells = line.split()
        assert cells[:4] == [str(row.rank), str(row.number), row.state, str(row.epochs)]
        assert float(cells[4]) == pytest.approx(row.score, rel=1e-3)
        if row.value is None:
            assert cells[5] == "-"
        else:
            assert float(cells[5]) == pytest.approx(row.value, abs=1e-4)
        assert cells[6] == result.archs[row.number]
    assert f"{result.n_complete} complete, {result.n_pruned} pruned" in out
    assert "epochs saved" in out  # the shared savings sentence
    values = [row.value for row in rows if row.value is not None]
    low, high = min(values), max(values)
    spread = f"{low:.4f} to {high:.4f} ({100 * (high - low):.1f} points)"
    assert f"Final validation accuracy of the {result.n_complete} complete trials: {spread}" in out
    assert lines[-1].strip() == f"optuna-dashboard sqlite:///{tiny_run['path']}"


def test_demo_says_whether_the_best_architecture_survived_pruning(tiny_run: dict) -> None:
    study = _load(tiny_run["path"])
    best = study.best_trial
    out = " ".join(tiny_run["out"].split())  # undo the line wrapping
    assert f"Best architecture: trial {best.number}, validation accuracy {best.value:.4f}" in out
    complete_before = sum(
        t.state == TrialState.COMPLETE and t.datetime_complete <= best.datetime_start
        for t in study.trials
    )
    if complete_before >= TINY["n_startup_trials"]:
        # Checked at every step from the warm-up on (interval 1) and never pruned.
        assert "The pruner checked it at steps 1, 2 and kept it." in out
    else:
        ranking = tiny_run["result"].ranking
        row = next(r for r in ranking.rows if r.number == best.number)
        assert "It trained before pruning started" in out
        assert f"ranks {row.rank} of {len(ranking.rows)}: pruning would have" in out
    assert "The pruned trials' final accuracies are unknown" in out


def test_corrupt_blanks_one_square_and_adds_noise() -> None:
    from optuna_sotl.demo._training import corrupt
    from optuna_sotl.demo._training import load_digits_split

    ones = torch.ones(200, 1, 8, 8)
    blanked = corrupt(ones, 0.0, 3, torch.Generator().manual_seed(1))
    for image in blanked[:, 0]:
        rows, cols = torch.nonzero(image == 0, as_tuple=True)
        assert len(rows) == 9  # one 3x3 square, inside the image
        assert rows.max() - rows.min() == 2 and cols.max() - cols.min() == 2
    # The squares move from image to image; the input is left as it was.
    assert len({tuple(torch.nonzero(im[0] == 0)[0].tolist()) for im in blanked}) > 10
    assert bool((ones == 1).all())

    noisy = corrupt(ones, 0.3, 0, torch.Generator().manual_seed(2))
    assert abs(float((noisy - 1).std()) - 0.3) < 0.02 and abs(float((noisy - 1).mean())) < 0.02
    again = corrupt(ones, 0.3, 0, torch.Generator().manual_seed(2))
    assert torch.equal(noisy, again)  # seeded: the same trial sees the same corruption

    data = load_digits_split(0, 500, noise=0.3, occlusion=3)
    assert len(data.y_train) == 500 and len(data.y_val) == 1797 - 500
    assert float(data.x_train.min()) >= 0.0  # kept clean: corrupted afresh each epoch
    assert float(data.x_val.min()) < 0.0  # corrupted once, the same for every trial
    assert torch.equal(data.x_val, load_digits_split(0, 500, 0.3, 3).x_val)


def test_demo_calls_callbacks_once_before_the_dashboard_line(tiny_run: dict) -> None:
    (study, result, printed), = tiny_run["recorder"].calls
    assert result is tiny_run["result"]
    assert study.study_name == "tiny"
    assert result.table in printed
    assert "optuna-dashboard" not in printed


def test_demo_leaves_torch_threads_and_optuna_logging_as_they_were(tiny_run: dict) -> None:
    before, after = tiny_run["threads"]
    assert after == before
    before, after = tiny_run["verbosity"]
    assert after == before


def test_rerun_appends_and_refuses_other_settings(tiny_run: dict, tmp_path: Path) -> None:
    path = tmp_path / "copy.db"
    shutil.copy(tiny_run["path"], path)
    url = f"sqlite:///{path}"
    settings = {**TINY, "n_trials": 1}
    result = run_demo(storage=url, study_name="tiny", file=io.StringIO(), **settings)
    assert len(result.ranking.rows) == TINY["n_trials"] + 1
    assert len(_load(path).trials) == TINY["n_trials"] + 1

    with pytest.raises(ValueError, match="study_name 'tiny' already exists"):
        run_demo(storage=url, study_name="tiny", file=io.StringIO(), **{**settings, "epochs": 2})
    assert len(_load(path).trials) == TINY["n_trials"] + 1


@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        ({"n_trials": 0}, ValueError, "n_trials"),
        ({"epochs": 0}, ValueError, "epochs"),
        ({"workers": 3, "n_trials": 2}, ValueError, "workers cannot exceed n_trials"),
        ({"seed": -1}, ValueError, "seed"),
        ({"percentile": 101.0}, ValueError, "percentile"),
        ({"n_warmup_steps": 1.5}, TypeError, "n_warmup_steps"),
        ({"callbacks": [42]}, TypeError, "callbacks"),
        ({"study_name": ""}, ValueError, "study_name"),
    ],
)
def test_bad_arguments_write_nothing(
    tmp_path: Path, kwargs: dict, error: type, fragment: str
) -> None:
    path = tmp_path / "nothing.db"
    with pytest.raises(error, match=fragment):
        run_demo(storage=f"sqlite:///{path}", show_progress=False, **kwargs)
    assert not path.exists()


def test_unreachable_storage_is_a_value_error_without_the_password() -> None:
    url = "postgresql+psycopg2://postgres:s3cret@127.0.0.1:1/test"
    with pytest.raises(ValueError, match="cannot open storage") as info:
        run_demo(storage=url, n_trials=1, show_progress=False)
    assert "postgres:***@127.0.0.1:1" in str(info.value)
    assert "s3cret" not in str(info.value)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # The installed console script when there is one, so the entry point itself is tested.
    script = Path(sys.executable).with_name("optuna-sotl")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "optuna_sotl._cli"]
    return subprocess.run(
        [*command, "demo", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_cli_demo_uses_a_sqlite_file_here_by_default(tmp_path: Path) -> None:
    done = _cli("--n-trials", "2", "--epochs", "2", "--study-name", "cli", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    study = _load(tmp_path / "optuna-sotl-demo.db", "cli")
    assert [trial.state for trial in study.trials] == [TrialState.COMPLETE] * 2
    assert "trials" in done.stderr  # the progress bar
    assert "SoTL-E(E=1)@1" in done.stdout
    for trial in study.trials:
        assert trial.user_attrs["arch"] in done.stdout
    assert done.stdout.rstrip().endswith("optuna-dashboard sqlite:///optuna-sotl-demo.db")


def test_cli_demo_with_two_workers_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'workers.db'}"
    done = _cli(
        "--storage", url, "--n-trials", "3", "--epochs", "2", "--workers", "2", "--no-progress",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    study = optuna.load_study(study_name="sotl-demo", storage=url)
    assert len(study.trials) == 3
    assert all(trial.state in (TrialState.COMPLETE, TrialState.PRUNED) for trial in study.trials)
    assert all(len(trial.intermediate_values) >= 1 for trial in study.trials)
    assert "3 trials in study 'sotl-demo'" in done.stdout
    assert "trials:" not in done.stderr  # --no-progress
    # Each worker seeds its sampler differently (seed + index), so they do not repeat each other.
    assert len({trial.user_attrs["arch"] for trial in study.trials}) == 3


def test_cli_demo_rejects_bad_arguments_with_exit_code_2(tmp_path: Path) -> None:
    done = _cli("--n-trials", "0", cwd=tmp_path)
    assert done.returncode == 2
    assert "n_trials" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "optuna-sotl-demo.db").exists()


def test_table_lists_unranked_trials_last_and_names_other_steps() -> None:
    study = optuna.create_study(direction="maximize")
    curves = {
        0: ([float("nan")], TrialState.PRUNED, None),  # stopped at step 0: never reached step 1
        1: ([1.0, float("inf")], TrialState.PRUNED, None),
        2: ([1.0, 0.5, 0.1], TrialState.COMPLETE, 0.9),
        3: ([1.0, 0.2], TrialState.PRUNED, None),
    }
    for losses, state, value in curves.values():
        study.add_trial(
            optuna.trial.create_trial(
                state=state, value=value, intermediate_values=dict(enumerate(losses))
            )
        )
    ranking = rank_study(study, step=1, estimator=SoTLE(1))
    archs = {0: "arch-0", 1: "arch-1", 3: "arch-3"}  # trial 2 has none: "-"

    table = format_demo_table(ranking, archs, warmup_step=1).splitlines()
    start = next(i for i, line in enumerate(table) if line.lstrip().startswith("rank")) + 1
    assert [line.split() for line in table[start : start + 4]] == [
        ["1", "3", "PRUNED", "2", "0.2", "-", "arch-3"],
        ["2", "2", "COMPLETE", "3", "0.5", "0.9", "-"],
        ["3", "1", "PRUNED", "2", "inf", "-", "arch-1"],
        ["-", "0", "PRUNED", "1", "-", "-", "arch-0"],
    ]
    assert "first step the pruner may prune at" in table[1]
    other = format_demo_table(ranking, archs, warmup_step=3)
    assert "first step the pruner" not in other and "the step asked for" in other
