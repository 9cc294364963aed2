from __future__ import annotations

import math
import subprocess
import sys
import uuid

import optuna
from optuna.trial import TrialState
import pytest

from optuna_sotl import SoTLE
from optuna_sotl import SoVL
from optuna_sotl._cli import main
from optuna_sotl.ranking import rank_study
from tests.storages import POSTGRES_URL


def add_known_trials(study: optuna.Study) -> None:
    """Four complete and two pruned trials whose SoTL-E(1) ranking at step 2 is known.

    At step 2 the losses order the complete trials 0, 2, 5, 1 and their accuracies 0, 5, 2, 1:
    one swapped pair of four, so Spearman = 1 - 6 * 2 / (4 * 15) = 0.8 and Kendall = 4 / 6.
    """
    complete = [
        ({0: 1.0, 1: 0.5, 2: 0.3}, 0.90),
        ({0: 1.2, 1: 0.7, 2: 0.6}, 0.70),
        ({0: 1.1, 1: 0.6, 2: 0.4}, 0.80),
        (None, None),
        (None, None),
        ({0: 1.3, 1: 0.8, 2: 0.5}, 0.85),
    ]
    pruned = {3: {0: 1.5, 1: 0.9}, 4: {0: 2.0}}
    for number, (losses, accuracy) in enumerate(complete):
        if number in pruned:
            trial = optuna.create_trial(
                state=TrialState.PRUNED, intermediate_values=pruned[number]
            )
        else:
            trial = optuna.create_trial(value=accuracy, intermediate_values=losses)
        study.add_trial(trial)


def test_ranking_is_direction_aware_and_counts_epochs() -> None:
    study = optuna.create_study(direction="maximize")
    add_known_trials(study)
    ranking = rank_study(study)

    assert ranking.step == 2  # four of the six trials reached it, step 3 none
    assert "4 did" in ranking.step_reason
    assert [(row.number, row.rank) for row in ranking.rows] == [
        (0, 1),
        (2, 2),
        (5, 3),
        (1, 4),
        (3, None),
        (4, None),
    ]
    assert ranking.rows[4].state == "PRUNED" and ranking.rows[4].value is None
    assert ranking.n_correlated == 4
    assert ranking.spearman == pytest.approx(0.8)
    assert ranking.kendall == pytest.approx(4 / 6)
    assert (ranking.epochs_trained, ranking.full_epochs, ranking.epochs_full) == (15, 3, 18)
    assert ranking.epochs_saved == 3

    # The same trials minimising an error rate (1 - accuracy) agree just as well.
    errors = optuna.create_study(direction="minimize")
    for trial in study.trials:
        value = None if trial.value is None else 1.0 - trial.value
        errors.add_trial(
            optuna.create_trial(
                state=trial.state, value=value, intermediate_values=trial.intermediate_values
            )
        )
    flipped = rank_study(errors)
    assert flipped.spearman == pytest.approx(0.8)
    assert flipped.kendall == pytest.approx(4 / 6)


def test_a_reversed_ranking_correlates_negatively_and_pruned_trials_rank_at_their_step() -> None:
    study = optuna.create_study(direction="maximize")
    for loss, accuracy in ((0.3, 0.5), (0.4, 0.6), (0.5, 0.7)):
        study.add_trial(optuna.create_trial(value=accuracy, intermediate_values={0: 1, 1: loss}))
    study.add_trial(
        optuna.create_trial(state=TrialState.PRUNED, intermediate_values={0: 1.0, 1: math.nan})
    )
    ranking = rank_study(study, step=1)
    assert ranking.spearman == pytest.approx(-1.0) and ranking.kendall == pytest.approx(-1.0)
    # A NaN loss is a diverged run: ranked, last, and left out of the correlation.
    assert (ranking.rows[-1].number, ranking.rows[-1].rank) == (3, 4)
    assert ranking.rows[-1].score == math.inf
    assert ranking.n_correlated == 3


def test_running_and_failed_trials_are_ranked_but_not_counted_as_spent() -> None:
    study = optuna.create_study()
    for losses in ({0: 1.0, 1: 0.9}, {0: 2.0, 1: 1.0}):
        study.add_trial(optuna.create_trial(value=losses[1], intermediate_values=losses))
    running = study.ask()
    running.report(0.5, 0)
    failed = study.ask()
    failed.report(0.7, 0)
    study.tell(failed, state=TrialState.FAIL)
    ranking = rank_study(study, step=0)
    assert [row.state for row in ranking.rows] == ["RUNNING", "FAIL", "COMPLETE", "COMPLETE"]
    assert (ranking.n_finished, ranking.epochs_trained, ranking.epochs_full) == (2, 4, 4)
    assert ranking.spearman is None and ranking.n_correlated == 2  # fewer than three


def test_no_correlation_without_spread_or_in_a_multi_objective_study() -> None:
    study = optuna.create_study()
    for loss in (0.1, 0.2, 0.3):
        study.add_trial(optuna.create_trial(value=1.0, intermediate_values={0: loss}))
    assert rank_study(study).spearman is None

    multi = optuna.create_study(directions=["minimize", "minimize"])
    for loss in (0.1, 0.2, 0.3):
        multi.add_trial(optuna.create_trial(values=[loss, 1.0], intermediate_values={0: loss}))
    ranking = rank_study(multi)
    assert ranking.direction is None and ranking.spearman is None
    assert [row.rank for row in ranking.rows] == [1, 2, 3]


def test_bad_arguments_are_named() -> None:
    study = optuna.create_study()
    study.add_trial(optuna.create_trial(value=1.0, intermediate_values={0: 1.0, 1: 0.5}))
    with pytest.raises(ValueError, match=r"step=5: .*furthest step reported is 1"):
        rank_study(study, step=5)
    with pytest.raises(ValueError, match="step cannot be negative"):
        rank_study(study, step=-1)
    with pytest.raises(TypeError, match="step must be an int"):
        rank_study(study, step="1")
    with pytest.raises(TypeError, match="estimator must be .*SoVL"):
        rank_study(study, estimator=SoVL())
    assert rank_study(optuna.create_study()).step is None


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    "storage_supplier", ["sqlite", "postgresql", "mysql", "journal_file", "grpc"], indirect=True
)
def test_report_on_a_stored_study(make_study, storage_supplier, capsys) -> None:
    study = make_study(direction="maximize")
    add_known_trials(study)
    code, out, err = run_cli(
        capsys, "report", "--storage", storage_supplier.url, "--study", study.study_name
    )
    assert (code, err) == (0, "")
    flat = " ".join(out.split())
    assert f"Study {study.study_name!r} (maximize)" in flat
    assert "6 trials, 4 complete, 2 pruned" in flat
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("rank  trial"))
    table = [line.split() for line in lines[header + 1 : lines.index("", header)]]
    assert [cells[:3] for cells in table] == [
        ["1", "0", "COMPLETE"],
        ["2", "2", "COMPLETE"],
        ["3", "5", "COMPLETE"],
        ["4", "1", "COMPLETE"],
        ["-", "3", "PRUNED"],
        ["-", "4", "PRUNED"],
    ]
    assert table[0][3:] == ["3", "0.3", "0.9"]  # epochs, SoTL-E(E=1)@2, final value
    assert "Spearman +0.80, Kendall +0.67" in flat
    assert (
        "trained 15 epochs; training each to the end (3 epochs) would take 18: 3 epochs "
        "saved (17%)" in flat
    )


@pytest.mark.parametrize("storage_supplier", ["sqlite"], indirect=True)
def test_report_png_and_dashboard(make_study, storage_supplier, capsys, tmp_path) -> None:
    pytest.importorskip("matplotlib")
    optuna_dashboard = pytest.importorskip("optuna_dashboard")
    study = make_study(direction="maximize")
    add_known_trials(study)
    png = tmp_path / "ranking.png"
    code, out, _ = run_cli(
        capsys, "report", "--storage", storage_supplier.url, "--step", "1", "--window", "2",
        "--png", str(png), "--to-dashboard",
    )  # fmt: skip
    assert code == 0
    assert "SoTL-E(E=2)@1" in out and "Wrote the figure" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    assert matplotlib.image.imread(png).shape[:2] == (500, 1200)
    again = optuna.load_study(study_name=study.study_name, storage=storage_supplier.open())
    note = optuna_dashboard.get_note(again)
    assert "SoTL-E(E=2) at step 1" in note and "Spearman" in note


@pytest.mark.parametrize("storage_supplier", ["sqlite"], indirect=True)
def test_report_refuses_bad_input_clearly(make_study, storage_supplier, capsys) -> None:
    url = storage_supplier.url
    study = make_study()
    code, _, err = run_cli(capsys, "report", "--storage", url)
    assert code == 2 and "no trial with a reported training loss" in err  # one study: found
    make_study()
    code, _, err = run_cli(capsys, "report", "--storage", url)
    assert code == 2 and "--study is needed" in err and study.study_name in err
    code, _, err = run_cli(capsys, "report", "--storage", url, "--study", "nope")
    assert code == 2 and "--study 'nope' is not in" in err
    study.add_trial(optuna.create_trial(value=1.0, intermediate_values={0: 1.0}))
    code, _, err = run_cli(
        capsys, "report", "--storage", url, "--study", study.study_name, "--step", "4"
    )
    assert code == 2 and "step=4" in err and "furthest step reported is 0" in err
    code, _, err = run_cli(
        capsys, "report", "--storage", url, "--study", study.study_name, "--window", "0"
    )
    assert code == 2 and "window" in err


def test_report_masks_the_password_of_the_storage_url(capsys) -> None:
    # PostgreSQL trusts local connections, so a URL with a password still opens it.
    from tests.storages import require_server

    require_server("PostgreSQL", "127.0.0.1", 5432)
    url = POSTGRES_URL.replace("postgres@", "postgres:s3cretpw@", 1)
    assert "s3cretpw" in url
    storage = optuna.storages.RDBStorage(url)
    name = f"optuna-sotl-test-report-mask-{uuid.uuid4().hex[:8]}"
    study = optuna.create_study(storage=storage, study_name=name)
    try:
        study.add_trial(optuna.create_trial(value=1.0, intermediate_values={0: 1.0}))
        code, out, err = run_cli(capsys, "report", "--storage", url, "--study", study.study_name)
        assert code == 0 and "postgres:***@" in out and "s3cretpw" not in out + err
        code, out, err = run_cli(capsys, "report", "--storage", url, "--study", "missing")
        assert code == 2 and "postgres:***@" in err and "s3cretpw" not in out + err
    finally:
        optuna.delete_study(study_name=study.study_name, storage=storage)
        storage.engine.dispose()
    dead = "postgresql+psycopg2://postgres:s3cretpw@127.0.0.1:1/test"
    code, out, err = run_cli(capsys, "report", "--storage", dead, "--study", "x")
    assert code == 2 and "cannot open storage" in err and "s3cretpw" not in out + err


def test_report_on_a_study_pruned_by_sotl(tmp_path) -> None:
    from optuna_sotl import SoTLPruner
    from optuna_sotl import SoTLReporter

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", 0.01, 0.5, log=True)
        reporter = SoTLReporter(trial)
        weight = 5.0
        for _ in range(6):
            for _ in range(10):
                weight -= lr * weight
                reporter.add(weight**2)
            reporter.end_epoch(val_metric=1.0 / (1.0 + weight**2))
        return 1.0 / (1.0 + weight**2)

    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(
        storage=url,
        direction="maximize",
        pruner=SoTLPruner(n_startup_trials=3, n_warmup_steps=1),
        sampler=optuna.samplers.RandomSampler(seed=1),
    )
    study.optimize(objective, n_trials=10)
    n_pruned = sum(t.state == TrialState.PRUNED for t in study.trials)
    assert n_pruned > 0
    # The installed command, as a user runs it.
    command = [sys.executable, "-m", "optuna_sotl._cli", "report", "--storage", url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"{n_pruned} pruned" in done.stdout
    ranking = rank_study(study, estimator=SoTLE(1))
    assert f"{ranking.epochs_saved} epochs saved" in " ".join(done.stdout.split())


@pytest.mark.parametrize(
    "missing, option, extra",
    [("matplotlib", "--png=out.png", "plot"), ("optuna_dashboard", "--to-dashboard", "dashboard")],
)
def test_a_missing_extra_is_named_before_anything_runs(
    monkeypatch, capsys, tmp_path, missing, option, extra
) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # what an absent package imports as
    url = f"sqlite:///{tmp_path / 'absent.db'}"
    code, out, err = run_cli(capsys, "report", "--storage", url, option)
    assert code == 2 and out == "" and f"optuna-sotl[{extra}]" in err
    assert not (tmp_path / "absent.db").exists()  # the storage was not even opened
