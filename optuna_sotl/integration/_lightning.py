"""SoTL reports and pruning from PyTorch Lightning (>= 2), in one process or under DDP."""

from __future__ import annotations

import atexit
from collections.abc import Callable
from collections.abc import Mapping
import importlib
import os
from typing import Any

import optuna
import torch
import torch.distributed as dist

from optuna_sotl._checks import check_count
from optuna_sotl.integration import _trial_ref
from optuna_sotl.integration._distributed import SoTLDistributedReporter


def _import_lightning() -> Any:
    for name in ("lightning.pytorch", "pytorch_lightning"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        version = str(getattr(module, "__version__", "0"))
        if int(version.split(".")[0]) < 2:
            raise ImportError(f"SoTLLightningCallback needs Lightning >= 2, found {version}.")
        return module
    raise ImportError(
        "SoTLLightningCallback needs PyTorch Lightning >= 2: pip install 'optuna-sotl[lightning]'."
    )


# Lightning's own Callback class (of ``lightning`` if installed, else of ``pytorch_lightning``);
# the trainer of either calls the hooks by name.
_Callback: Any = _import_lightning().Callback


# The trial rank 0 prunes is marked in storage, for the launching process of ddp_spawn, whose own
# callback object never runs (the ranks are spawned copies of it).
PRUNED_ATTR = "optuna_sotl:pruned"

# True on rank 0 once Lightning's ddp strategy has re-launched this script for the other ranks:
# they wait in follow_rank_zero() for each next trial.
_followers = False


class SoTLLightningCallback(_Callback):
    """Reports a trial's SoTL from PyTorch Lightning: every rank's losses, rank 0 writes.

    After each training epoch the mean of the minibatch losses of **all** ranks (sums and counts
    all-reduced once per epoch) is reported at step = epoch index, with the user attributes of
    :class:`~optuna_sotl.SoTLReporter` and the ``monitor`` value of the same epoch's validation
    (to ``val_loss`` if its name has ``loss`` in it, else to ``val_metric``). The loss is what
    ``training_step`` returns (a tensor or a dict's ``"loss"``). When the pruner says stop, every
    rank sets ``trainer.should_stop``; after ``fit``, :meth:`check_pruned` raises
    :class:`optuna.TrialPruned`. Works in one process, with ``ddp_spawn`` (ranks get the trial by
    pickle) and with ``ddp`` (start the script with :func:`follow_rank_zero`). Multi-process
    training needs a storage processes share; suggest every parameter before creating the
    callback, and create one per ``fit``. See the README's "Lightning, DDP and Hugging Face".

    Example:

        .. code-block:: python

            def objective(trial):
                model = Net(trial.suggest_float("lr", 1e-3, 1e-1, log=True))
                callback = SoTLLightningCallback(trial, monitor="val_acc")
                trainer = L.Trainer(max_epochs=10, callbacks=[callback], strategy="ddp", devices=2)
                trainer.fit(model, datamodule)
                callback.check_pruned()
                return trainer.callback_metrics["val_acc"].item()

            if __name__ == "__main__":
                if not follow_rank_zero(objective):  # ranks > 0 under ddp train, then stop here
                    study = optuna.create_study(storage="sqlite:///s.db", pruner=SoTLPruner())
                    study.optimize(objective, n_trials=20)

    Args:
        trial: The trial being trained.
        monitor: A validation value logged with ``self.log`` to record per epoch, or ``None``.
        window: ``E`` of the SoTL-E kept in the ``sotl_e`` user attribute (default 1).
    """

    def __init__(self, trial: optuna.trial.Trial, monitor: str | None = None, *, window: int = 1):
        if not isinstance(trial, optuna.trial.Trial):
            raise TypeError(f"trial must be an optuna.trial.Trial, got {type(trial).__name__}.")
        if monitor is not None and not isinstance(monitor, str):
            raise TypeError(f"monitor must be a str or None, got {monitor!r}.")
        self._trial = trial
        self._monitor = monitor
        self._window = check_count("window", window, minimum=1)
        self._reporter: SoTLDistributedReporter | None = None
        self._validation: tuple[int, float] | None = None
        self._pruned_message: str | None = None
        self._ran_here = False
        # Ranks that Lightning's ddp launches from this process inherit the environment; ranks
        # launched by an earlier fit wait in follow_rank_zero() for this trial.
        _trial_ref.export(trial)
        _send_to_followers(trial)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(trial={self._trial.number}, monitor={self._monitor!r}, "
            f"window={self._window})"
        )

    def __getstate__(self) -> dict[str, Any]:
        # Pickled for ddp_spawn: the spawned rank 0 must write to the same storage.
        _trial_ref.check_shared_storage(self._trial)
        return self.__dict__.copy()

    @property
    def pruned_message(self) -> str | None:
        return self._pruned_message

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage != "fit":
            return
        global _followers
        self._ran_here = True
        self._pruned_message = None
        self._validation = None
        if trainer.world_size > 1:
            _trial_ref.check_shared_storage(self._trial)
        launcher = getattr(trainer.strategy, "launcher", None)
        if trainer.global_rank == 0 and getattr(launcher, "procs", None) and not _followers:
            # This fit re-launched the script for the other ranks: they follow from now on.
            _followers = True
            atexit.register(_release_followers)
        if _is_spawned_rank(launcher):
            _destroy_group_at_exit()
        trial = self._trial if trainer.global_rank == 0 else None
        self._reporter = SoTLDistributedReporter(trial, window=self._window)

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._reporter is None or self._pruned_message is not None:
            return
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if not isinstance(loss, torch.Tensor):
            return  # training_step returned None: Lightning skipped the batch
        if pl_module.automatic_optimization and trainer.accumulate_grad_batches > 1:
            # Lightning divided the loss by accumulate_grad_batches before handing it over.
            loss = loss.detach() * trainer.accumulate_grad_batches
        self._reporter.add(loss)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking or self._monitor is None:
            return
        value = trainer.callback_metrics.get(self._monitor)
        if value is None:
            raise ValueError(
                f"monitor={self._monitor!r} is not among the logged metrics "
                f"{sorted(trainer.callback_metrics)}; log it with "
                f"self.log({self._monitor!r}, ...)."
            )
        self._validation = (trainer.current_epoch, float(value))

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self._reporter is None or self._pruned_message is not None:
            return  # pruned but held by min_epochs: the trial's record ended at the pruned step
        epoch = trainer.current_epoch
        value = None
        if self._validation is not None and self._validation[0] == epoch:
            value = self._validation[1]
        is_loss = self._monitor is not None and "loss" in self._monitor.lower()
        try:
            _, message = self._reporter.end_epoch_decision(
                val_loss=value if is_loss else None,
                val_metric=None if is_loss else value,
                step=epoch,
            )
        except ValueError as error:
            if "no minibatch loss" not in str(error):
                raise
            raise ValueError(
                f"{error} SoTLLightningCallback reads the loss that training_step returns (a "
                "tensor or a dict with 'loss'); return it, with manual optimisation too."
            ) from None
        if message is None:
            return
        self._pruned_message = message
        trainer.should_stop = True
        if trainer.global_rank == 0:
            self._trial.storage.set_trial_system_attr(self._trial._trial_id, PRUNED_ATTR, message)

    def check_pruned(self) -> None:
        """Raise :class:`optuna.TrialPruned` if the trial was pruned; call it after ``fit``.

        Under ``ddp_spawn`` the launching process reads rank 0's decision from storage.
        """
        message = self._pruned_message
        if message is None and not self._ran_here:
            stored = self._trial.storage.get_trial(self._trial._trial_id)
            message = stored.system_attrs.get(PRUNED_ATTR)
        if message is not None:
            raise optuna.TrialPruned(message)


def follow_rank_zero(objective: Callable[[optuna.trial.Trial], Any]) -> bool:
    """On a rank Lightning's ``ddp`` re-launched, train every trial rank 0 trains; else do nothing.

    Lightning's ``ddp`` strategy runs your script again for each rank > 0. Call this first in the
    script's main block: on those ranks it calls ``objective`` with each trial that rank 0 trains
    (``optuna.TrialPruned`` is expected there and passed over), returns ``True`` when rank 0's
    process ends, and the script should then stop; on any other process it returns ``False`` at
    once. Nothing is written to storage from these ranks. The followers are released when rank
    0's process exits, so rank 0 should not start another multi-rank ``fit`` of its own after the
    study in that process.
    """
    encoded = os.environ.get(_trial_ref.TRIAL_ENV)
    local_rank = os.environ.get("LOCAL_RANK")
    if local_rank is None or local_rank == "0":
        return False
    if encoded is None:
        raise RuntimeError(
            "this process runs as a re-launched DDP rank (LOCAL_RANK is set) but rank 0 left no "
            "trial: was a SoTLLightningCallback created before trainer.fit, on a storage that "
            "processes share?"
        )
    trial: optuna.trial.Trial | None = _trial_ref.decode(encoded)
    while trial is not None:
        try:
            objective(trial)
        except optuna.TrialPruned:
            pass
        trial = _receive_from_rank_zero()
    return True


def _is_spawned_rank(launcher: Any) -> bool:
    # ddp_spawn (and ddp_fork, ddp_notebook) run fit in processes that Lightning's multiprocessing
    # launcher started for this fit alone: they end when it does. Lightning's ddp launcher (new
    # scripts, whose process group lives on across fits for follow_rank_zero) is another class.
    return type(launcher).__name__ == "_MultiProcessingLauncher"


# Whether this process destroys the default process group at its exit (registered once).
_destroy_registered = False


def _destroy_group_at_exit() -> None:
    """In a spawned rank: destroy the default process group when the process exits.

    Lightning destroys the group at exit for NCCL only, so a spawned gloo rank ended with the
    group's worker threads, gloo's TCP loop and (on rank 0) the TCPStore server still running
    into the interpreter's shutdown, where torch now and then aborts the process ("terminate
    called without an active exception", pytorch/pytorch#190489) and Lightning fails the trial.
    Destroyed by an exit handler, after Lightning's last hook and while Python is still whole,
    they stop in order. Spawned ranks exist for one fit, so nothing needs the group afterwards.
    """
    global _destroy_registered
    if not _destroy_registered:
        _destroy_registered = True
        atexit.register(_destroy_default_group)


def _destroy_default_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _send_to_followers(trial: optuna.trial.Trial) -> None:
    if not (_followers and dist.is_initialized() and dist.get_rank() == 0):
        return
    dist.broadcast_object_list([_trial_ref.encode(trial)], src=0)


def _receive_from_rank_zero() -> optuna.trial.Trial | None:
    if not dist.is_initialized():
        return None  # the objective did not train: rank 0 cannot reach this rank anyway
    box: list[str | None] = [None]
    dist.broadcast_object_list(box, src=0)
    return None if box[0] is None else _trial_ref.decode(box[0])


def _release_followers() -> None:
    # At the exit of rank 0's process: the re-launched ranks stop waiting for a next trial.
    if not dist.is_initialized():
        return
    try:
        dist.broadcast_object_list([None], src=0)
    except Exception:  # noqa: BLE001 - a rank that is gone already needs no release
        pass


__all__ = ["SoTLLightningCallback", "follow_rank_zero"]
