"""Names of the user attributes the reporter writes, in one place for every reader.

The trial table of optuna-dashboard shows each user attribute as a column, so the latest scores
are scalars; the per-epoch validation curves are lists, one attribute each, so that SoVL and the
validation baseline can be computed from storage after the study.
"""

from __future__ import annotations


SOTL = "sotl"
SOTL_E = "sotl_e"
VAL_LOSS = "val_loss"
VAL_METRIC = "val_metric"
VAL_LOSS_CURVE = "val_loss_curve"
VAL_METRIC_CURVE = "val_metric_curve"
