"""The demo's closing table: the shared SoTL ranking with each trial's architecture."""

from __future__ import annotations

from collections.abc import Mapping

from optuna_sotl.ranking import agreement_sentence
from optuna_sotl.ranking import fill
from optuna_sotl.ranking import Ranking
from optuna_sotl.ranking import ranking_table
from optuna_sotl.ranking import savings_sentence
from optuna_sotl.ranking import step_sentence


def format_demo_table(
    ranking: Ranking, archs: Mapping[int, str], *, warmup_step: int | None
) -> str:
    """The ranking as plain text: what the score is, the table, then agreement and savings.

    ``warmup_step`` is the pruner's first pruning step; when the ranking is at that step the
    header says why it is comparable across all trials.
    """
    if ranking.step is None:
        return step_sentence(ranking)
    lines = [
        f"Trials ranked by {ranking.estimator_name} at step {ranking.step} "
        f"(epoch {ranking.step + 1}), lower is better.",
    ]
    if ranking.step == warmup_step:
        lines += [
            f"Step {ranking.step} is the first step the pruner may prune at, so every trial "
            "reaches it",
            "(unless its loss went NaN) and the scores are comparable.",
        ]
    else:
        lines.append(f"Step {ranking.step} is {ranking.step_reason}.")
    lines += [
        "'val acc' is the validation accuracy after the last epoch, '-' if it stopped early.",
        "",
    ]
    lines.append(
        ranking_table(ranking, value_label="val acc", last_column=("architecture", archs))
    )
    lines.append("")
    lines += [fill(agreement_sentence(ranking)), fill(savings_sentence(ranking))]
    return "\n".join(lines)

