"""Estimators: a learning curve in, a lower-is-better score out (pure numpy)."""

from optuna_sotl.estimators._base import BaseEstimator
from optuna_sotl.estimators._sotl import SoTL
from optuna_sotl.estimators._sotl_e import SoTLE
from optuna_sotl.estimators._sotl_ema import SoTLEMA
from optuna_sotl.estimators._sovl import SoVL
from optuna_sotl.estimators._validation_metric import ValidationMetric


__all__ = ["BaseEstimator", "SoTL", "SoTLE", "SoTLEMA", "SoVL", "ValidationMetric"]
