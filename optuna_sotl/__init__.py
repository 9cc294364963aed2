"""Rank and prune neural architectures in Optuna by the sum of training losses (SoTL).

Three ideas stay apart: an *estimator* turns a loss curve into a lower-is-better score
(:mod:`optuna_sotl.estimators`), a *rule* turns the scores of the trials at a step into a prune
decision (:mod:`optuna_sotl.rules`), and the *reporter* moves a training loop's losses into the
trial's storage (:class:`SoTLReporter`). :class:`SoTLPruner` joins an estimator and a rule.
"""

from optuna_sotl.dashboard import DashboardCallback
from optuna_sotl.estimators import BaseEstimator
from optuna_sotl.estimators import SelfCalibratingEstimator
from optuna_sotl.estimators import SoTL
from optuna_sotl.estimators import SoTLE
from optuna_sotl.estimators import SoTLEMA
from optuna_sotl.estimators import SoVL
from optuna_sotl.estimators import ValidationMetric
from optuna_sotl.pruners import SoTLHyperbandPruner
from optuna_sotl.pruners import SoTLPruner
from optuna_sotl.pruners import SoTLSuccessiveHalvingPruner
from optuna_sotl.reporter import SoTLReporter
from optuna_sotl.reporter import SoTLReporterWarning
from optuna_sotl.rules import BaseRule
from optuna_sotl.rules import PercentileRule
from optuna_sotl.samplers import RegularizedEvolutionSampler
from optuna_sotl.samplers import SoTLSampler
from optuna_sotl.stale import fail_stale_trials


__version__ = "0.1.0"

# Framework integrations, loaded on first access so that importing optuna_sotl imports neither
# torch, Lightning nor transformers (see optuna_sotl.integration). They stay out of __all__:
# ``from optuna_sotl import *`` must work without those frameworks.
_INTEGRATION_NAMES = (
    "SoTLDistributedReporter",
    "SoTLLightningCallback",
    "SoTLTrainerCallback",
    "follow_rank_zero",
)


def __getattr__(name: str) -> object:
    if name in _INTEGRATION_NAMES:
        from optuna_sotl import integration

        return getattr(integration, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BaseEstimator",
    "BaseRule",
    "DashboardCallback",
    "PercentileRule",
    "RegularizedEvolutionSampler",
    "SelfCalibratingEstimator",
    "SoTL",
    "SoTLE",
    "SoTLEMA",
    "SoTLHyperbandPruner",
    "SoTLPruner",
    "SoTLReporter",
    "SoTLReporterWarning",
    "SoTLSampler",
    "SoTLSuccessiveHalvingPruner",
    "SoVL",
    "ValidationMetric",
    "fail_stale_trials",
]
