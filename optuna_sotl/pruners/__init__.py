"""Pruners that rank trials by a training-loss score, lower is better in any study direction.

Each pruner is one module: :class:`SoTLPruner` (a percentile of the other trials' scores),
:class:`SoTLSuccessiveHalvingPruner` (ASHA rungs recomputed from stored losses) and
:class:`SoTLHyperbandPruner` (brackets of those, with a bracket study for the samplers). They
score trials through :mod:`optuna_sotl._scoring` and check arguments with
:mod:`optuna_sotl._checks`.
"""

from optuna_sotl.pruners._hyperband import SoTLHyperbandPruner
from optuna_sotl.pruners._sotl import SoTLPruner
from optuna_sotl.pruners._successive_halving import SoTLSuccessiveHalvingPruner


__all__ = ["SoTLHyperbandPruner", "SoTLPruner", "SoTLSuccessiveHalvingPruner"]
