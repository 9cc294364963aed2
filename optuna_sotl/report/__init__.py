"""``optuna-sotl report``: a study's SoTL ranking in the terminal, a PNG, optuna-dashboard."""
