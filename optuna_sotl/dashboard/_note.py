"""The study note: the SoTL ranking as Markdown, kept apart from whatever else the note says."""

from __future__ import annotations

from optuna_sotl.ranking import agreement_sentence
from optuna_sotl.ranking import format_number
from optuna_sotl.ranking import Ranking
from optuna_sotl.ranking import savings_sentence
from optuna_sotl.ranking import step_sentence


# Markdown link-reference definitions render as nothing, so they can fence our section of a note
# that users also edit in the dashboard: a refresh replaces the section and keeps their text.
BEGIN = "[//]: # (optuna-sotl ranking: begin; refreshed automatically, edit outside)"
END = "[//]: # (optuna-sotl ranking: end)"

TITLE = "SoTL ranking (optuna-sotl)"


def ranking_markdown(ranking: Ranking, *, max_rows: int = 15) -> str:
    """The note section: what is ranked, how well it agrees, epochs saved, the top trials."""
    lines = [
        f"## {TITLE}",
        "",
        f"Updated after {ranking.n_finished} finished trials. {step_sentence(ranking)}",
        "",
        f"**{agreement_sentence(ranking)}**",
        "",
        savings_sentence(ranking),
    ]
    ranked = ranking.ranked
    if ranked:
        score = f"{ranking.estimator_name} at step {ranking.step}"
        lines += [
            "",
            f"| rank | trial | state | epochs | {score} | value |",
            "| ---: | ---: | :--- | ---: | ---: | ---: |",
        ]
        for row in ranked[:max_rows]:
            lines.append(
                f"| {row.rank} | {row.number} | {row.state} | {row.epochs} | "
                f"{format_number(row.score)} | {format_number(row.value)} |"
            )
        left_out = len(ranking.rows) - min(len(ranked), max_rows)
        if left_out:
            lines += [
                "",
                f"{left_out} more trials, lower or unranked: `optuna-sotl report` lists all.",
            ]
    lines += [
        "",
        "The figure *SoTL ranking* plots the same. Scores are training losses, lower is better, "
        "whatever the study's direction.",
    ]
    return "\n".join(lines)


def merge_into_note(note: str, section: str) -> str:
    """``note`` with its optuna-sotl section replaced by ``section``, put first if it has none."""
    fenced = f"{BEGIN}\n\n{section}\n\n{END}"
    start, end = note.find(BEGIN), note.find(END)
    if start != -1 and end > start:
        return note[:start] + fenced + note[end + len(END) :]
    if not note.strip():
        return fenced
    return f"{fenced}\n\n{note}"
