"""Search NAS-Bench-201 cells on scikit-learn's 8x8 digits, pruning by the training loss (SoTL).

Run it with ``python examples/train_digits.py`` (about a minute on two CPU cores; the digits are
bundled with scikit-learn, nothing is downloaded).

Each trial trains a small network with torch and hands every minibatch loss to ``SoTLReporter``;
after each epoch ``SoTLPruner`` stops the trial if its training loss is worse than the median of
the other trials' at the same epoch. The study *maximises* validation accuracy while the pruner
reads training losses, which are lower-is-better: SoTLPruner never mixes the two up.
"""

from __future__ import annotations

import numpy as np
import optuna
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
import torch
from torch.nn import functional

from optuna_sotl import SoTLPruner
from optuna_sotl import SoTLReporter
from optuna_sotl.nas import build_nb201_model
from optuna_sotl.nas import suggest_cell


N_TRIALS = 20
EPOCHS = 8
BATCH_SIZE = 64


def load_data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    images, labels = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        images, labels, test_size=0.3, random_state=0, stratify=labels
    )

    def to_images(pixels: np.ndarray) -> torch.Tensor:
        # Pixel counts from 0 to 16 -> a batch of one-channel 8x8 images in [0, 1].
        return torch.tensor(pixels, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0

    return to_images(x_train), torch.tensor(y_train), to_images(x_val), torch.tensor(y_val)


X_TRAIN, Y_TRAIN, X_VAL, Y_VAL = load_data()


def objective(trial: optuna.Trial) -> float:
    arch = suggest_cell(trial)  # six categorical parameters, "edge_1<-0" ... "edge_3<-2"
    torch.manual_seed(trial.number)
    model = build_nb201_model(arch, in_channels=1, num_classes=10, channels=8, cells_per_stage=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    reporter = SoTLReporter(trial)

    for _ in range(EPOCHS):
        model.train()
        for batch in torch.randperm(len(Y_TRAIN)).split(BATCH_SIZE):
            loss = functional.cross_entropy(model(X_TRAIN[batch]), Y_TRAIN[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            reporter.add(loss.detach())  # summed lazily: no per-minibatch .item()

        model.eval()
        with torch.no_grad():
            logits = model(X_VAL)
        val_loss = functional.cross_entropy(logits, Y_VAL).item()
        accuracy = (logits.argmax(dim=1) == Y_VAL).float().mean().item()
        # Reports the epoch's mean training loss and asks the pruner; raises TrialPruned to stop.
        reporter.end_epoch(val_loss=val_loss, val_metric=accuracy)

    return accuracy


if __name__ == "__main__":
    torch.set_num_threads(1)  # these networks are too small to gain from more threads
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=0),
        # Prune from the second epoch on (step 1), once three trials have completed.
        pruner=SoTLPruner(n_startup_trials=3, n_warmup_steps=1),
    )
    study.optimize(objective, n_trials=N_TRIALS, show_progress_bar=True)

    pruned = study.get_trials(states=[optuna.trial.TrialState.PRUNED])
    print(f"{len(pruned)} of {len(study.trials)} trials pruned by SoTL.")
    best = study.best_trial
    # Replaying the best parameters through suggest_cell gives the cell's arch string back.
    arch = suggest_cell(optuna.trial.FixedTrial(best.params))
    print(f"Best validation accuracy {best.value:.4f} (trial {best.number}): {arch}")
