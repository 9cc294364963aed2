"""Argument checks shared by the public classes, with messages that name the argument.

One exception type per kind of mistake: a value of the wrong type raises :class:`TypeError`, a
value of the right type out of range raises :class:`ValueError`, and an estimator that reads
another curve than the training loss raises :class:`EstimatorCurveError`.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING
from typing import TypeGuard


if TYPE_CHECKING:
    from optuna_sotl.estimators import BaseEstimator
    from optuna_sotl.estimators import SelfCalibratingEstimator


class EstimatorCurveError(ValueError, TypeError):
    """An estimator of a validation curve where the training-loss curve is read.

    A :class:`ValueError` (an estimator, the wrong one); also a :class:`TypeError`, which
    ``rank_study`` and ``DashboardCallback`` raised for it before the checks were shared.
    """


def is_int(value: object) -> TypeGuard[numbers.Integral]:
    """Whether ``value`` is an integer, ``bool`` excluded (``True`` is no count of anything)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_count(name: str, value: object, minimum: int = 0, *, why: str = "") -> int:
    """``value`` as an int of at least ``minimum``; ``why`` says in the error why the minimum."""
    if not is_int(value):
        raise TypeError(f"{name} must be an int, got {value!r}.")
    number = int(value)
    if number < minimum:
        if why:
            raise ValueError(f"{name} must be at least {minimum} ({why}), got {name}={value}.")
        qualifier = "negative" if minimum == 0 else f"less than {minimum}"
        raise ValueError(f"{name} cannot be {qualifier}, got {name}={value}.")
    return number


def check_optional_count(name: str, value: object, minimum: int = 0) -> int | None:
    """``None``, or ``value`` checked by :func:`check_count`."""
    if value is None:
        return None
    if not is_int(value):
        raise TypeError(f"{name} must be an int or None, got {value!r}.")
    return check_count(name, value, minimum)


def check_count_or_auto(
    name: str, value: object, minimum: int = 1, *, why: str = ""
) -> int | None:
    """``value`` as an int of at least ``minimum``, or None for ``"auto"``."""
    if isinstance(value, str):
        if value != "auto":
            raise ValueError(
                f"{name} must be an int of at least {minimum} or 'auto', got {name}={value!r}."
            )
        return None
    if not is_int(value):
        raise TypeError(f"{name} must be an int or 'auto', got {value!r}.")
    return check_count(name, value, minimum, why=why)


def check_one_of(name: str, value: object, choices: tuple[str, ...]) -> str:
    """``value``, which must be one of the strings ``choices``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {choices}, got {value!r}.")
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {name}={value!r}.")
    return value


def check_real_in(
    name: str, value: object, low: float, high: float, *, open_interval: bool = False
) -> float:
    """``value`` as a float in ``[low, high]`` (``(low, high)`` with ``open_interval``)."""
    bounds = f"({low:g}, {high:g})" if open_interval else f"[{low:g}, {high:g}]"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a float in {bounds}, got {value!r}.")
    number = float(value)
    inside = low < number < high if open_interval else low <= number <= high
    if not inside:
        raise ValueError(f"{name} must be in {bounds}, got {name}={value}.")
    return number


def check_spare_share(spare_share: object) -> float:
    """``spare_share`` as a float in ``[0, 1)``: sparing every epoch would be no pruning."""
    share = check_real_in("spare_share", spare_share, 0.0, 1.0)
    if share == 1.0:
        raise ValueError(f"spare_share must be in [0, 1), got spare_share={spare_share}.")
    return share


def check_loss_estimator(estimator: object) -> BaseEstimator:
    """``estimator``, or ``SoTLE(1)`` for ``None``; it must read the training-loss curve.

    Pruners, samplers and the ranking read the intermediate values trials report, which are
    training losses when reported with :class:`~optuna_sotl.SoTLReporter`; an estimator of a
    validation curve would read them as something they are not.
    """
    from optuna_sotl.estimators import BaseEstimator
    from optuna_sotl.estimators import SoTLE

    if estimator is None:
        return SoTLE(1)
    if not isinstance(estimator, BaseEstimator):
        raise TypeError(
            f"estimator must be an optuna_sotl estimator such as SoTLE(1), got {estimator!r}."
        )
    if estimator.curve != "train_loss":
        raise EstimatorCurveError(
            "estimator must be a training-loss estimator such as SoTLE(1): trials report "
            f"training losses, got {estimator!r} which reads {estimator.curve!r}."
        )
    return estimator


def check_pruning_estimator(estimator: object) -> BaseEstimator | SelfCalibratingEstimator:
    """For the pruners: what :func:`check_loss_estimator` accepts, or a
    :class:`~optuna_sotl.SelfCalibratingEstimator`, which scores all compared trials at once."""
    from optuna_sotl.estimators import SelfCalibratingEstimator

    if isinstance(estimator, SelfCalibratingEstimator):
        return estimator
    return check_loss_estimator(estimator)
