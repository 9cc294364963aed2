"""The reporter: a training loop's minibatch losses into per-epoch reports of an Optuna trial."""

from optuna_sotl.reporter._reporter import SoTLReporter
from optuna_sotl.reporter._reporter import SoTLReporterWarning


__all__ = ["SoTLReporter", "SoTLReporterWarning"]
