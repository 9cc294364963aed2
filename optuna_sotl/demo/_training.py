"""The demo's objective: train one NAS-Bench-201 cell on noisy, occluded 8x8 digits with torch.

Imports torch and scikit-learn, so only the demo's run and its worker processes import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from typing import Callable

import optuna
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
import torch
from torch.nn import functional

from optuna_sotl import SoTLReporter
from optuna_sotl.demo._config import ARCH_ATTR
from optuna_sotl.demo._config import TrainingConfig
from optuna_sotl.nas import build_nb201_model
from optuna_sotl.nas import suggest_cell


@dataclass(frozen=True)
class DigitsSplit:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    noise: float
    occlusion: int


def load_digits_split(
    seed: int, train_size: int, noise: float = 0.0, occlusion: int = 0
) -> DigitsSplit:
    """The 1797 8x8 digits bundled with scikit-learn, split stratified by ``seed``; no download.

    ``train_size`` images train, the rest validate. The training images are kept clean here and
    corrupted afresh each epoch by :func:`corrupt` (so a network cannot learn the noise by
    heart); the validation images are corrupted once, with ``seed``, so every trial of a study
    is scored on the same images.
    """
    images, labels = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        images, labels, train_size=train_size, random_state=seed, stratify=labels
    )

    def to_images(x: Any) -> torch.Tensor:
        # Pixels are counts from 0 to 16; scale them to [0, 1].
        return torch.as_tensor(x, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0

    val_generator = torch.Generator().manual_seed(seed)
    return DigitsSplit(
        to_images(x_train),
        torch.as_tensor(y_train, dtype=torch.long),
        corrupt(to_images(x_val), noise, occlusion, val_generator),
        torch.as_tensor(y_val, dtype=torch.long),
        noise,
        occlusion,
    )


def corrupt(
    images: torch.Tensor, noise: float, occlusion: int, generator: torch.Generator
) -> torch.Tensor:
    """A copy of ``images`` (N, 1, H, W) with a random square blanked and Gaussian noise added."""
    out = images.clone()
    n, _, height, width = out.shape
    if occlusion > 0:
        top = torch.randint(0, height - occlusion + 1, (n, 1, 1, 1), generator=generator)
        left = torch.randint(0, width - occlusion + 1, (n, 1, 1, 1), generator=generator)
        rows = torch.arange(height).view(1, 1, height, 1)
        cols = torch.arange(width).view(1, 1, 1, width)
        in_rows = (rows >= top) & (rows < top + occlusion)
        in_cols = (cols >= left) & (cols < left + occlusion)
        out = out.masked_fill(in_rows & in_cols, 0.0)
    if noise > 0:
        out = out + noise * torch.randn(out.shape, generator=generator)
    return out


def make_objective(config: TrainingConfig) -> Callable[[optuna.trial.Trial], float]:
    """An objective that trains the trial's cell for ``config.epochs`` and returns val accuracy.

    Each minibatch loss goes to :class:`~optuna_sotl.SoTLReporter`; each epoch ends with the
    validation loss and accuracy, and the study's pruner may stop the trial there.
    """
    data = load_digits_split(config.seed, config.train_size, config.noise, config.occlusion)

    def objective(trial: optuna.trial.Trial) -> float:
        arch = suggest_cell(trial, config.ops)
        trial.set_user_attr(ARCH_ATTR, arch)
        # Seeded by trial number: a trial's weights and batch order do not depend on which
        # worker runs it or on what ran before it in that process.
        torch.manual_seed(config.seed * 100_003 + trial.number)
        corruption = torch.Generator().manual_seed(config.seed * 100_003 + trial.number)
        model = build_nb201_model(
            arch,
            in_channels=1,
            num_classes=10,
            channels=config.channels,
            cells_per_stage=config.cells_per_stage,
        )
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        # Cosine decay to zero over the whole run, per minibatch, as NAS-Bench-201 trains: without
        # it the late epochs' losses jitter more than the architectures differ.
        n_batches = -(-len(data.y_train) // config.batch_size)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=config.epochs * n_batches
        )
        reporter = SoTLReporter(trial)
        val_accuracy = 0.0
        for _ in range(config.epochs):
            model.train()
            x_train = corrupt(data.x_train, data.noise, data.occlusion, corruption)
            order = torch.randperm(len(data.y_train))
            for start in range(0, len(order), config.batch_size):
                batch = order[start : start + config.batch_size]
                loss = functional.cross_entropy(model(x_train[batch]), data.y_train[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
                schedule.step()
                reporter.add(loss.detach())
            val_loss, val_accuracy = _evaluate(model, data)
            reporter.end_epoch(val_loss=val_loss, val_metric=val_accuracy)
        return val_accuracy

    return objective


def _evaluate(model: torch.nn.Module, data: DigitsSplit) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        logits = model(data.x_val)
        loss = functional.cross_entropy(logits, data.y_val).item()
        accuracy = (logits.argmax(dim=1) == data.y_val).float().mean().item()
    return loss, accuracy
