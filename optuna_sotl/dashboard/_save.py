"""Write the SoTL ranking into a study as optuna-dashboard's study note and a plotly figure."""

from __future__ import annotations

import optuna

from optuna_sotl.dashboard._figure import ranking_figure
from optuna_sotl.dashboard._note import merge_into_note
from optuna_sotl.dashboard._note import ranking_markdown
from optuna_sotl.dashboard._optional import import_dashboard
from optuna_sotl.estimators import BaseEstimator
from optuna_sotl.ranking import rank_study
from optuna_sotl.ranking import Ranking


#: The figure's id in the study: each save overwrites the previous figure instead of adding one.
FIGURE_ID = "sotl-ranking"


def save_to_dashboard(
    study: optuna.Study, *, step: int | None = None, estimator: BaseEstimator | None = None
) -> Ranking:
    """Rank ``study``'s trials and save the ranking as its note and a figure for optuna-dashboard.

    The note's SoTL section is replaced; anything else written in the note is kept. The figure
    *SoTL ranking* replaces the one saved before. Works on every storage the study can be on.

    Example:

        .. code-block:: python

            import optuna
            from optuna_sotl.dashboard import save_to_dashboard

            study = optuna.create_study(direction="maximize")
            for loss, accuracy in ((0.9, 0.6), (0.5, 0.8), (0.7, 0.7)):
                study.add_trial(
                    optuna.create_trial(value=accuracy, intermediate_values={0: loss})
                )
            ranking = save_to_dashboard(study)
            assert ranking.spearman == 1.0

    Args:
        study: The study, on any storage.
        step: The step to rank at; by default the last step half of the trials reached.
        estimator: The training-loss estimator (default ``SoTLE(1)``).

    Returns:
        The ranking saved.

    Raises:
        ImportError: when optuna-dashboard or plotly is not installed (extra ``[dashboard]``).
    """
    optuna_dashboard, _ = import_dashboard()
    ranking = rank_study(study, step=step, estimator=estimator)
    note = merge_into_note(optuna_dashboard.get_note(study), ranking_markdown(ranking))
    if ranking.step is not None:
        optuna_dashboard.save_plotly_graph_object(
            study, ranking_figure(ranking), graph_object_id=FIGURE_ID
        )
    optuna_dashboard.save_note(study, note)
    return ranking
