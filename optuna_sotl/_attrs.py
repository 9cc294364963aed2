"""Names of the user attributes the reporter writes, in one place for every reader.

optuna-dashboard shows a trial's user attributes on the trial's page, so the latest scores are
scalars there; the per-epoch validation curves are lists, one attribute each, so that SoVL, the
validation baseline and :class:`~optuna_sotl.SelfCalibratingEstimator` read them from storage.
"""

from __future__ import annotations


SOTL = "sotl"
SOTL_E = "sotl_e"
VAL_LOSS = "val_loss"
VAL_METRIC = "val_metric"
VAL_LOSS_CURVE = "val_loss_curve"
VAL_METRIC_CURVE = "val_metric_curve"
