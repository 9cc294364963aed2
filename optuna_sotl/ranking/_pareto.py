"""A multi-objective study's Pareto front, and the pruned trials that might have joined it.

Pruned trials have no objective values, so they cannot be placed on the front itself. What they
have is what :class:`~optuna_sotl.SoTLParetoPruner` judged them by: a training-loss score at the
step they stopped and their cost attributes. A pruned trial is listed as a *would-be member* when
no trial of the front dominates it in (score at that step, costs): by its SoTL score it looked as
good as the front when it was stopped. The report and the dashboard note print this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import math
import numbers

import numpy as np
import optuna
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_sotl import _attrs
from optuna_sotl._scoring import score_at_step
from optuna_sotl.estimators import BaseEstimator
from optuna_sotl.estimators import SoTLE
from optuna_sotl.rules import dominated_count


# The reporter's own attributes are scores and curves, never costs.
_REPORTER_ATTRS = frozenset(
    {
        _attrs.SOTL,
        _attrs.SOTL_E,
        _attrs.VAL_LOSS,
        _attrs.VAL_METRIC,
        _attrs.VAL_LOSS_CURVE,
        _attrs.VAL_METRIC_CURVE,
    }
)


@dataclass(frozen=True)
class FrontTrial:
    """A complete trial on the Pareto front: its number, objective values and epochs."""

    number: int
    values: tuple[float, ...]
    epochs: int


@dataclass(frozen=True)
class WouldBeTrial:
    """A pruned trial no front trial dominates in (score at its last step, costs)."""

    number: int
    step: int
    score: float
    costs: tuple[float, ...]


@dataclass(frozen=True)
class ParetoSummary:
    """The front of a study's complete trials and the pruned trials that could have joined it.

    Attributes:
        study_name: The study's name.
        directions: Each objective's direction, ``"minimize"`` or ``"maximize"``.
        objective_names: The study's metric names, or ``value 0``, ``value 1``...
        estimator_name: The score's label, e.g. ``"SoTL-E(E=1)"``.
        cost_attrs: The user attributes compared with the score (detected or given).
        n_complete: Complete trials; n_pruned: pruned trials with a reported loss.
        front: The front, by the first objective best first.
        would_be: Pruned trials not dominated by the front at their last step, by trial number.
    """

    study_name: str
    directions: tuple[str, ...]
    objective_names: tuple[str, ...]
    estimator_name: str
    cost_attrs: tuple[str, ...]
    n_complete: int
    n_pruned: int
    front: tuple[FrontTrial, ...]
    would_be: tuple[WouldBeTrial, ...]


def pareto_summary(
    study: optuna.Study,
    *,
    estimator: BaseEstimator | None = None,
    cost_attrs: Sequence[str] | None = None,
) -> ParetoSummary:
    """Summarise ``study``'s Pareto front and the pruned trials that would have been on it.

    ``cost_attrs=None`` takes the numeric user attributes that every trial with a reported loss
    has, other than the reporter's own scores (for a study pruned by
    :class:`~optuna_sotl.SoTLParetoPruner`, its ``cost_attrs``).

    Example:

        .. code-block:: python

            import optuna
            from optuna_sotl.ranking import pareto_summary

            study = optuna.create_study(directions=["maximize", "minimize"])
            study.add_trial(optuna.create_trial(
                values=[0.9, 200.0], intermediate_values={0: 1.0, 1: 0.5},
                user_attrs={"params": 200.0}))
            study.add_trial(optuna.create_trial(
                state=optuna.trial.TrialState.PRUNED, intermediate_values={0: 0.8},
                user_attrs={"params": 100.0}))
            summary = pareto_summary(study)
            assert [t.number for t in summary.would_be] == [1]
    """
    if estimator is None:
        estimator = SoTLE(1)
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values is not None]
    pruned = [t for t in trials if t.state == TrialState.PRUNED and t.intermediate_values]
    names = _cost_attrs(trials) if cost_attrs is None else tuple(cost_attrs)
    directions = tuple(d.name.lower() for d in study.directions)

    front_trials = _front(complete, directions)
    front = tuple(
        FrontTrial(t.number, tuple(float(v) for v in t.values), len(t.intermediate_values))
        for t in front_trials
    )
    would_be = []
    for trial in pruned:
        costs = _costs(trial, names)
        if costs is None:
            continue
        step = trial.last_step
        if step is None:
            continue
        rivals = [
            t
            for t in front_trials
            if step in t.intermediate_values and _costs(t, names) is not None
        ]
        scores = score_at_step(estimator, [trial, *rivals], step)
        if not math.isfinite(scores[0]):
            continue
        points = np.column_stack(
            [
                scores,
                np.array([costs] + [_costs(t, names) for t in rivals]).reshape(-1, len(names)),
            ]
        )
        if dominated_count(points[0], points[1:]) == 0:
            would_be.append(WouldBeTrial(trial.number, step, float(scores[0]), tuple(costs)))
    return ParetoSummary(
        study_name=study.study_name,
        directions=directions,
        objective_names=tuple(
            study.metric_names or [f"value {i}" for i in range(len(directions))]
        ),
        estimator_name=estimator.name,
        cost_attrs=names,
        n_complete=len(complete),
        n_pruned=len(pruned),
        front=front,
        would_be=tuple(would_be),
    )


def _front(trials: list[FrozenTrial], directions: tuple[str, ...]) -> list[FrozenTrial]:
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    if not trials:
        return []
    points = np.array([t.values for t in trials], dtype=np.float64) * signs
    keep = [i for i in range(len(trials)) if dominated_count(points[i], points) == 0]
    return sorted((trials[i] for i in keep), key=lambda t: (points[trials.index(t), 0], t.number))


def _cost_attrs(trials: Sequence[FrozenTrial]) -> tuple[str, ...]:
    reporting = [t for t in trials if t.intermediate_values]
    if not reporting:
        return ()
    common = set(reporting[0].user_attrs)
    for trial in reporting[1:]:
        common &= set(trial.user_attrs)
    return tuple(
        sorted(
            name
            for name in common - _REPORTER_ATTRS
            if all(_is_number(t.user_attrs[name]) for t in reporting)
        )
    )


def _costs(trial: FrozenTrial, names: tuple[str, ...]) -> list[float] | None:
    costs = []
    for name in names:
        value = trial.user_attrs.get(name)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return None
        costs.append(float(value))
    return costs


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def pareto_lines(summary: ParetoSummary, *, max_rows: int = 15) -> list[str]:
    """The summary as Markdown lines (tables read well in a terminal too)."""
    objectives = ", ".join(
        f"{name} ({d})" for name, d in zip(summary.objective_names, summary.directions)
    )
    lines = [
        f"Pareto front of the {summary.n_complete} complete trials (objectives {objectives}): "
        f"{len(summary.front)} trials.",
        "",
    ]
    if summary.front:
        header = " | ".join(summary.objective_names)
        lines += [
            f"| trial | {header} | epochs |",
            "| ---: |" + " ---: |" * len(summary.directions) + " ---: |",
        ]
        for row in summary.front[:max_rows]:
            values = " | ".join(_number(v) for v in row.values)
            lines.append(f"| {row.number} | {values} | {row.epochs} |")
        if len(summary.front) > max_rows:
            lines.append(f"\n{len(summary.front) - max_rows} more front trials not shown.")
        lines.append("")
    costs = ", ".join(summary.cost_attrs) or "no cost attributes"
    if not summary.would_be:
        lines.append(
            f"None of the {summary.n_pruned} pruned trials would have been on the front by "
            f"{summary.estimator_name} and {costs}: a front trial dominated each where it stopped."
        )
        return lines
    lines += [
        f"{len(summary.would_be)} of the {summary.n_pruned} pruned trials would have been on the "
        f"front by their {summary.estimator_name} score: no front trial dominates them in "
        f"({summary.estimator_name} at the step they stopped, {costs}).",
        "",
        f"| trial | pruned at step | {summary.estimator_name} | "
        + " | ".join(summary.cost_attrs)
        + (" |" if summary.cost_attrs else "|"),
        "| ---: | ---: | ---: |" + " ---: |" * len(summary.cost_attrs),
    ]
    for member in summary.would_be[:max_rows]:
        costs_cells = "".join(f" {_number(c)} |" for c in member.costs)
        lines.append(f"| {member.number} | {member.step} | {_number(member.score)} |{costs_cells}")
    if len(summary.would_be) > max_rows:
        lines.append(f"\n{len(summary.would_be) - max_rows} more not shown.")
    return lines


def _number(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else str(value)
