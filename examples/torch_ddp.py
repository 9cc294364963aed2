"""Search MLPs on scikit-learn's 8x8 digits with a plain torch DDP loop on 2 CPU ranks (gloo).

Run it with ``python examples/torch_ddp.py`` (about a minute on two CPU cores; nothing is
downloaded). ``--tdt`` uses optuna-integration's ``TorchDistributedTrial`` instead of sharing
the parameters by hand.

Rank 0 runs ``study.optimize``; rank 1 runs the objective as many times with ``trial=None``.
Each rank hands its own minibatch losses to ``SoTLDistributedReporter``; at each epoch's end the
reporter all-reduces the sums and counts once, rank 0 reports the mean over both ranks and asks
``SoTLPruner``, and the decision is broadcast: when pruned, ``end_epoch`` raises
``optuna.TrialPruned`` on both ranks, rank 0's trial ends PRUNED and rank 1 goes on to the next.
"""

from __future__ import annotations

import argparse
import datetime
import os
import tempfile

import optuna
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn import functional
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.data import DistributedSampler
from torch.utils.data import TensorDataset

from optuna_sotl import SoTLPruner
from optuna_sotl.integration import SoTLDistributedReporter


EPOCHS = 5


def suggest(trial: object, use_tdt: bool) -> dict:
    if use_tdt:
        # TorchDistributedTrial: every rank calls suggest_*, rank 0's values are broadcast.
        return {
            "hidden": trial.suggest_categorical("hidden", [16, 32, 64]),
            "lr": trial.suggest_float("lr", 1e-3, 0.3, log=True),
        }
    box = [None]
    if dist.get_rank() == 0:
        box = [
            {
                "hidden": trial.suggest_categorical("hidden", [16, 32, 64]),
                "lr": trial.suggest_float("lr", 1e-3, 0.3, log=True),
            }
        ]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def objective(trial: object, use_tdt: bool, data: tuple, seed: int) -> float:
    params = suggest(trial, use_tdt)
    torch.manual_seed(seed)
    x_train, y_train, x_val, y_val = data
    train = TensorDataset(x_train, y_train)
    sampler = DistributedSampler(train, shuffle=True, seed=seed)  # each rank: half the data
    loader = DataLoader(train, batch_size=64, sampler=sampler)
    hidden = params["hidden"]
    net = torch.nn.Sequential(
        torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10)
    )
    model = DistributedDataParallel(net)
    optimizer = torch.optim.SGD(model.parameters(), lr=params["lr"], momentum=0.9)
    reporter = SoTLDistributedReporter(trial)  # on every rank; rank 0 writes to storage
    for epoch in range(EPOCHS):
        sampler.set_epoch(epoch)
        model.train()
        for xb, yb in loader:
            loss = functional.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            reporter.add(loss)  # summed locally, no communication
        with torch.no_grad():
            accuracy = (net(x_val).argmax(dim=1) == y_val).float().mean().item()
        reporter.end_epoch(val_metric=accuracy)  # raises optuna.TrialPruned on every rank
    return accuracy


def run(rank: int, world_size: int, storage: str, n_trials: int, use_tdt: bool, rdv: str) -> None:
    torch.set_num_threads(1)  # one rank per core: more threads only contend
    dist.init_process_group(
        "gloo",
        init_method=f"file://{rdv}",
        rank=rank,
        world_size=world_size,
        timeout=datetime.timedelta(minutes=2),
    )
    images, labels = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        images / 16.0, labels, test_size=0.3, random_state=0, stratify=labels
    )
    data = (
        torch.tensor(x_train, dtype=torch.float32),
        torch.tensor(y_train),
        torch.tensor(x_val, dtype=torch.float32),
        torch.tensor(y_val),
    )
    if use_tdt:
        from optuna_integration import TorchDistributedTrial
    if rank == 0:
        study = optuna.create_study(
            direction="maximize", storage=storage, pruner=SoTLPruner(n_startup_trials=3)
        )

        def rank_zero_objective(trial: optuna.trial.Trial) -> float:
            wrapped = TorchDistributedTrial(trial) if use_tdt else trial
            return objective(wrapped, use_tdt, data, trial.number)

        study.optimize(rank_zero_objective, n_trials=n_trials)
        for trial in study.trials:
            losses = ", ".join(f"{v:.3f}" for v in trial.intermediate_values.values())
            print(f"trial {trial.number}: {trial.state.name:8} train loss per epoch [{losses}]")
    else:
        for number in range(n_trials):
            try:
                objective(TorchDistributedTrial(None) if use_tdt else None, use_tdt, data, number)
            except optuna.TrialPruned:
                pass
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--tdt", action="store_true", help="use optuna-integration's trial")
    parser.add_argument("--storage", default=None, help="default: a SQLite file in a temp dir")
    args = parser.parse_args()
    work_dir = tempfile.mkdtemp()
    storage = args.storage or "sqlite:///" + os.path.join(work_dir, "ddp.db")
    rendezvous = os.path.join(work_dir, "rendezvous")
    mp.spawn(run, args=(2, storage, args.trials, args.tdt, rendezvous), nprocs=2)


if __name__ == "__main__":
    main()
