from __future__ import annotations

import json
import subprocess
import sys

import optuna
from optuna.trial import TrialState
import pytest

from optuna_sotl import SoTLPruner
from optuna_sotl import SoTLReporter
from optuna_sotl import SoVL
from optuna_sotl.dashboard import DashboardCallback
from optuna_sotl.dashboard import save_to_dashboard
from optuna_sotl.dashboard._figure import ranking_figure
from optuna_sotl.dashboard._note import BEGIN
from optuna_sotl.dashboard._note import END
from optuna_sotl.dashboard._note import merge_into_note
from optuna_sotl.dashboard._save import FIGURE_ID
from optuna_sotl.ranking import rank_study


optuna_dashboard = pytest.importorskip("optuna_dashboard")
pytest.importorskip("plotly")


def add_trials(study: optuna.Study) -> None:
    """Three complete trials whose loss at step 1 orders them as their accuracy, one pruned."""
    for loss, accuracy in ((0.2, 0.9), (0.4, 0.8), (0.3, 0.85)):
        study.add_trial(
            optuna.create_trial(value=accuracy, intermediate_values={0: 1.0, 1: loss, 2: loss})
        )
    study.add_trial(
        optuna.create_trial(state=TrialState.PRUNED, intermediate_values={0: 1.5, 1: 0.9})
    )


def saved_figure(study: optuna.Study) -> dict:
    attrs = study._storage.get_study_system_attrs(study._study_id)
    prefix = f"dashboard:plot_data:{FIGURE_ID}:"
    chunks = {int(k[len(prefix) :]): value for k, value in attrs.items() if k.startswith(prefix)}
    ids = {key.split(":")[2] for key in attrs if key.startswith("dashboard:plot_data:")}
    assert ids == {FIGURE_ID}  # one figure, overwritten by each save
    return json.loads("".join(chunks[i] for i in sorted(chunks)))


def test_saves_note_and_figure_on_every_storage(make_study, storage_supplier) -> None:
    study = make_study(direction="maximize")
    add_trials(study)
    ranking = save_to_dashboard(study, step=1)
    assert ranking.spearman == pytest.approx(1.0)

    # What the dashboard, another process, reads back.
    seen = study
    if storage_supplier.url is not None:
        seen = optuna.load_study(study_name=study.study_name, storage=storage_supplier.open())
    note = optuna_dashboard.get_note(seen)
    assert "## SoTL ranking (optuna-sotl)" in note
    assert "Spearman +1.00, Kendall +1.00" in note
    assert "| 4 | 3 | PRUNED | 2 | 0.9 | - |" in note  # ranked at step 1, no value
    assert "trained 11 epochs; training each to the end (3 epochs) would take 12" in note
    figure = saved_figure(seen)
    assert "Spearman +1.00" in figure["layout"]["title"]["text"]

    # A later save replaces the section and the figure, and keeps what the user wrote.
    optuna_dashboard.save_note(study, note + "\n\nMy own remark.")
    study.add_trial(optuna.create_trial(value=0.5, intermediate_values={0: 1.0, 1: 0.1}))
    save_to_dashboard(study, step=1)
    note = optuna_dashboard.get_note(seen)
    assert note.count("SoTL ranking (optuna-sotl)") == 1
    assert "Updated after 5 finished trials" in note and note.endswith("My own remark.")
    assert "Spearman -0.20" in saved_figure(seen)["layout"]["title"]["text"]


def test_note_section_is_fenced_inside_a_users_note() -> None:
    user = "# My study\n\nnotes"
    merged = merge_into_note(user, "SECTION 1")
    assert merged == f"{BEGIN}\n\nSECTION 1\n\n{END}\n\n{user}"
    assert merge_into_note(merged + "\nmore", "SECTION 2") == (
        f"{BEGIN}\n\nSECTION 2\n\n{END}\n\n{user}\nmore"
    )
    assert merge_into_note("", "S") == f"{BEGIN}\n\nS\n\n{END}"


def test_figure_shows_each_state_and_the_complete_trials_values() -> None:
    study = optuna.create_study(direction="maximize")
    add_trials(study)
    figure = ranking_figure(rank_study(study, step=1))
    bars = {trace.name: list(trace.x) for trace in figure.data if trace.type == "bar"}
    assert bars == {"COMPLETE": ["#0", "#2", "#1"], "PRUNED": ["#3"]}
    (scatter,) = [trace for trace in figure.data if trace.type == "scatter"]
    assert list(zip(scatter.x, scatter.y)) == [(0.2, 0.9), (0.3, 0.85), (0.4, 0.8)]
    assert list(figure.layout.xaxis.categoryarray) == ["#0", "#2", "#1", "#3"]


def objective(trial: optuna.Trial) -> float:
    lr = trial.suggest_float("lr", 0.01, 0.5, log=True)
    reporter = SoTLReporter(trial)
    weight = 5.0
    for _ in range(4):
        for _ in range(5):
            weight -= lr * weight
            reporter.add(weight**2)
        reporter.end_epoch()
    return 1.0 / (1.0 + weight**2)


def test_callback_refreshes_every_k_finished_trials(tmp_path) -> None:
    study = optuna.create_study(
        storage=f"sqlite:///{tmp_path / 'study.db'}",
        direction="maximize",
        pruner=SoTLPruner(n_startup_trials=2),
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    versions = []

    def note_version(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        attrs = study._storage.get_study_system_attrs(study._study_id)
        versions.append(attrs.get("dashboard:note_ver", 0))

    callback = DashboardCallback(every=2)
    study.optimize(objective, n_trials=5, callbacks=[callback, note_version])
    assert versions == [0, 1, 1, 2, 2]  # saved after the 2nd and 4th trials
    assert "Updated after 4 finished trials" in optuna_dashboard.get_note(study)
    callback.refresh(study)
    assert "Updated after 5 finished trials" in optuna_dashboard.get_note(study)
    assert any(t.state == TrialState.PRUNED for t in study.trials)


def test_callback_with_a_fixed_step_waits_until_a_trial_reaches_it() -> None:
    study = optuna.create_study()
    callback = DashboardCallback(step=3)
    study.optimize(objective, n_trials=1, callbacks=[callback])  # steps 0..3
    assert "SoTL-E(E=1) of the training loss at step 3" in optuna_dashboard.get_note(study)
    early = optuna.create_study()
    early.add_trial(optuna.create_trial(value=1.0, intermediate_values={0: 1.0}))
    DashboardCallback(step=3).refresh(early)
    assert optuna_dashboard.get_note(early) == ""


def test_callback_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="every cannot be less than 1"):
        DashboardCallback(every=0)
    with pytest.raises(TypeError, match="every must be an int"):
        DashboardCallback(every=1.5)
    with pytest.raises(ValueError, match="step cannot be negative"):
        DashboardCallback(step=-1)
    with pytest.raises(TypeError, match="estimator must be .*SoVL"):
        DashboardCallback(estimator=SoVL())


@pytest.mark.parametrize("missing", ["optuna_dashboard", "plotly"])
def test_missing_extra_is_named(monkeypatch, missing) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # what an absent package imports as
    if missing == "plotly":
        monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)
    with pytest.raises(ImportError, match=r"pip install 'optuna-sotl\[dashboard\]'"):
        DashboardCallback()
    study = optuna.create_study()
    with pytest.raises(ImportError, match=missing):
        save_to_dashboard(study)


def test_importing_the_package_imports_no_plotting_library() -> None:
    code = (
        "import sys, optuna_sotl, optuna_sotl.dashboard, optuna_sotl.ranking, "
        "optuna_sotl.report._command;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'optuna_dashboard', 'plotly', 'matplotlib', 'torch'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
