"""The terminal report: the ranking as a table between sentences that say what it means."""

from __future__ import annotations

from optuna_sotl.ranking import agreement_sentence
from optuna_sotl.ranking import fill
from optuna_sotl.ranking import Ranking
from optuna_sotl.ranking import ranking_table
from optuna_sotl.ranking import savings_sentence
from optuna_sotl.ranking import step_sentence


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
