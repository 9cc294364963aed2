"""The ranking in words: the sentences and the plain-text table every rendering shares."""

from __future__ import annotations

from collections.abc import Mapping
import math
import textwrap

from optuna_sotl.ranking._rank import MIN_CORRELATED
from optuna_sotl.ranking._rank import Ranking


_WIDTH = 99


def step_sentence(ranking: Ranking) -> str:
    if ranking.step is None:
        return f"Nothing to rank: {ranking.step_reason}."
    return (
        f"Trials ranked by {ranking.estimator_name} of the training loss at step {ranking.step} "
        f"(epoch {ranking.step + 1}), lower is better; step {ranking.step} is "
        f"{ranking.step_reason}."
    )


def agreement_sentence(ranking: Ranking) -> str:
    n = ranking.n_correlated
    if ranking.direction is None:
        return "No agreement measured: a multi-objective study has no single value to compare."
    if n < MIN_CORRELATED:
        return (
            f"No agreement measured yet: it needs at least {MIN_CORRELATED} complete trials that "
            f"reached step {ranking.step}, there are {n}."
        )
    if ranking.spearman is None or ranking.kendall is None:
        return f"No agreement measured: the {n} complete trials' scores or values are all equal."
    better = "lower" if ranking.direction == "minimize" else "higher"
    return (
        f"Agreement with the final values of the {n} complete trials that reached step "
        f"{ranking.step}: Spearman {ranking.spearman:+.2f}, Kendall {ranking.kendall:+.2f} "
        f"(+1: a lower score always meant a {better} value, 0: unrelated, -1: reversed; "
        f"the study {ranking.direction}s)."
    )


def savings_sentence(ranking: Ranking) -> str:
    if ranking.n_finished == 0:
        return "No trial has finished yet: no epochs counted."
    return (
        f"Pruning: the {ranking.n_finished} complete and pruned trials trained "
        f"{ranking.epochs_trained} epochs; training each to the end ({ranking.full_epochs} "
        f"epochs) would take {ranking.epochs_full}: {ranking.epochs_saved} epochs saved "
        f"({ranking.saved_fraction:.0%})."
    )


def format_number(value: float | None) -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


def fill(paragraph: str) -> str:
    # Storage URLs and study names stay whole, so that they can be copied from the terminal.
    return textwrap.fill(paragraph, _WIDTH, break_long_words=False, break_on_hyphens=False)


def ranking_table(
    ranking: Ranking,
    *,
    value_label: str = "final value",
    last_column: tuple[str, Mapping[int, str]] | None = None,
) -> str:
    """The ranking's rows as aligned plain text.

    ``last_column`` is a header and a text per trial number (the demo's architecture strings),
    printed last and unpadded because it is long.
    """
    header = [
        "rank",
        "trial",
        "state",
        "epochs",
        f"{ranking.estimator_name}@{ranking.step}",
        value_label,
    ]
    body = [
        [
            "-" if row.rank is None else str(row.rank),
            str(row.number),
            row.state,
            str(row.epochs),
            format_number(row.score),
            format_number(row.value),
        ]
        for row in ranking.rows
    ]
    widths = [max(len(cells[i]) for cells in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(width) if i == 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths))
        )
        for cells in [header, *body]
    ]
    if last_column is not None:
        title, texts = last_column
        extra = [title] + [texts.get(row.number, "-") for row in ranking.rows]
        lines = [f"{line}  {text}" for line, text in zip(lines, extra)]
    return "\n".join(line.rstrip() for line in lines)
