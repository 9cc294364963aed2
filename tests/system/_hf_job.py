"""A study trained with ``transformers.Trainer`` and SoTLTrainerCallback; used by the tests.

A tiny regression built from code on local random data (nothing downloaded). Trial 1 is pruned
at step 1 by a deterministic pruner. The model records the loss of each training minibatch, in
order, to ``OUT_DIR/losses-<study>-<trial>-0.json`` keyed by epoch.
"""

from __future__ import annotations

import json
import pathlib

import optuna
import torch
from torch.utils.data import Dataset
import transformers

from optuna_sotl.integration import SoTLTrainerCallback


EPOCHS = 3
SAMPLES, BATCH = 64, 8
PRUNED_TRIAL, PRUNED_STEP = 1, 1


class PruneOneTrial(optuna.pruners.BasePruner):
    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return trial.number == PRUNED_TRIAL and trial.last_step == PRUNED_STEP


class Points(Dataset):
    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[index], "labels": self.y[index]}


class TinyRegressor(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
        self.train_losses: list[float] = []

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict:
        prediction = self.layer(x)
        loss = None if labels is None else torch.nn.functional.mse_loss(prediction, labels)
        if self.training and loss is not None:
            self.train_losses.append(loss.item())
        return {"loss": loss, "logits": prediction}


def datasets() -> tuple[Points, Points]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(SAMPLES + 32, 4, generator=generator)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    return Points(x[:SAMPLES], y[:SAMPLES]), Points(x[SAMPLES:], y[SAMPLES:])


def run(
    n_trials: int,
    out_dir: str,
    studies: list[tuple[str, str]],
    gradient_accumulation_steps: int = 1,
) -> None:
    def objective(trial: optuna.trial.Trial) -> float:
        lr = trial.suggest_float("lr", 0.01, 0.1, log=True)
        torch.manual_seed(trial.number)
        model = TinyRegressor()
        train, val = datasets()
        args = transformers.TrainingArguments(
            output_dir=str(pathlib.Path(out_dir) / "trainer"),
            num_train_epochs=EPOCHS,
            per_device_train_batch_size=BATCH,
            gradient_accumulation_steps=gradient_accumulation_steps,
            per_device_eval_batch_size=32,
            learning_rate=lr,
            lr_scheduler_type="constant",
            eval_strategy="epoch",
            save_strategy="no",
            logging_strategy="epoch",
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
            callbacks=[SoTLTrainerCallback(trial)],
        )
        path = pathlib.Path(out_dir) / f"losses-{trial.study.study_name}-{trial.number}-0.json"
        try:
            trainer.train()
        finally:
            per_epoch = SAMPLES // BATCH
            losses = model.train_losses
            by_epoch = {
                e: losses[e * per_epoch : (e + 1) * per_epoch]
                for e in range(len(losses) // per_epoch)
            }
            path.write_text(json.dumps(by_epoch))
        return trainer.evaluate()["eval_loss"]

    for url, study_name in studies:
        study = optuna.load_study(study_name=study_name, storage=url, pruner=PruneOneTrial())
        study.optimize(objective, n_trials=n_trials)
