"""The demo's closing table: the shared SoTL ranking with each trial's architecture."""

from __future__ import annotations

from collections.abc import Mapping
import textwrap

from optuna_sotl._ranking import agreement_sentence
from optuna_sotl._ranking import format_number
from optuna_sotl._ranking import Ranking
from optuna_sotl._ranking import savings_sentence
from optuna_sotl._ranking import step_sentence


def format_demo_table(
    ranking: Ranking, archs: Mapping[int, str], *, warmup_step: int | None
) -> str:
    """The ranking as plain text: what the score is, the table, then agreement and savings.

    ``warmup_step`` is the pruner's first pruning step; when the ranking is at that step the
    header says why it is comparable across all trials.
    """
    if ranking.step is None:
        return step_sentence(ranking)
    score_label = f"{ranking.estimator_name}@{ranking.step}"
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
    header = ("rank", "trial", "state", "epochs", score_label, "val acc", "architecture")
    body = [
        (
            "-" if row.rank is None else str(row.rank),
            str(row.number),
            row.state,
            str(row.epochs),
            format_number(row.score),
            format_number(row.value),
            archs.get(row.number, "-"),
        )
        for row in ranking.rows
    ]
    widths = [max(len(cells[i]) for cells in [header, *body]) for i in range(len(header) - 1)]
    for cells in [header, *body]:
        # Numbers right-aligned, the state left-aligned, the long arch string last and unpadded.
        padded = [
            cell.ljust(width) if column == 2 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(cells, widths))
        ]
        lines.append("  ".join([*padded, cells[-1]]))
    lines.append("")
    lines += [_fill(agreement_sentence(ranking)), _fill(savings_sentence(ranking))]
    return "\n".join(lines)


def _fill(sentence: str) -> str:
    return textwrap.fill(sentence, 99, break_long_words=False, break_on_hyphens=False)
