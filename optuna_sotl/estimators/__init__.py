"""Estimators: a learning curve in, a lower-is-better score out.

One small class per module, each a :class:`BaseEstimator` over numpy curves, and
:class:`SelfCalibratingEstimator`, which blends SoTL-E with the validation metric as far as a
paired bootstrap over the study's own trials supports it.
"""

from optuna_sotl.estimators._base import BaseEstimator
from optuna_sotl.estimators._self_calibrating import SelfCalibratingEstimator
from optuna_sotl.estimators._sotl import SoTL
from optuna_sotl.estimators._sotl_e import SoTLE
from optuna_sotl.estimators._sotl_ema import SoTLEMA
from optuna_sotl.estimators._sovl import SoVL
from optuna_sotl.estimators._validation_metric import ValidationMetric


__all__ = [
    "BaseEstimator",
    "SelfCalibratingEstimator",
    "SoTL",
    "SoTLE",
    "SoTLEMA",
    "SoVL",
    "ValidationMetric",
]
