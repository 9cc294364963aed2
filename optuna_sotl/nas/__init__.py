"""The NAS-Bench-201 search space: suggest a cell in an Optuna trial and build its network.

:func:`suggest_cell` and the arch-string helpers are pure Python. :func:`build_nb201_model` needs
torch, which is imported the first time that name is looked up, so ``import optuna_sotl.nas``
stays light.
"""

from __future__ import annotations

from typing import Any
from typing import TYPE_CHECKING

from optuna_sotl.nas._space import arch_string
from optuna_sotl.nas._space import DEFAULT_OPS
from optuna_sotl.nas._space import edge_param_name
from optuna_sotl.nas._space import EDGES
from optuna_sotl.nas._space import parse_arch_string
from optuna_sotl.nas._space import suggest_cell


if TYPE_CHECKING:
    from optuna_sotl.nas._torch_model import build_nb201_model


__all__ = [
    "DEFAULT_OPS",
    "EDGES",
    "arch_string",
    "build_nb201_model",
    "edge_param_name",
    "parse_arch_string",
    "suggest_cell",
]


def __getattr__(name: str) -> Any:
    # PEP 562: torch is imported on first use of the model builder, not with the package.
    if name == "build_nb201_model":
        from optuna_sotl.nas._torch_model import build_nb201_model

        return build_nb201_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
