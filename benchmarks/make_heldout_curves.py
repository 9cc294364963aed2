"""Record held-out learning-curve sets by real training on CPU, in the layout of docs/data.md.

Two sets the defaults were not tuned on (the project's only other curves are SpikeNAS-Bench
CIFAR-10), both with every architecture of their space trained, so that regularised evolution's
mutations always land on a recorded architecture:

- ``digits-nb201``: NAS-Bench-201 cells (``optuna_sotl.nas.build_nb201_model``) on scikit-learn's
  8x8 digits with Gaussian noise and a blanked square (a harder corruption and a different split
  than the demo's), SGD with Nesterov momentum and a per-batch cosine schedule. The space is a
  subset of NAS-Bench-201's with a different number of operations per edge (see ``CELL_SPACE``).
- ``tabular-mlp``: another domain: a hyperparameter grid of two-layer MLPs on a fixed
  ``make_classification`` problem (Adam, per-batch cosine schedule). "Edges" are the search
  dimensions, ``ops`` the chosen values as strings.

Per architecture: per-epoch ``train_loss`` (mean of the epoch's minibatch losses, in training
mode), ``train_acc`` (of those minibatches), ``val_loss`` and ``val_acc`` (after the epoch, eval
mode), a final ``test_acc`` on a separate test split; accuracies in %. Nothing is downloaded.

    nice -n 15 .venv/bin/python benchmarks/make_heldout_curves.py digits-nb201 OUT/digits_nb201.npz
    nice -n 15 .venv/bin/python benchmarks/make_heldout_curves.py tabular-mlp OUT/tabular_mlp.npz

Seeds: data split and corruption from ``--seed`` (default 2026); architecture ``i`` of the grid
initialises and shuffles with ``seed * 100_003 + i``. One thread (``torch.set_num_threads(1)``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import itertools
import os
import sys
import time
from typing import Any

import numpy as np


# digits-nb201: (edge name, operations) in NAS-Bench-201's edge order. The chain 0->1->2->3 picks
# among three operations, the shortcuts 0->2, 0->3 and 1->3 between none and skip:
# 3^3 * 2^3 = 216 cells, every one trained (sized to about 15 CPU minutes on one core).
CELL_SPACE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("1<-0", ("skip_connect", "nor_conv_1x1", "nor_conv_3x3")),
    ("2<-0", ("none", "skip_connect")),
    ("2<-1", ("skip_connect", "nor_conv_1x1", "nor_conv_3x3")),
    ("3<-0", ("none", "skip_connect")),
    ("3<-1", ("none", "skip_connect")),
    ("3<-2", ("skip_connect", "nor_conv_1x1", "nor_conv_3x3")),
)

# tabular-mlp: the search dimensions and their values (3*3*2*3*4*2 = 432 configurations).
MLP_SPACE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("width1", ("16", "64", "256")),
    ("width2", ("0", "32", "128")),  # 0: a single hidden layer
    ("activation", ("relu", "tanh")),
    ("dropout", ("0.0", "0.2", "0.5")),
    ("lr", ("0.0003", "0.001", "0.003", "0.01")),
    ("batch_size", ("64", "256")),
)


def grid(space: tuple[tuple[str, tuple[str, ...]], ...]) -> list[tuple[str, ...]]:
    return list(itertools.product(*(values for _, values in space)))


# ---------------------------------------------------------------------------------------------
# Data: fixed splits, no download.


def digits_data(seed: int, train_size: int, test_size: int, noise: float, occlusion: int) -> dict:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    import torch

    from optuna_sotl.demo._training import corrupt

    images, labels = load_digits(return_X_y=True)
    x_rest, x_test, y_rest, y_test = train_test_split(
        images, labels, test_size=test_size, random_state=seed, stratify=labels
    )
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, train_size=train_size, random_state=seed + 1, stratify=y_rest
    )

    def to_images(x: Any) -> torch.Tensor:
        return torch.as_tensor(x, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0

    # Validation and test images are corrupted once (every architecture sees the same ones);
    # training images afresh each epoch (below), as the demo does.
    return {
        "x_train": to_images(x_train),
        "y_train": torch.as_tensor(y_train),
        "x_val": corrupt(to_images(x_val), noise, occlusion, torch.Generator().manual_seed(seed)),
        "y_val": torch.as_tensor(y_val),
        "x_test": corrupt(
            to_images(x_test), noise, occlusion, torch.Generator().manual_seed(seed + 7)
        ),
        "y_test": torch.as_tensor(y_test),
        "noise": noise,
        "occlusion": occlusion,
    }


def tabular_data(seed: int) -> dict:
    from sklearn.datasets import make_classification
    import torch

    x, y = make_classification(
        n_samples=3000, n_features=24, n_informative=10, n_redundant=4, n_classes=4,
        n_clusters_per_class=2, class_sep=0.9, flip_y=0.03, random_state=seed,
    )
    # make_classification shuffles: the first 1000 train, the next 1000 validate, the rest test.
    mean, std = x[:1000].mean(axis=0), x[:1000].std(axis=0)
    x = (x - mean) / std

    def tensor(a: Any, dtype: Any) -> torch.Tensor:
        return torch.as_tensor(a, dtype=dtype)

    return {
        "x_train": tensor(x[:1000], torch.float32), "y_train": tensor(y[:1000], torch.long),
        "x_val": tensor(x[1000:2000], torch.float32), "y_val": tensor(y[1000:2000], torch.long),
        "x_test": tensor(x[2000:], torch.float32), "y_test": tensor(y[2000:], torch.long),
    }


# ---------------------------------------------------------------------------------------------
# Models and the training loop.


def digits_model(ops: tuple[str, ...], channels: int) -> Any:
    from optuna_sotl.nas import build_nb201_model

    return build_nb201_model(
        list(ops), in_channels=1, num_classes=10, channels=channels, cells_per_stage=1
    )


def mlp_model(ops: tuple[str, ...], n_features: int, n_classes: int) -> Any:
    from torch import nn

    width1, width2, activation, dropout = int(ops[0]), int(ops[1]), ops[2], float(ops[3])
    act = nn.ReLU if activation == "relu" else nn.Tanh
    layers: list[nn.Module] = [nn.Linear(n_features, width1), act(), nn.Dropout(dropout)]
    last = width1
    if width2:
        layers += [nn.Linear(width1, width2), act(), nn.Dropout(dropout)]
        last = width2
    layers.append(nn.Linear(last, n_classes))
    return nn.Sequential(*layers)


def train_one(
    model: Any, optimizer: Any, data: dict, epochs: int, batch_size: int, seed: int,
    augment: Callable[[Any, Any], Any] | None,
) -> dict[str, Any]:
    import torch
    from torch.nn import functional

    n_train = len(data["y_train"])
    n_batches = -(-n_train // batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * n_batches)
    generator = torch.Generator().manual_seed(seed)
    curves = {key: np.empty(epochs) for key in ("train_loss", "train_acc", "val_loss", "val_acc")}
    for epoch in range(epochs):
        model.train()
        x_train = data["x_train"] if augment is None else augment(data["x_train"], generator)
        order = torch.randperm(n_train, generator=generator)
        losses, correct = [], 0
        for start in range(0, n_train, batch_size):
            batch = order[start : start + batch_size]
            logits = model(x_train[batch])
            loss = functional.cross_entropy(logits, data["y_train"][batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            correct += int((logits.argmax(dim=1) == data["y_train"][batch]).sum())
        curves["train_loss"][epoch] = float(np.mean(losses))
        curves["train_acc"][epoch] = 100.0 * correct / n_train
        curves["val_loss"][epoch], curves["val_acc"][epoch] = evaluate(
            model, data["x_val"], data["y_val"]
        )
    curves["test_acc"] = evaluate(model, data["x_test"], data["y_test"])[1]
    return curves


def evaluate(model: Any, x: Any, y: Any) -> tuple[float, float]:
    import torch
    from torch.nn import functional

    model.eval()
    with torch.no_grad():
        logits = model(x)
        loss = functional.cross_entropy(logits, y).item()
        accuracy = 100.0 * (logits.argmax(dim=1) == y).float().mean().item()
    return loss, accuracy


# ---------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("set", choices=("digits-nb201", "tabular-mlp"))
    parser.add_argument("out", help="the .npz file to write")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs per architecture (default: 30 digits, 40 tabular)")
    parser.add_argument("--limit", type=int, default=None,
                        help="train only the first N architectures of the shuffled grid "
                        "(for timing; the file is then not the whole space)")
    parser.add_argument("--channels", type=int, default=4, help="digits-nb201: first stage")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()

    import torch
    from tqdm.auto import tqdm

    # One core: the machine is shared, and one thread makes the timings comparable.
    torch.set_num_threads(1)
    digits = args.set == "digits-nb201"
    space = CELL_SPACE if digits else MLP_SPACE
    epochs = args.epochs or (30 if digits else 40)
    archs = grid(space)
    # Trained in a seeded random order, so a --limit run is a random sample of the space.
    order = np.random.default_rng(args.seed).permutation(len(archs))
    if args.limit is not None:
        order = order[: args.limit]
    order = np.sort(order)
    if digits:
        data = digits_data(args.seed, train_size=600, test_size=450, noise=0.45, occlusion=2)
        from optuna_sotl.demo._training import corrupt

        def augment(x: Any, generator: Any) -> Any:
            return corrupt(x, data["noise"], data["occlusion"], generator)
    else:
        data = tabular_data(args.seed)
        augment = None  # type: ignore[assignment]

    rows: dict[str, list[Any]] = {k: [] for k in (
        "train_loss", "train_acc", "val_loss", "val_acc", "test_acc", "params", "train_seconds",
        "arch_id", "ops",
    )}
    for arch_id in tqdm(order.tolist(), desc=args.set, unit="arch", disable=args.no_progress):
        ops = archs[arch_id]
        seed = args.seed * 100_003 + arch_id
        torch.manual_seed(seed)
        started = time.perf_counter()
        if digits:
            model = digits_model(ops, args.channels)
            optimizer = torch.optim.SGD(
                model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4
            )
            batch_size = 128
        else:
            model = mlp_model(ops, data["x_train"].shape[1], 4)
            optimizer = torch.optim.Adam(model.parameters(), lr=float(ops[4]))
            batch_size = int(ops[5])
        curves = train_one(model, optimizer, data, epochs, batch_size, seed, augment)
        rows["train_seconds"].append(time.perf_counter() - started)
        rows["params"].append(sum(p.numel() for p in model.parameters()))
        rows["arch_id"].append(arch_id)
        rows["ops"].append(ops)
        for key in ("train_loss", "train_acc", "val_loss", "val_acc", "test_acc"):
            rows[key].append(curves[key])

    arrays = {
        "arch_id": np.asarray(rows["arch_id"], dtype=np.int64),
        "ops": np.asarray(rows["ops"], dtype=str),
        "edges": np.asarray([name for name, _ in space], dtype=str),
        "params": np.asarray(rows["params"], dtype=np.int64),
        "train_seconds": np.asarray(rows["train_seconds"], dtype=np.float32),
        "test_acc": np.asarray(rows["test_acc"], dtype=np.float32),
    }
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        arrays[key] = np.asarray(rows[key], dtype=np.float32)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    total = float(np.sum(arrays["train_seconds"]))
    best = int(np.argmax(arrays["test_acc"]))
    print(
        f"{args.out}: {len(order)} architectures x {epochs} epochs, {total:.0f} s of training "
        f"({total / len(order):.2f} s each); test_acc {arrays['test_acc'].min():.1f}.."
        f"{arrays['test_acc'].max():.1f} % (best {' '.join(archs[arrays['arch_id'][best]])}); "
        f"final val_acc {arrays['val_acc'][:, -1].min():.1f}..{arrays['val_acc'][:, -1].max():.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
