"""The reporter: one ``trial.report`` per epoch, validation results as user attributes.

For an epoch an earlier attempt of a retried trial already stored, the reporter keeps the stored
loss and attributes, writes nothing, and asks the pruner only at the last stored epoch (the failed
attempt may have died before hearing its answer there). A loop that restores a checkpoint starts
at :attr:`SoTLReporter.resume_step` (passing ``step=epoch``); one that trains from epoch 0 again
may do so. Importing this module does not import torch.
"""

from __future__ import annotations

import math
import warnings
import weakref

import optuna

from optuna_sotl import _attrs
from optuna_sotl._checks import check_count
from optuna_sotl.estimators import BaseEstimator
from optuna_sotl.estimators import SoTL
from optuna_sotl.estimators import SoTLE
from optuna_sotl.reporter._loss_accumulator import LossAccumulator


#: The largest step PostgreSQL and MySQL storages hold (their step column is a 32-bit integer).
MAX_STEP = 2**31 - 1


class SoTLReporterWarning(UserWarning):
    """A :class:`SoTLReporter` call whose meaning is ambiguous: a retry counted from 0.

    A retried trial inherits its failed attempt's epochs; ``end_epoch()`` without ``step=`` then
    takes the loop for one that trains from epoch 0 again and keeps the stored losses. A loop that
    restored a checkpoint must pass ``step=epoch`` instead, or its epochs would be dropped.

    Example:

        .. code-block:: python

            import warnings

            import optuna
            from optuna_sotl import SoTLReporter
            from optuna_sotl import SoTLReporterWarning

            study = optuna.create_study()
            reporter = SoTLReporter(study.ask())
            with warnings.catch_warnings():
                warnings.simplefilter("error", SoTLReporterWarning)  # never count from 0 here
                for epoch in range(reporter.resume_step, 3):
                    reporter.add(1.0 / (epoch + 1))
                    reporter.end_epoch(step=epoch)
    """


class SoTLReporter:
    """Turns per-minibatch training losses into per-epoch reports of an Optuna trial.

    Call :meth:`add` with each minibatch loss (a float, numpy scalar or one-element torch tensor
    on any device, summed there and read back once per epoch) and :meth:`end_epoch` after each
    epoch. The epoch's mean loss is reported at step = epoch index (from 0), so pruners and
    optuna-dashboard read the curve; SoTL and SoTL-E go to the user attributes ``sotl`` and
    ``sotl_e``, a validation loss or metric to ``val_loss``/``val_metric`` and the per-step lists
    ``val_loss_curve``/``val_metric_curve`` (the dashboard shows them on the trial's page). Then
    the pruner is asked, and :class:`optuna.TrialPruned` raised with the step and score when it
    says stop; a non-finite loss always prunes. A trial re-queued by
    :class:`optuna.storages.RetryHeartbeatStaleTrialCallback` with
    ``inherit_intermediate_values=True`` starts at :attr:`resume_step`; stored epochs are never
    written twice, but the validation entries a killed attempt left out are filled. Counting from
    0 on a retry (``end_epoch()`` without ``step=``) warns once with
    :class:`SoTLReporterWarning`: a loop that restored a checkpoint must pass ``step=``. One
    reporter per trial: a step this attempt already stored raises ``ValueError``.

    Example:

        .. code-block:: python

            import optuna
            from optuna_sotl import SoTLPruner
            from optuna_sotl import SoTLReporter


            def objective(trial):
                lr = trial.suggest_float("lr", 0.01, 0.5, log=True)
                reporter = SoTLReporter(trial)
                weight = 5.0
                for epoch in range(8):
                    for _ in range(10):  # minibatches
                        weight -= lr * weight
                        reporter.add(weight**2)
                    reporter.end_epoch(val_metric=1.0 / (1.0 + weight**2))
                return 1.0 / (1.0 + weight**2)


            study = optuna.create_study(direction="maximize", pruner=SoTLPruner())
            study.optimize(objective, n_trials=10)

    Args:
        trial:
            The trial being trained, from ``study.optimize`` or ``study.ask()``.
        window:
            ``E`` of the SoTL-E kept in the ``sotl_e`` user attribute (default 1).
    """

    def __init__(self, trial: optuna.trial.Trial, *, window: int = 1) -> None:
        if not isinstance(trial, optuna.trial.Trial):
            raise TypeError(f"trial must be an optuna.trial.Trial, got {type(trial).__name__}.")
        self._trial = trial
        self._sotl = SoTL()
        self._sotl_e = SoTLE(window)
        # One read of the trial: what an earlier attempt of a retried trial left (nothing for a
        # new trial) is where this reporter starts.
        stored = trial.storage.get_trial(trial._trial_id)
        self._stored = dict(stored.intermediate_values)
        self._resume_step = max(self._stored) + 1 if self._stored else 0
        # Steps this attempt stored before this reporter existed (another reporter, or
        # trial.report by hand) are not a failed attempt's: reporting there again would drop the
        # epoch, so end_epoch refuses them.
        self._inherited = _inherited_steps(trial, stored)
        self._steps_in_process = _steps_reported_in_process(trial)
        self._losses = [self._stored[s] for s in sorted(self._stored)]
        self._val_loss_curve = _stored_curve(stored, _attrs.VAL_LOSS_CURVE, self._resume_step)
        self._val_metric_curve = _stored_curve(stored, _attrs.VAL_METRIC_CURVE, self._resume_step)
        if self._resume_step:
            self._repair_scores(stored.user_attrs)
        self._last_step: int | None = None
        self._epoch = LossAccumulator()
        self._warned_restart = False

    @property
    def trial(self) -> optuna.trial.Trial:
        return self._trial

    @property
    def train_losses(self) -> list[float]:
        """The mean training loss of each stored epoch, those of an earlier attempt first."""
        return list(self._losses)

    @property
    def resume_step(self) -> int:
        """The first step not stored yet: 0 unless the trial is a retry that inherited epochs."""
        return self._resume_step

    @property
    def last_step(self) -> int | None:
        return self._last_step

    @property
    def sotl(self) -> float:
        return float(self._sotl(self._losses)) if self._losses else math.nan

    @property
    def sotl_e(self) -> float:
        return float(self._sotl_e(self._losses)) if self._losses else math.nan

    def add(self, loss: object) -> None:
        """Add one minibatch's training loss to the current epoch (no device synchronisation)."""
        self._epoch.add(loss)

    def end_epoch(
        self,
        *,
        val_loss: float | None = None,
        val_metric: float | None = None,
        step: int | None = None,
    ) -> float:
        """Report the epoch's mean training loss, record validation results, and ask the pruner.

        Args:
            val_loss:
                The validation loss after this epoch; None when not measured. Must be finite.
            val_metric:
                The validation metric (e.g. accuracy) after this epoch; None when not
                measured. Must be finite.
            step:
                The step to report at; by default the epoch index, one more than the last step.
                Must be larger than the last step. A step below :attr:`resume_step` is already
                stored: nothing is written for it.

        Returns:
            The epoch's mean training loss, as measured by this call.

        Raises:
            optuna.TrialPruned: when the pruner stops the trial or the loss is not finite.
            ValueError: when no loss was added this epoch, the step is not increasing, above
                ``2**31 - 1`` or already stored by this attempt, or a validation value is not
                finite (pass None when not measured); nothing is written to storage then.
        """
        given_step = step
        step = self._next_step(step)
        val_loss = _optional_finite("val_loss", val_loss)
        val_metric = _optional_finite("val_metric", val_metric)
        mean_loss = self._epoch.mean()
        self._check_not_reported_here(step)
        if given_step is None:
            self._warn_on_restart(step)

        already_stored = step < self._resume_step
        if not already_stored:
            self._trial.report(mean_loss, step)
            self._losses.append(mean_loss)
        self._steps_in_process.add(step)
        self._last_step = step
        self._epoch = LossAccumulator()
        if already_stored:
            # The failed attempt may have died between this epoch's report and its validation
            # entries: the retry trained the epoch again, so its entries fill the gap.
            self._fill_val_gaps(step, val_loss, val_metric)
        else:
            self._record_attrs(step, val_loss, val_metric)

        # The stored loss is the one the pruner and the other trials see.
        loss = self._stored.get(step, mean_loss)
        if not math.isfinite(loss):
            raise optuna.TrialPruned(
                f"Trial {self._trial.number} pruned at step {step}: "
                f"the training loss is {loss}."
            )
        # The earlier attempt went on past a stored step below the last: the pruner kept it there.
        if already_stored and step < self._resume_step - 1:
            return mean_loss
        if self._trial.should_prune():
            estimator = getattr(self._trial.study.pruner, "estimator", None)
            if not isinstance(estimator, BaseEstimator):
                estimator = self._sotl_e
            score = estimator(self._losses)
            raise optuna.TrialPruned(
                f"Trial {self._trial.number} pruned at step {step}: "
                f"{estimator.name} = {score:.6g}."
            )
        return mean_loss

    def _next_step(self, step: int | None) -> int:
        if step is None:
            step = 0 if self._last_step is None else self._last_step + 1
        step = check_count("step", step)
        if step > MAX_STEP:
            # PostgreSQL and MySQL store steps as 32-bit integers.
            raise ValueError(f"step must be at most {MAX_STEP} (a 32-bit integer), got {step}.")
        if self._last_step is not None and step <= self._last_step:
            raise ValueError(
                f"step must increase from epoch to epoch: got step={step} after step "
                f"{self._last_step}."
            )
        return step

    def _check_not_reported_here(self, step: int) -> None:
        stored_by_this_attempt = step in self._stored and step not in self._inherited
        if stored_by_this_attempt or step in self._steps_in_process:
            raise ValueError(
                f"step {step} of trial {self._trial.number} is already stored by this attempt "
                "(another SoTLReporter on the trial, or trial.report): this epoch would be "
                "dropped. Use one SoTLReporter per trial, or pass step= beyond the stored ones."
            )

    def _warn_on_restart(self, step: int) -> None:
        if step >= self._resume_step or self._warned_restart:
            return
        self._warned_restart = True
        warnings.warn(
            f"trial {self._trial.number} is a retry that inherited steps "
            f"0..{self._resume_step - 1}; end_epoch() without step= counts from 0, so this "
            f"epoch is taken as step {step} trained again, and its stored loss is kept. If the "
            "loop resumed from a checkpoint, pass step=epoch (from reporter.resume_step = "
            f"{self._resume_step}).",
            SoTLReporterWarning,
            stacklevel=3,
        )

    def _fill_val_gaps(
        self, step: int, val_loss: float | None, val_metric: float | None
    ) -> None:
        for value, latest_key, curve_key, curve in (
            (val_loss, _attrs.VAL_LOSS, _attrs.VAL_LOSS_CURVE, self._val_loss_curve),
            (val_metric, _attrs.VAL_METRIC, _attrs.VAL_METRIC_CURVE, self._val_metric_curve),
        ):
            if value is None or (step < len(curve) and curve[step] is not None):
                continue  # not measured, or the failed attempt's entry is kept like its loss
            curve.extend([None] * (step + 1 - len(curve)))
            curve[step] = value
            if step == len(curve) - 1:
                self._trial.set_user_attr(latest_key, value)
            self._trial.set_user_attr(curve_key, list(curve))

    def _repair_scores(self, inherited: dict[str, object]) -> None:
        # An attempt killed between an epoch's report and its user attributes left scores of the
        # epoch before; the stored losses are the record.
        for key, value in ((_attrs.SOTL, self.sotl), (_attrs.SOTL_E, self.sotl_e)):
            if inherited.get(key) != _json_float(value):
                self._trial.set_user_attr(key, _json_float(value))

    def _record_attrs(self, step: int, val_loss: float | None, val_metric: float | None) -> None:
        set_attr = self._trial.set_user_attr
        set_attr(_attrs.SOTL, _json_float(self.sotl))
        set_attr(_attrs.SOTL_E, _json_float(self.sotl_e))
        for value, latest_key, curve_key, curve in (
            (val_loss, _attrs.VAL_LOSS, _attrs.VAL_LOSS_CURVE, self._val_loss_curve),
            (val_metric, _attrs.VAL_METRIC, _attrs.VAL_METRIC_CURVE, self._val_metric_curve),
        ):
            if value is None:
                continue
            curve.extend([None] * (step - len(curve)))
            curve.append(_json_float(value))
            set_attr(latest_key, _json_float(value))
            set_attr(curve_key, list(curve))


def _stored_curve(
    stored: optuna.trial.FrozenTrial, key: str, resume_step: int
) -> list[float | None]:
    # A retry inherits every user attribute; entries past the inherited epochs are not ours.
    curve = stored.user_attrs.get(key)
    return list(curve[:resume_step]) if isinstance(curve, list) else []


def _optional_finite(name: str, value: object) -> float | None:
    if value is None:
        return None
    single = LossAccumulator()
    single.add(value, name)
    number = single.mean()
    if not math.isfinite(number):
        # Stored as JSON, a NaN would read back as None, "not measured": refuse it instead.
        raise ValueError(
            f"{name} must be finite, got {number}; pass None when it was not measured."
        )
    return number


def _inherited_steps(trial: optuna.trial.Trial, stored: optuna.trial.FrozenTrial) -> set[int]:
    """The steps a retried trial copied from its failed attempt; empty for a new trial."""
    history = stored.system_attrs.get("retry_history")
    if not history or not stored.intermediate_values:
        return set()
    storage = trial.storage
    try:
        failed_id = storage.get_trial_id_from_study_id_trial_number(
            trial.study._study_id, history[-1]
        )
        return set(storage.get_trial(failed_id).intermediate_values)
    except KeyError:  # the failed attempt was removed: take every stored step for inherited
        return set(stored.intermediate_values)


# The steps every SoTLReporter of this process reported, per trial: a second reporter on the
# same trial must not report them again.
_REPORTED_STEPS: weakref.WeakKeyDictionary[optuna.trial.Trial, set[int]] = (
    weakref.WeakKeyDictionary()
)


def _steps_reported_in_process(trial: optuna.trial.Trial) -> set[int]:
    return _REPORTED_STEPS.setdefault(trial, set())


def _json_float(value: float) -> float | None:
    # User attributes are stored as JSON, which has no NaN or inf; None marks them.
    return value if math.isfinite(value) else None
