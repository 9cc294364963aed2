"""The SoTL ranking inside optuna-dashboard: a study note and a plotly figure.

Needs the extra ``optuna-sotl[dashboard]`` (optuna-dashboard and plotly), imported only when a
note or figure is saved, so importing this package stays light.
"""

from optuna_sotl.dashboard._callback import DashboardCallback
from optuna_sotl.dashboard._optional import import_dashboard
from optuna_sotl.dashboard._save import save_to_dashboard


__all__ = ["DashboardCallback", "import_dashboard", "save_to_dashboard"]
