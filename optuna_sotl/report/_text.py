"""The terminal report: the ranking as a table between sentences that say what it means."""

from __future__ import annotations

from collections.abc import Mapping
import textwrap

from optuna_sotl._ranking import agreement_sentence
from optuna_sotl._ranking import format_number
from optuna_sotl._ranking import Ranking
from optuna_sotl._ranking import savings_sentence
from optuna_sotl._ranking import step_sentence


_WIDTH = 99


def format_report(ranking: Ranking, *, where: str) -> str:
    """The report of ``ranking``; ``where`` names the storage (with its password masked)."""
    states: dict[str, int] = {}
    for row in ranking.rows:
        states[row.state] = states.get(row.state, 0) + 1
    counts = ", ".join(f"{n} {state.lower()}" for state, n in sorted(states.items()))
    direction = ranking.direction or "multi-objective"
    paragraphs = [
        f"Study {ranking.study_name!r} ({direction}) in {where}: {len(ranking.rows)} trials, "
        f"{counts}.",
        step_sentence(ranking) + " Trials short of the step are listed last, unranked; pass "
        "--step to rank at another step.",
    ]
    lines = [fill(p) + "\n" for p in paragraphs]
    lines.append(ranking_table(ranking))
    lines.append("")
    lines += [fill(p) for p in (agreement_sentence(ranking), "")]
    lines.append(fill(savings_sentence(ranking)))
    return "\n".join(lines)


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
