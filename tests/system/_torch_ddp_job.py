"""A study trained by a plain torch DDP loop with SoTLDistributedReporter; run by the tests.

``python tests/system/_torch_ddp_job.py WORLD_SIZE N_TRIALS OUT_DIR MODE URL STUDY [...]``

The studies are run in turn by one launch of the ranks. MODE is ``plain`` (rank 0 passes its
trial, the other ranks ``None``) or ``tdt`` (every rank passes optuna-integration's
TorchDistributedTrial). Trial 1 is pruned at step 1 by a
deterministic pruner. Each rank writes its minibatch losses to
``OUT_DIR/losses-<study>-<trial>-<rank>.json``; the ranks use gloo with a 60 s timeout, so that a
rank left waiting fails instead of hanging.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import sys
import time

import optuna
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.data import DistributedSampler
from torch.utils.data import TensorDataset

from optuna_sotl.integration import SoTLDistributedReporter


EPOCHS = 3
PRUNED_TRIAL, PRUNED_STEP = 1, 1


class PruneOneTrial(optuna.pruners.BasePruner):
    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return trial.number == PRUNED_TRIAL and trial.last_step == PRUNED_STEP


def objective(trial: object, rank: int, out_dir: str, study_name: str, number: int) -> float:
    if trial is None or isinstance(trial, optuna.trial.Trial):
        # Without TorchDistributedTrial, rank 0 suggests and shares the parameters itself.
        box = [trial.suggest_float("lr", 0.01, 0.1, log=True) if rank == 0 else None]
        dist.broadcast_object_list(box, src=0)
        lr = box[0]
    else:
        lr = trial.suggest_float("lr", 0.01, 0.1, log=True)  # collective
    torch.manual_seed(number)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=generator)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    sampler = DistributedSampler(TensorDataset(x, y), shuffle=True, seed=number)
    loader = DataLoader(TensorDataset(x, y), batch_size=8, sampler=sampler)
    model = DistributedDataParallel(torch.nn.Linear(4, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    reporter = SoTLDistributedReporter(trial)
    losses: dict[int, list[float]] = {}
    path = pathlib.Path(out_dir) / f"losses-{study_name}-{number}-{rank}.json"
    try:
        for epoch in range(EPOCHS):
            sampler.set_epoch(epoch)
            for xb, yb in loader:
                loss = torch.nn.functional.mse_loss(model(xb), yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.setdefault(epoch, []).append(loss.item())
                reporter.add(loss)
            reporter.end_epoch(val_loss=loss.item())
    finally:
        path.write_text(json.dumps(losses))
    return loss.item()


def run(rank: int, world_size: int, n_trials: int, out_dir: str, studies: list) -> None:
    torch.set_num_threads(1)  # one rank per core: more threads only contend
    dist.init_process_group(
        "gloo",
        init_method=f"file://{os.path.join(out_dir, 'rendezvous')}",
        rank=rank,
        world_size=world_size,
        timeout=datetime.timedelta(seconds=60),
    )
    for mode, url, study_name in studies:
        if mode == "tdt":
            from optuna_integration import TorchDistributedTrial
        if rank == 0:
            study = optuna.load_study(study_name=study_name, storage=url, pruner=PruneOneTrial())

            def rank_zero_objective(
                trial: optuna.trial.Trial, mode: str = mode, study_name: str = study_name
            ) -> float:
                wrapped = TorchDistributedTrial(trial) if mode == "tdt" else trial
                return objective(wrapped, 0, out_dir, study_name, trial.number)

            study.optimize(rank_zero_objective, n_trials=n_trials)
        else:
            for number in range(n_trials):
                trial = TorchDistributedTrial(None) if mode == "tdt" else None
                try:
                    objective(trial, rank, out_dir, study_name, number)
                except optuna.TrialPruned:
                    pass
    dist.barrier()
    dist.destroy_process_group()
    _wait_for_every_rank_to_destroy(rank, world_size, out_dir)


def _wait_for_every_rank_to_destroy(rank: int, world_size: int, out_dir: str) -> None:
    # A rank that exits while a peer is still tearing down its gloo pairs closes their sockets
    # under the peer's threads, which once aborted it ("terminate called without an active
    # exception"). The process group is gone, so the ranks meet through files instead.
    folder = pathlib.Path(out_dir)
    (folder / f"destroyed-{rank}").touch()
    deadline = time.monotonic() + 60.0
    while not all((folder / f"destroyed-{r}").exists() for r in range(world_size)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"rank {rank}: not every rank destroyed its process group")
        time.sleep(0.05)


def main() -> None:
    world_size, n_trials, out_dir = sys.argv[1:4]
    studies = list(zip(sys.argv[4::3], sys.argv[5::3], sys.argv[6::3]))
    args = (int(world_size), int(n_trials), out_dir, studies)
    mp.spawn(run, args=args, nprocs=int(world_size))
    (pathlib.Path(out_dir) / "done").write_text("ok")


if __name__ == "__main__":
    main()
