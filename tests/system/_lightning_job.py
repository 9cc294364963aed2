"""A study trained with PyTorch Lightning and SoTLLightningCallback; run by test_integrations.py.

``python tests/system/_lightning_job.py STRATEGY DEVICES N_TRIALS OUT_DIR URL STUDY [...] [pl]``

N_TRIALS trials of a tiny regression on local random data, in each study in turn (one launch of
the ranks serves them all). Trial 1 is pruned at step 1 by a deterministic pruner; the others
train every epoch. Each rank writes the loss of each of its minibatches to
``OUT_DIR/losses-<study>-<trial>-<rank>.json``, from which the test computes the expected epoch
means. A rank that Lightning spawned (``ddp_spawn``) writes, at the very end of its exit, whether
its process group was still initialised and the names of its native threads to
``OUT_DIR/exit-<pid>.json``. ``pl`` as last argument imports the old name ``pytorch_lightning``.
"""

from __future__ import annotations

import atexit
import datetime
import json
import os
import pathlib
import sys

import optuna
import torch
from torch.utils.data import DataLoader
from torch.utils.data import TensorDataset


if "pl" in sys.argv[1:]:
    import pytorch_lightning as L
else:
    import lightning.pytorch as L

from optuna_sotl.integration import follow_rank_zero
from optuna_sotl.integration import SoTLLightningCallback


EPOCHS = 3
PRUNED_TRIAL, PRUNED_STEP = 1, 1


def record_exit_state(out_dir: str) -> None:
    """In a spawned rank: what is left running when the interpreter starts to shut down.

    Registered when the spawned rank imports this script, before any fit, so that it runs after
    every exit handler registered during the fit (they run last registered, first called).
    """
    task = pathlib.Path("/proc/self/task")
    threads = [(t / "comm").read_text().strip() for t in task.iterdir()] if task.is_dir() else []
    state = {"initialized": torch.distributed.is_initialized(), "threads": threads}
    (pathlib.Path(out_dir) / f"exit-{os.getpid()}.json").write_text(json.dumps(state))


class PruneOneTrial(optuna.pruners.BasePruner):
    """Prunes trial 1 at step 1, nothing else: the test knows what to expect."""

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return trial.number == PRUNED_TRIAL and trial.last_step == PRUNED_STEP


class Regression(L.LightningModule):
    def __init__(self, lr: float, out_path: str) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
        self.lr = lr
        self.out_path = out_path
        self.losses: dict[int, list[float]] = {}

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.losses.setdefault(self.current_epoch, []).append(loss.item())
        return loss

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("val_loss", loss, sync_dist=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.lr)

    def on_fit_end(self) -> None:
        pathlib.Path(f"{self.out_path}-{self.global_rank}.json").write_text(
            json.dumps(self.losses)
        )


def loaders() -> tuple[DataLoader, DataLoader]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(96, 4, generator=generator)
    noise = 0.1 * torch.randn(96, 1, generator=generator)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + noise
    train = DataLoader(TensorDataset(x[:64], y[:64]), batch_size=8, shuffle=True)
    val = DataLoader(TensorDataset(x[64:], y[64:]), batch_size=16)
    return train, val


def make_strategy(name: str) -> object:
    # A 60 s process-group timeout: a rank left waiting fails instead of hanging.
    if name not in ("ddp", "ddp_spawn"):
        return name
    start_method = "spawn" if name == "ddp_spawn" else "popen"
    return L.strategies.DDPStrategy(
        start_method=start_method, timeout=datetime.timedelta(seconds=60)
    )


def run(
    strategy: str,
    devices: int,
    n_trials: int,
    out_dir: str,
    studies: list[tuple[str, str]],
    accumulate_grad_batches: int = 1,
) -> None:
    """Run the studies; ``follow_rank_zero`` makes the ranks ddp re-launches join rank 0's."""

    def objective(trial: optuna.trial.Trial) -> float:
        lr = trial.suggest_float("lr", 0.01, 0.1, log=True)
        callback = SoTLLightningCallback(trial, monitor="val_loss")
        L.seed_everything(trial.number, verbose=False)
        train, val = loaders()
        trainer = L.Trainer(
            accelerator="cpu",
            devices=int(devices),
            strategy=make_strategy(strategy),
            max_epochs=EPOCHS,
            accumulate_grad_batches=accumulate_grad_batches,
            callbacks=[callback],
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
        )
        out_path = os.path.join(out_dir, f"losses-{trial.study.study_name}-{trial.number}")
        trainer.fit(Regression(lr, out_path), train, val)
        callback.check_pruned()
        return float(trainer.callback_metrics["val_loss"])

    if follow_rank_zero(objective):
        return
    for url, study_name in studies:
        study = optuna.load_study(study_name=study_name, storage=url, pruner=PruneOneTrial())
        study.optimize(objective, n_trials=int(n_trials))
    (pathlib.Path(out_dir) / "done").write_text("ok")


def main() -> None:
    args = [arg for arg in sys.argv[1:] if arg != "pl"]
    strategy, devices, n_trials, out_dir = args[:4]
    run(strategy, int(devices), int(n_trials), out_dir, list(zip(args[4::2], args[5::2])))
    import torch.distributed as dist

    # Lightning leaves the process group up; torn down at interpreter exit, gloo's threads can
    # abort the process ("terminate called without an active exception") after the work is done.
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
elif __name__ == "__mp_main__":
    # A rank spawned by ddp_spawn: multiprocessing imports this script as __mp_main__ there
    # (with our argv).
    atexit.register(record_exit_state, [a for a in sys.argv[1:] if a != "pl"][3])
