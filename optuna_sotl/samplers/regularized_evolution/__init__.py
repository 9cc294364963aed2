"""Regularized (aging) evolution whose pruned parents are ranked by SoTL."""

from optuna_sotl.samplers.regularized_evolution._sampler import PARENT_ATTR
from optuna_sotl.samplers.regularized_evolution._sampler import RegularizedEvolutionSampler


__all__ = ["PARENT_ATTR", "RegularizedEvolutionSampler"]
