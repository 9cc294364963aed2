"""Search MLPs on scikit-learn's 8x8 digits with PyTorch Lightning on 2 CPU ranks, pruning by SoTL.

Run it with ``python examples/lightning_ddp.py`` (a couple of minutes on two CPU cores; the digits
are bundled with scikit-learn, nothing is downloaded). ``--strategy ddp_spawn`` or
``--strategy auto --devices 1`` run the same search spawned or in one process.

``SoTLLightningCallback`` reports each epoch's mean training loss over **both** ranks at step =
epoch (one all-reduce per epoch), writes the SoTL user attributes and the validation accuracy
from rank 0, and stops every rank when ``SoTLPruner`` prunes; ``check_pruned()`` after ``fit``
then ends the trial PRUNED. Lightning's ``ddp`` strategy runs this script again for rank 1:
``follow_rank_zero`` makes that process train the trials rank 0 trains instead of starting its
own study. The study lives in SQLite, which the ranks share.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import lightning.pytorch as L
import numpy as np
import optuna
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
import torch
from torch.nn import functional
from torch.utils.data import DataLoader
from torch.utils.data import TensorDataset

from optuna_sotl import SoTLPruner
from optuna_sotl.integration import follow_rank_zero
from optuna_sotl.integration import SoTLLightningCallback


EPOCHS = 6


class DigitsMLP(L.LightningModule):
    def __init__(self, hidden: int, layers: int, lr: float) -> None:
        super().__init__()
        blocks: list[torch.nn.Module] = [torch.nn.Flatten()]
        width = 64
        for _ in range(layers):
            blocks += [torch.nn.Linear(width, hidden), torch.nn.ReLU()]
            width = hidden
        blocks.append(torch.nn.Linear(width, 10))
        self.net = torch.nn.Sequential(*blocks)
        self.lr = lr

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return functional.cross_entropy(self.net(x), y)  # the callback reads this loss

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        accuracy = (self.net(x).argmax(dim=1) == y).float().mean()
        self.log("val_acc", accuracy, sync_dist=True)  # the same value on every rank

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.9)


def loaders() -> tuple[DataLoader, DataLoader]:
    images, labels = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        images / 16.0, labels, test_size=0.3, random_state=0, stratify=labels
    )

    def dataset(x: np.ndarray, y: np.ndarray) -> TensorDataset:
        return TensorDataset(torch.tensor(x, dtype=torch.float32), torch.tensor(y))

    # Lightning adds a DistributedSampler under DDP: each rank trains on half of the minibatches.
    train = DataLoader(dataset(x_train, y_train), batch_size=32, shuffle=True)
    return train, DataLoader(dataset(x_val, y_val), batch_size=256)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategy", default="ddp", help="ddp (default), ddp_spawn or auto")
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--storage", default=None, help="default: a SQLite file in a temp dir")
    args = parser.parse_args()

    def objective(trial: optuna.trial.Trial) -> float:
        # Suggest everything before creating the callback: ranks re-launched by ddp read the
        # parameters from storage.
        model = DigitsMLP(
            hidden=trial.suggest_categorical("hidden", [16, 32, 64]),
            layers=trial.suggest_int("layers", 1, 3),
            lr=trial.suggest_float("lr", 1e-3, 0.3, log=True),
        )
        callback = SoTLLightningCallback(trial, monitor="val_acc")
        trainer = L.Trainer(
            accelerator="cpu",
            devices=args.devices,
            strategy=args.strategy,
            max_epochs=EPOCHS,
            callbacks=[callback],
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        L.seed_everything(trial.number, verbose=False)
        train, val = loaders()
        trainer.fit(model, train, val)
        callback.check_pruned()  # raises optuna.TrialPruned on every rank when pruned
        return float(trainer.callback_metrics["val_acc"])

    # Rank 1 under ddp: train rank 0's trials, then stop here.
    if follow_rank_zero(objective):
        return
    storage = args.storage or "sqlite:///" + os.path.join(tempfile.mkdtemp(), "lightning.db")
    study = optuna.create_study(
        direction="maximize", storage=storage, pruner=SoTLPruner(n_startup_trials=3)
    )
    study.optimize(objective, n_trials=args.trials)
    for trial in study.trials:
        losses = ", ".join(f"{v:.3f}" for v in trial.intermediate_values.values())
        print(f"trial {trial.number}: {trial.state.name:8} train loss per epoch [{losses}]")
    print(f"best val_acc {study.best_value:.3f} with {study.best_params}")


if __name__ == "__main__":
    main()
