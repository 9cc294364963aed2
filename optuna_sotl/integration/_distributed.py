"""SoTL reports from a data-parallel training loop: one reduction and one broadcast per epoch."""

from __future__ import annotations

from typing import Any

import optuna
import torch
import torch.distributed as dist

from optuna_sotl.reporter._loss_accumulator import LossAccumulator
from optuna_sotl.reporter._reporter import SoTLReporter


# What rank 0 broadcasts after each epoch: the outcome and its message.
_GO_ON = "go-on"
_PRUNED = "pruned"
_FAILED = "failed"


class SoTLDistributedReporter:
    """:class:`~optuna_sotl.SoTLReporter` for a training loop run by every rank of a process group.

    Every rank calls :meth:`add` with its own minibatch losses (summed locally, no communication)
    and :meth:`end_epoch` after each epoch, where the ranks' sums and counts are all-reduced once:
    the epoch's mean is over **all** ranks' minibatches. Rank 0 alone hands it to a
    :class:`~optuna_sotl.SoTLReporter` on the trial (storage writes, user attributes, the
    pruner's question) and broadcasts the outcome; when pruned, :meth:`end_epoch` raises
    :class:`optuna.TrialPruned` on **every** rank. Pass the trial on rank 0 and ``None`` elsewhere,
    or optuna-integration's ``TorchDistributedTrial`` on every rank (rank 0's trial is taken from
    it). Validation values are read on rank 0. Construct it and call :meth:`end_epoch` on every
    rank (both communicate); without a process group it is a plain reporter, as below.
    ``examples/torch_ddp.py`` runs it on 2 ranks.

    Example:

        .. code-block:: python

            import optuna
            import torch
            from optuna_sotl import SoTLPruner
            from optuna_sotl.integration import SoTLDistributedReporter


            def objective(trial):  # under DDP: ranks > 0 pass None and catch TrialPruned
                lr = trial.suggest_float("lr", 0.01, 0.5, log=True)
                reporter = SoTLDistributedReporter(trial)
                weight = torch.tensor(5.0)
                for epoch in range(6):
                    for _ in range(10):  # this rank's minibatches
                        weight = weight - lr * weight
                        reporter.add(weight**2)
                    reporter.end_epoch()  # one all-reduce; raises TrialPruned on every rank
                return float(weight**2)


            study = optuna.create_study(pruner=SoTLPruner(n_startup_trials=2))
            study.optimize(objective, n_trials=5)

    Args:
        trial:
            The trial, on rank 0 (an :class:`optuna.trial.Trial` or a ``TorchDistributedTrial``).
        window:
            ``E`` of the SoTL-E kept in the ``sotl_e`` user attribute (default 1).
        group:
            The process group; the default group by default.
    """

    def __init__(self, trial: Any, *, window: int = 1, group: Any = None) -> None:
        self._group = group
        distributed = dist.is_available() and dist.is_initialized()
        self._rank = dist.get_rank(group) if distributed else 0
        self._world_size = dist.get_world_size(group) if distributed else 1
        self._distributed = distributed and self._world_size > 1
        self._device = _collective_device(group) if self._distributed else torch.device("cpu")
        self._epoch = LossAccumulator()
        self._last_step: int | None = None
        self._pruned_message: str | None = None
        self._reporter: SoTLReporter | None = None
        outcome: tuple[str, Any] = (_GO_ON, 0)
        if self._rank == 0:
            try:
                self._reporter = SoTLReporter(_own_trial(trial), window=window)
                outcome = (_GO_ON, self._reporter.resume_step)
            except Exception as error:  # noqa: BLE001 - the other ranks must hear of it
                self._raise_after_broadcast((_FAILED, f"{type(error).__name__}: {error}"), error)
        status, payload = self._broadcast(outcome)
        if status == _FAILED:
            raise RuntimeError(f"SoTLDistributedReporter failed on rank 0: {payload}")
        self._resume_step = int(payload)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(rank={self._rank}, world_size={self._world_size}, "
            f"last_step={self._last_step})"
        )

    @property
    def rank(self) -> int:
        return self._rank

    @property
    def world_size(self) -> int:
        return self._world_size

    @property
    def resume_step(self) -> int:
        """The first step not stored yet (see :attr:`optuna_sotl.SoTLReporter.resume_step`)."""
        return self._resume_step

    @property
    def last_step(self) -> int | None:
        return self._last_step

    @property
    def pruned_message(self) -> str | None:
        """Why the trial was pruned, on every rank; ``None`` while it is not."""
        return self._pruned_message

    @property
    def reporter(self) -> SoTLReporter | None:
        """Rank 0's :class:`~optuna_sotl.SoTLReporter`; ``None`` on the other ranks."""
        return self._reporter

    def add(self, loss: object) -> None:
        """Add this rank's minibatch loss to the epoch (no communication, no device sync)."""
        if (
            isinstance(loss, torch.Tensor)
            and loss.dtype.is_floating_point
            and loss.device.type != "mps"
        ):
            # Summed in float64 so that the epoch's mean does not depend on the summation order.
            loss = loss.detach().to(torch.float64)
        self._epoch.add(loss)

    def end_epoch(
        self,
        *,
        val_loss: float | None = None,
        val_metric: float | None = None,
        step: int | None = None,
    ) -> float:
        """Reduce the epoch's losses over all ranks, report on rank 0 and share the decision.

        Arguments are those of :meth:`optuna_sotl.SoTLReporter.end_epoch` and are read on rank 0.

        Returns:
            The mean training loss of the epoch over all ranks' minibatches (on every rank).

        Raises:
            optuna.TrialPruned: on every rank, when the pruner stops the trial.
            RuntimeError: on ranks > 0 when rank 0's report failed (rank 0 raises the error).
        """
        mean, message = self.end_epoch_decision(
            val_loss=val_loss, val_metric=val_metric, step=step
        )
        if message is not None:
            raise optuna.TrialPruned(message)
        return mean

    def end_epoch_decision(
        self,
        *,
        val_loss: float | None = None,
        val_metric: float | None = None,
        step: int | None = None,
    ) -> tuple[float, str | None]:
        """As :meth:`end_epoch`, but returns ``(mean, pruned message or None)`` instead of raising.

        For training frameworks that stop through a flag (``trainer.should_stop``) rather than an
        exception.
        """
        total, count = self._reduce()
        self._epoch = LossAccumulator()
        if count == 0:
            raise ValueError("no minibatch loss was added on any rank, so the epoch has no mean.")
        mean = total / count
        outcome: tuple[str, Any] = (_GO_ON, None)
        if self._rank == 0:
            assert self._reporter is not None
            try:
                self._reporter.add(mean)
                self._reporter.end_epoch(val_loss=val_loss, val_metric=val_metric, step=step)
            except optuna.TrialPruned as pruned:
                outcome = (_PRUNED, str(pruned))
            except Exception as error:  # noqa: BLE001 - the other ranks must hear of it
                failed = (_FAILED, (f"{type(error).__name__}: {error}", None))
                self._raise_after_broadcast(failed, error)
            outcome = (outcome[0], (outcome[1], self._reporter.last_step))
        status, (message, last_step) = self._broadcast(outcome)
        if status == _FAILED:
            raise RuntimeError(f"SoTLDistributedReporter.end_epoch failed on rank 0: {message}")
        self._last_step = last_step
        if status == _PRUNED:
            self._pruned_message = message
            return mean, message
        return mean, None

    def _reduce(self) -> tuple[float, int]:
        count = self._epoch.count
        total = self._epoch.mean() * count if count else 0.0
        if not self._distributed:
            return total, count
        # One collective per epoch: the sum and the count travel together, in float64 (exact for
        # counts below 2**53).
        buffer = torch.tensor([total, float(count)], dtype=torch.float64, device=self._device)
        dist.all_reduce(buffer, op=dist.ReduceOp.SUM, group=self._group)
        total, count_float = buffer.tolist()
        return total, round(count_float)

    def _broadcast(self, outcome: tuple[str, Any]) -> tuple[str, Any]:
        if not self._distributed:
            return outcome
        box = [outcome]
        src = dist.get_global_rank(self._group, 0) if self._group is not None else 0
        dist.broadcast_object_list(box, src=src, group=self._group, device=self._device)
        return box[0]

    def _raise_after_broadcast(self, outcome: tuple[str, Any], error: Exception) -> None:
        # Rank 0 tells the others before raising, so that no rank waits for it forever.
        self._broadcast(outcome)
        raise error


def _own_trial(trial: Any) -> optuna.trial.Trial:
    # optuna-integration's TorchDistributedTrial wraps rank 0's trial; its methods are collective,
    # so rank 0 talks to the wrapped trial directly and the other ranks never touch it.
    delegate = getattr(trial, "_delegate", None)
    if type(trial).__name__ == "TorchDistributedTrial" and delegate is not None:
        return delegate
    if not isinstance(trial, optuna.trial.Trial):
        raise TypeError(
            "trial must be an optuna.trial.Trial (or a TorchDistributedTrial) on rank 0, "
            f"got {type(trial).__name__}."
        )
    return trial


def _collective_device(group: Any) -> torch.device:
    # NCCL moves CUDA tensors only; gloo and the others take CPU tensors.
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
