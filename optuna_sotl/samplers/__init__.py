"""Samplers that read pruned and running trials by their training-loss score.

:class:`SoTLSampler` wraps any Optuna sampler and shows it a study view in which those trials'
intermediate values are scores; :class:`RegularizedEvolutionSampler` (its own subpackage, with
its mutation helper) ranks pruned parents by the same score.
"""

from optuna_sotl.samplers._sotl import SoTLSampler
from optuna_sotl.samplers.regularized_evolution import RegularizedEvolutionSampler


__all__ = ["RegularizedEvolutionSampler", "SoTLSampler"]
