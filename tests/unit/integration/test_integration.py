"""Fast checks of optuna_sotl.integration in one process (the multi-process runs are in
tests/system/test_integrations.py)."""

from __future__ import annotations

import pickle

import optuna
from optuna.trial import TrialState
import pytest


torch = pytest.importorskip("torch")

from optuna_sotl.integration import SoTLDistributedReporter  # noqa: E402


class PruneAtStep(optuna.pruners.BasePruner):
    def __init__(self, step: int) -> None:
        self.step = step

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return trial.last_step == self.step


def test_distributed_reporter_without_process_group_reports_like_sotl_reporter(
    make_study: object,
) -> None:
    study = make_study(pruner=PruneAtStep(1))

    def objective(trial: optuna.trial.Trial) -> float:
        reporter = SoTLDistributedReporter(trial)
        assert (reporter.rank, reporter.world_size, reporter.resume_step) == (0, 1, 0)
        for epoch in range(3):
            for loss in (1.0 + epoch, torch.tensor(2.0 + epoch), torch.tensor([3.0 + epoch])):
                reporter.add(loss)
            assert reporter.end_epoch(val_loss=0.5) == pytest.approx(2.0 + epoch)
        return 0.0

    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == TrialState.PRUNED
    assert trial.intermediate_values == {0: 2.0, 1: 3.0}
    assert trial.user_attrs["sotl"] == pytest.approx(5.0)
    assert trial.user_attrs["val_loss_curve"] == [0.5, 0.5]


def test_distributed_reporter_errors_name_the_problem(make_study: object) -> None:
    study = make_study()
    trial = study.ask()
    reporter = SoTLDistributedReporter(trial)
    with pytest.raises(ValueError, match="no minibatch loss"):
        reporter.end_epoch()
    with pytest.raises(TypeError, match="trial must be an optuna.trial.Trial"):
        SoTLDistributedReporter("not a trial")
    with pytest.raises(ValueError, match="one-element"):
        reporter.add(torch.ones(3))
    assert "rank=0" in repr(reporter)
    # Nothing was written by the failed calls.
    assert study.trials[0].intermediate_values == {}


def test_distributed_reporter_unwraps_torch_distributed_trial(make_study: object) -> None:
    # optuna-integration's TorchDistributedTrial needs a process group; a stand-in of that name
    # holding rank 0's trial is what the reporter looks at.
    class TorchDistributedTrial:
        def __init__(self, delegate: optuna.trial.Trial) -> None:
            self._delegate = delegate

    study = make_study()
    trial = study.ask()
    reporter = SoTLDistributedReporter(TorchDistributedTrial(trial))
    reporter.add(4.0)
    reporter.end_epoch()
    assert study.trials[0].intermediate_values == {0: 4.0}


def test_lightning_callback_checks_its_arguments_and_storage() -> None:
    pytest.importorskip("lightning")
    from optuna_sotl.integration import follow_rank_zero
    from optuna_sotl.integration import SoTLLightningCallback

    trial = optuna.create_study().ask()
    with pytest.raises(TypeError, match="trial must be"):
        SoTLLightningCallback(None)
    with pytest.raises(TypeError, match="monitor"):
        SoTLLightningCallback(trial, monitor=3)
    with pytest.raises(ValueError, match="window"):
        SoTLLightningCallback(trial, window=0)
    callback = SoTLLightningCallback(trial, monitor="val_acc")
    assert "monitor='val_acc'" in repr(callback)
    # An in-memory study cannot reach spawned ranks: say so instead of losing their reports.
    with pytest.raises(ValueError, match="in memory"):
        pickle.dumps(callback)
    callback.check_pruned()  # not pruned: nothing raised
    assert follow_rank_zero(lambda trial: None) is False  # not a re-launched rank


@pytest.mark.parametrize(
    ("package", "strategy", "spawned"),
    [
        ("lightning.pytorch", "ddp_spawn", True),
        ("lightning.pytorch", "ddp", False),
        ("pytorch_lightning", "ddp_spawn", True),
        ("pytorch_lightning", "ddp", False),
    ],
)
def test_lightning_callback_tells_spawned_ranks_from_relaunched_ones(
    package: str, strategy: str, spawned: bool
) -> None:
    # Spawned ranks end with their fit and destroy their process group at exit; ddp's re-launched
    # ranks keep theirs for the next trial (follow_rank_zero).
    L = pytest.importorskip(package)
    from optuna_sotl.integration._lightning import _is_spawned_rank

    trainer = L.Trainer(accelerator="cpu", devices=2, strategy=strategy, logger=False)
    assert _is_spawned_rank(trainer.strategy.launcher) is spawned
    assert _is_spawned_rank(None) is False


def test_trainer_callback_checks_its_arguments() -> None:
    pytest.importorskip("transformers")
    from optuna_sotl.integration import SoTLTrainerCallback

    with pytest.raises(TypeError, match="monitor"):
        SoTLTrainerCallback(optuna.create_study().ask(), monitor=1)
    with pytest.raises(ValueError, match="window"):
        SoTLTrainerCallback(None, window=0)


def test_lightning_callback_says_where_the_loss_comes_from(tmp_path: object) -> None:
    L = pytest.importorskip("lightning.pytorch")
    from optuna_sotl.integration import SoTLLightningCallback

    class ReturnsNothing(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch: list, batch_idx: int) -> None:
            return None  # Lightning skips the batch: there is no loss to report

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    storage = f"sqlite:///{tmp_path}/study.db"
    trial = optuna.create_study(storage=storage).ask()
    data = torch.utils.data.TensorDataset(torch.ones(4, 2))
    trainer = L.Trainer(
        max_epochs=1,
        callbacks=[SoTLLightningCallback(trial)],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    with pytest.raises(ValueError, match="training_step returns"):
        trainer.fit(ReturnsNothing(), torch.utils.data.DataLoader(data, batch_size=2))
    assert trial.storage.get_trial(trial._trial_id).intermediate_values == {}


@pytest.mark.parametrize(
    "name", ["SoTLDistributedReporter", "SoTLLightningCallback", "SoTLTrainerCallback"]
)
def test_integration_docstrings_are_short_and_their_examples_compile(name: str) -> None:
    # As tests/unit/test_docstring_examples.py asks of the classes in optuna_sotl.__all__; the
    # framework examples need a model and data, so they are compiled, and the plain one runs.
    import inspect

    import optuna_sotl
    from tests.unit.test_docstring_examples import code_blocks

    if name != "SoTLDistributedReporter":
        pytest.importorskip("lightning" if "Lightning" in name else "transformers")
    docstring = inspect.getdoc(getattr(optuna_sotl, name)) or ""
    assert "Example:" in docstring
    assert len(docstring.split("Example:")[0].strip().splitlines()) <= 17
    blocks = code_blocks(docstring)
    assert blocks
    for block in blocks:
        code = compile(block, f"<{name} docstring example>", "exec")
        if name == "SoTLDistributedReporter":
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            exec(code, {"__name__": "__docstring_example__"})
