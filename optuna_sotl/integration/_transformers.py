"""SoTL reports and pruning from the Hugging Face ``transformers.Trainer``."""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

import optuna
import torch

from optuna_sotl._checks import check_count
from optuna_sotl.integration._distributed import SoTLDistributedReporter


try:
    import transformers
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "SoTLTrainerCallback needs transformers: pip install 'optuna-sotl[transformers]'."
    ) from error


class SoTLTrainerCallback(transformers.TrainerCallback):
    """Reports a trial's SoTL from ``transformers.Trainer`` and prunes through the trainer's flag.

    The loss of each optimisation step is the one the trainer computes and backpropagates (what
    ``Trainer.training_step`` returns, summed over gradient-accumulation micro-batches), not the
    smoothed ``loss`` of the logs. Each epoch's mean over the steps (over all processes when the
    trainer runs distributed) is reported at step = epoch index with the user attributes of
    :class:`~optuna_sotl.SoTLReporter`, together with the epoch's ``on_evaluate``: ``eval_loss``
    as ``val_loss`` and ``monitor`` (by default ``metric_for_best_model``) as ``val_metric``.
    When the pruner says stop, ``control.should_training_stop`` ends training after the epoch,
    and ``train`` raises :class:`optuna.TrialPruned` at its end (in ``on_train_end``).

    Example:

        .. code-block:: python

            def objective(trial):
                args = TrainingArguments("out", num_train_epochs=5, eval_strategy="epoch",
                                         learning_rate=trial.suggest_float("lr", 1e-4, 1e-2))
                trainer = Trainer(model=model, args=args, train_dataset=train,
                                  eval_dataset=val, callbacks=[SoTLTrainerCallback(trial)])
                trainer.train()  # raises optuna.TrialPruned when pruned
                return trainer.evaluate()["eval_loss"]

    Args:
        trial: The trial being trained (on the main process; ignored on the others).
        monitor: An evaluation metric (``"accuracy"`` or ``"eval_accuracy"``) to record as
            ``val_metric``; by default the trainer's ``metric_for_best_model`` unless it is a loss.
        window: ``E`` of the SoTL-E kept in the ``sotl_e`` user attribute (default 1).
    """

    def __init__(self, trial: Any, monitor: str | None = None, *, window: int = 1) -> None:
        if monitor is not None and not isinstance(monitor, str):
            raise TypeError(f"monitor must be a str or None, got {monitor!r}.")
        self._trial = trial
        self._monitor = monitor
        self._window = check_count("window", window, minimum=1)
        self._reporter: SoTLDistributedReporter | None = None
        self._trainer: Any = None
        self._step_loss: Any = None
        self._epoch = 0
        self._waiting_for_evaluation = False
        self._metrics: dict[str, float] | None = None
        self._pruned_message: str | None = None

    def __repr__(self) -> str:
        number = getattr(self._trial, "number", None)
        return f"{type(self).__name__}(trial={number}, monitor={self._monitor!r})"

    @property
    def pruned_message(self) -> str | None:
        return self._pruned_message

    def check_pruned(self) -> None:
        """Raise :class:`optuna.TrialPruned` if the trial was pruned (``train`` already does)."""
        if self._pruned_message is not None:
            raise optuna.TrialPruned(self._pruned_message)

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._pruned_message = None
        self._trainer = _find_trainer(self)
        # The trainer's own training_step, wrapped on this instance only: its return value is
        # the loss it backpropagates, which no callback hook receives.
        original = type(self._trainer).training_step.__get__(self._trainer)

        def training_step(*step_args: Any, **step_kwargs: Any) -> Any:
            loss = original(*step_args, **step_kwargs)
            if isinstance(loss, torch.Tensor):
                loss = loss.detach()
                self._step_loss = loss if self._step_loss is None else self._step_loss + loss
            return loss

        self._trainer.training_step = training_step
        trial = self._trial if state.is_world_process_zero else None
        self._reporter = SoTLDistributedReporter(trial, window=self._window)

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._flush(control)  # an epoch whose evaluation never came
        self._epoch = round(state.epoch or 0.0)
        self._metrics = None

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._step_loss is not None and self._reporter is not None:
            self._reporter.add(self._step_loss)
        self._step_loss = None

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._waiting_for_evaluation = True
        if str(getattr(args.eval_strategy, "value", args.eval_strategy)) != "epoch":
            self._flush(control)

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: dict | None = None, **kwargs: Any
    ) -> None:
        self._metrics = dict(metrics or {})
        self._flush(control)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._flush(control)
        if self._trainer is not None:
            self._trainer.__dict__.pop("training_step", None)
            self._trainer = None
        self.check_pruned()

    def _flush(self, control: Any) -> None:
        if not self._waiting_for_evaluation or self._reporter is None:
            return
        self._waiting_for_evaluation = False
        if self._pruned_message is not None:
            return
        val_loss, val_metric = self._validation()
        _, message = self._reporter.end_epoch_decision(
            val_loss=val_loss, val_metric=val_metric, step=self._epoch
        )
        if message is not None:
            self._pruned_message = message
            control.should_training_stop = True

    def _validation(self) -> tuple[float | None, float | None]:
        if not self._metrics:
            return None, None
        val_loss = self._metrics.get("eval_loss")
        monitor = self._monitor
        if monitor is None and self._trainer is not None:
            monitor = self._trainer.args.metric_for_best_model
            if monitor is not None and "loss" in monitor:
                monitor = None
        val_metric = None
        if monitor is not None:
            key = monitor if monitor.startswith("eval_") else f"eval_{monitor}"
            if key not in self._metrics:
                raise ValueError(
                    f"monitor={monitor!r} is not among the evaluation metrics "
                    f"{sorted(self._metrics)}."
                )
            val_metric = self._metrics[key]
        return val_loss, val_metric


def _find_trainer(callback: SoTLTrainerCallback) -> Any:
    # Callback hooks do not receive the trainer; the frame that called on_train_begin belongs to
    # the Trainer whose callback handler holds this callback.
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, transformers.Trainer) and any(
            cb is callback for cb in candidate.callback_handler.callbacks
        ):
            return candidate
        frame = frame.f_back
    raise RuntimeError(
        "SoTLTrainerCallback must be called by a transformers.Trainer that holds it: pass it "
        "in Trainer(callbacks=[...]) or trainer.add_callback(...)."
    )
