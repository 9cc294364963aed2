"""Stale RUNNING trials on storages without a heartbeat (journal files, Redis, the gRPC proxy)."""

from optuna_sotl.stale._fail import fail_stale_trials
from optuna_sotl.stale._fail import find_stale_trials
from optuna_sotl.stale._fail import StaleTrial


__all__ = ["StaleTrial", "fail_stale_trials", "find_stale_trials"]
