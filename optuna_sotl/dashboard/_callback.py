from __future__ import annotations

import threading

import optuna
from optuna.trial import FrozenTrial

from optuna_sotl._checks import check_count
from optuna_sotl._checks import check_loss_estimator
from optuna_sotl._checks import check_optional_count
from optuna_sotl.estimators import BaseEstimator


class DashboardCallback:
    """Refresh the SoTL note and figure in optuna-dashboard every ``every`` finished trials.

    Pass it to ``study.optimize(callbacks=[...])``. Every ``every``-th trial this process finishes,
    it ranks the study's trials by a training-loss estimator at one step, measures the ranking's
    Spearman and Kendall agreement with the completed trials' values, counts the epochs pruning
    saved, and saves all of it as the study's note and the figure *SoTL ranking* (see
    :func:`optuna_sotl.dashboard.save_to_dashboard`). Needs the extra ``optuna-sotl[dashboard]``;
    the check is made here, before the study runs.

    Example:

        .. code-block:: python

            import optuna
            from optuna_sotl import DashboardCallback
            from optuna_sotl import SoTLPruner
            from optuna_sotl import SoTLReporter


            def objective(trial):
                lr = trial.suggest_float("lr", 0.01, 0.5, log=True)
                reporter = SoTLReporter(trial)
                weight = 5.0
                for epoch in range(6):
                    for _ in range(10):  # minibatches
                        weight -= lr * weight
                        reporter.add(weight**2)
                    reporter.end_epoch()
                return 1.0 / (1.0 + weight**2)


            study = optuna.create_study(direction="maximize", pruner=SoTLPruner())
            study.optimize(objective, n_trials=10, callbacks=[DashboardCallback(every=5)])

    Args:
        every:
            Refresh after every this many finished trials of this process (at least 1).
        step:
            The step to rank at; None (default) picks the last step that half of the trials
            reached at each refresh. Refreshes are skipped until a trial reaches a fixed step.
        estimator:
            The training-loss estimator that scores the trials (default ``SoTLE(1)``).
    """

    def __init__(
        self, every: int = 1, step: int | None = None, estimator: BaseEstimator | None = None
    ) -> None:
        from optuna_sotl.dashboard._optional import import_dashboard

        self._every = check_count("every", every, minimum=1)
        self._step = check_optional_count("step", step)
        self._estimator = None if estimator is None else check_loss_estimator(estimator)
        import_dashboard()
        self._n_finished = 0
        # study.optimize(n_jobs>1) calls back from several threads.
        self._lock = threading.Lock()

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        with self._lock:
            self._n_finished += 1
            if self._n_finished % self._every:
                return
        self.refresh(study)

    def refresh(self, study: optuna.Study) -> None:
        """Save the note and figure now, e.g. once more after ``study.optimize`` returns."""
        from optuna_sotl.dashboard._save import save_to_dashboard

        trials = study.get_trials(deepcopy=False)
        if self._step is None:
            ready = any(trial.intermediate_values for trial in trials)
        else:
            ready = any(self._step in trial.intermediate_values for trial in trials)
        if ready:
            save_to_dashboard(study, step=self._step, estimator=self._estimator)

    def __repr__(self) -> str:
        return (
            f"DashboardCallback(every={self._every}, step={self._step}, "
            f"estimator={self._estimator!r})"
        )
