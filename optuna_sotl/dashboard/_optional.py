"""optuna-dashboard and plotly are optional: imported only when a note or figure is saved."""

from __future__ import annotations

from types import ModuleType


def import_dashboard() -> tuple[ModuleType, ModuleType]:
    """``(optuna_dashboard, plotly.graph_objects)``, or an ImportError saying how to get them."""
    try:
        import optuna_dashboard
        import plotly.graph_objects as go
    except ImportError as error:
        raise ImportError(
            "Saving the SoTL note and figure into optuna-dashboard needs optuna-dashboard and "
            f"plotly ({error.name} is missing): pip install 'optuna-sotl[dashboard]'."
        ) from error
    return optuna_dashboard, go
