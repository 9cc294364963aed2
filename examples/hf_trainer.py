"""Search a tiny transformer encoder with Hugging Face ``Trainer``, pruning by SoTL.

Run it with ``python examples/hf_trainer.py`` (1-3 minutes on two CPU cores). The model is
built from code and the data is made here: sequences of digit tokens labelled by whether their
sum is above average; no pretrained weights, tokenizer or dataset is downloaded.

``SoTLTrainerCallback`` reads the loss the trainer computes and backpropagates at each step (not
the smoothed ``loss`` of the logs), reports each epoch's mean at step = epoch with the SoTL user
attributes, records ``eval_loss`` and ``eval_accuracy`` after the epoch's evaluation, and stops
training through ``control.should_training_stop`` when ``SoTLPruner`` prunes; ``train()`` then
raises ``optuna.TrialPruned`` and the trial ends PRUNED.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import optuna
import torch
from torch.utils.data import Dataset
import transformers

from optuna_sotl import SoTLPruner
from optuna_sotl.integration import SoTLTrainerCallback


VOCAB, LENGTH, EPOCHS = 10, 12, 4


class DigitSums(Dataset):
    def __init__(self, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.tokens = torch.tensor(rng.integers(0, VOCAB, size=(n, LENGTH)))
        self.labels = (self.tokens.sum(dim=1) > LENGTH * (VOCAB - 1) / 2).long()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.tokens[index], "labels": self.labels[index]}


class TinyEncoder(torch.nn.Module):
    def __init__(self, width: int, layers: int) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, width)
        self.position = torch.nn.Parameter(torch.zeros(LENGTH, width))
        layer = torch.nn.TransformerEncoderLayer(
            width, nhead=2, dim_feedforward=2 * width, batch_first=True, dropout=0.0
        )
        self.encoder = torch.nn.TransformerEncoder(layer, num_layers=layers)
        self.head = torch.nn.Linear(width, 2)

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor | None = None) -> dict:
        hidden = self.encoder(self.embed(input_ids) + self.position)
        logits = self.head(hidden.mean(dim=1))
        loss = None if labels is None else torch.nn.functional.cross_entropy(logits, labels)
        return {"loss": loss, "logits": logits}


def accuracy(prediction: transformers.EvalPrediction) -> dict[str, float]:
    return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}


def main() -> None:
    work_dir = tempfile.mkdtemp()
    train, val = DigitSums(512, seed=0), DigitSums(256, seed=1)

    def objective(trial: optuna.trial.Trial) -> float:
        torch.manual_seed(trial.number)
        model = TinyEncoder(
            width=trial.suggest_categorical("width", [16, 32]),
            layers=trial.suggest_int("layers", 1, 2),
        )
        args = transformers.TrainingArguments(
            output_dir=os.path.join(work_dir, f"trial-{trial.number}"),
            num_train_epochs=EPOCHS,
            learning_rate=trial.suggest_float("lr", 1e-4, 1e-2, log=True),
            per_device_train_batch_size=32,
            per_device_eval_batch_size=256,
            eval_strategy="epoch",
            metric_for_best_model="accuracy",
            save_strategy="no",
            logging_strategy="no",
            report_to=[],
            disable_tqdm=True,
            use_cpu=True,
            seed=trial.number,
        )
        trainer = transformers.Trainer(
            model=model,
            args=args,
            train_dataset=train,
            eval_dataset=val,
            compute_metrics=accuracy,
            callbacks=[SoTLTrainerCallback(trial)],  # records eval_accuracy as val_metric
        )
        trainer.remove_callback(transformers.PrinterCallback)  # no log dict per evaluation
        trainer.train()  # raises optuna.TrialPruned when SoTLPruner stops the trial
        return trainer.evaluate()["eval_accuracy"]

    storage = "sqlite:///" + os.path.join(work_dir, "hf.db")
    study = optuna.create_study(
        direction="maximize", storage=storage, pruner=SoTLPruner(n_startup_trials=3)
    )
    study.optimize(objective, n_trials=6)
    for trial in study.trials:
        losses = ", ".join(f"{v:.3f}" for v in trial.intermediate_values.values())
        print(f"trial {trial.number}: {trial.state.name:8} train loss per epoch [{losses}]")
    print(f"best eval_accuracy {study.best_value:.3f} with {study.best_params}")


if __name__ == "__main__":
    transformers.logging.set_verbosity_error()
    main()
