"""A worker process of a multi-objective study, for tests/system/test_multiobjective_workers.py.

``python -m tests.system._mo_workers URL STUDY_NAME INDEX N_TRIALS GO_FILE``: waits for
``GO_FILE``, then trains ``N_TRIALS`` trials with :class:`~optuna_sotl.SoTLReporter` and
:class:`~optuna_sotl.SoTLParetoPruner` on replayed loss curves that depend on the parameters only.
"""

from __future__ import annotations

import os
import pathlib
import sys
import time


REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
N_EPOCHS = 6


def curve_of(quality: float) -> list[float]:
    return [quality + 1.0 / (epoch + 1) for epoch in range(N_EPOCHS)]


def worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def main(argv: list[str]) -> int:
    import optuna

    from optuna_sotl import SoTLParetoPruner
    from optuna_sotl import SoTLReporter
    from optuna_sotl._storage_url import open_storage

    url, study_name, index, n_trials, go = argv
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(
        study_name=study_name,
        storage=open_storage(url),
        sampler=optuna.samplers.RandomSampler(seed=100 + int(index)),
        pruner=SoTLParetoPruner(
            cost_attrs=("params",), dominated_fraction=0.1, n_startup_trials=2
        ),
    )

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        quality = trial.suggest_float("quality", 0.0, 1.0)
        params = trial.suggest_int("width", 1, 10) * 100
        trial.set_user_attr("params", params)
        reporter = SoTLReporter(trial)
        for loss in curve_of(quality):
            reporter.add(loss)
            time.sleep(0.02)  # the epoch's training: lets the workers interleave
            reporter.end_epoch()
        return 1.0 / (1.0 + reporter.train_losses[-1]), params

    deadline = time.monotonic() + 60
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            raise TimeoutError("the test never said go")
        time.sleep(0.01)
    study.optimize(objective, n_trials=int(n_trials), catch=())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
