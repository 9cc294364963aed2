"""The ``estimator`` argument of the samplers: checked the way :class:`SoTLPruner` checks it."""

from __future__ import annotations

from optuna_sotl._self_calibrating import SelfCalibratingEstimator
from optuna_sotl.estimators import BaseEstimator
from optuna_sotl.estimators import SoTLE


def loss_estimator(estimator: object) -> BaseEstimator:
    """``estimator``, or ``SoTLE(1)`` for ``None``; it must read the training-loss curve.

    The samplers score the intermediate values a trial reported, which are training losses when
    reported with :class:`~optuna_sotl.SoTLReporter`; an estimator of a validation curve would
    read them as something they are not.
    """
    if estimator is None:
        return SoTLE(1)
    if not isinstance(estimator, BaseEstimator):
        raise TypeError(
            f"estimator must be an optuna_sotl estimator such as SoTLE(1), got {estimator!r}."
        )
    if estimator.curve != "train_loss":
        raise ValueError(
            f"estimator must read the training-loss curve the trials report, got {estimator!r} "
            f"which reads {estimator.curve!r}."
        )
    return estimator


def pruning_estimator(estimator: object) -> BaseEstimator | SelfCalibratingEstimator:
    """For the pruners: a training-loss estimator as :func:`loss_estimator` accepts, or a
    :class:`~optuna_sotl.SelfCalibratingEstimator`, which scores all compared trials at once."""
    if isinstance(estimator, SelfCalibratingEstimator):
        return estimator
    return loss_estimator(estimator)
