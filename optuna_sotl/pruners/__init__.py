"""Pruners: an estimator's scores of the trials at a step, and a rule, decide who stops."""

from optuna_sotl.pruners._pareto import SoTLParetoPruner


__all__ = ["SoTLParetoPruner"]
