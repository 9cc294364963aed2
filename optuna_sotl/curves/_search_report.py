"""Summaries of a replayed search: regret quantiles over seeds, epochs to a target, tables.

The table, the CSV and the plot are all computed from the same per-run traces
(:class:`~optuna_sotl.curves.RunTrace`), evaluated after every epoch of the budget.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math

import numpy as np

from optuna_sotl.curves._search import SearchResult


# A quantile that interpolates towards a run with no result yet is itself "no result": infinities
# become the largest float for np.quantile, and anything this large afterwards becomes inf again.
_HUGE = np.finfo(np.float64).max
_NO_RESULT = 1e300


@dataclasses.dataclass(frozen=True)
class ConfigSummary:
    name: str
    family: str
    quantiles: dict[str, np.ndarray]  # "test"/"val" -> (3, budget + 1): Q1, median, Q3 per epoch
    median_trials: float
    median_complete: float
    median_pruned: float
    median_missing: float
    median_seconds: float
    top_kept: float  # completed / proposed trials of top-1 % architectures, pooled over seeds
    epochs_to_target: int | None

    def final_median(self, kind: str = "test") -> float:
        return float(self.quantiles[kind][1, -1])


@dataclasses.dataclass(frozen=True)
class SearchSummary:
    result: SearchResult
    configs: tuple[ConfigSummary, ...]
    checkpoints: tuple[int, ...]
    target: float | None
    best_optuna: str | None
    best_sotl: str | None

    def config(self, name: str) -> ConfigSummary:
        for summary in self.configs:
            if summary.name == name:
                return summary
        raise KeyError(name)

    @property
    def epochs_ratio(self) -> float | None:
        """Epochs the best SoTL configuration needs to reach the target / the best Optuna one's."""
        if self.best_sotl is None or self.best_optuna is None:
            return None
        sotl = self.config(self.best_sotl).epochs_to_target
        optuna_epochs = self.config(self.best_optuna).epochs_to_target
        if sotl is None or not optuna_epochs:
            return None
        return sotl / optuna_epochs

    def to_markdown(self) -> str:
        return _markdown(self)

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["configuration", "epochs", "regret", "q1", "median", "q3"])
        for summary in self.configs:
            for kind in ("test", "val"):
                for epochs in self.checkpoints:
                    q1, median, q3 = summary.quantiles[kind][:, epochs]
                    writer.writerow([summary.name, epochs, kind, _csv(q1), _csv(median), _csv(q3)])
        return buffer.getvalue()


def summarize_search(result: SearchResult) -> SearchSummary:
    """Quantiles over seeds after every epoch; epochs to the best Optuna pruner's final median."""
    grid = np.arange(result.budget + 1)
    partial = []
    for config in result.configs:
        traces = [trace for trace in result.traces if trace.config == config.name]
        quantiles = {
            kind: _quantiles(np.stack([trace.regret_at(grid, kind) for trace in traces]))
            for kind in ("test", "val")
        }
        stats = {
            field: float(np.median([getattr(trace, field) for trace in traces]))
            for field in ("n_trials", "n_complete", "n_pruned", "n_missing", "seconds")
        }
        proposed = sum(trace.n_top_proposed for trace in traces)
        stats["top_kept"] = (
            sum(trace.n_top_completed for trace in traces) / proposed if proposed else math.nan
        )
        partial.append((config.name, config.family, quantiles, stats))

    optuna_finals = [
        (quantiles["test"][1, -1], name)
        for name, family, quantiles, _ in partial
        if family == "optuna" and math.isfinite(quantiles["test"][1, -1])
    ]
    target = min(optuna_finals)[0] if optuna_finals else None
    summaries = []
    for name, family, quantiles, stats in partial:
        summaries.append(
            ConfigSummary(
                name=name,
                family=family,
                quantiles=quantiles,
                median_trials=stats["n_trials"],
                median_complete=stats["n_complete"],
                median_pruned=stats["n_pruned"],
                median_missing=stats["n_missing"],
                median_seconds=stats["seconds"],
                top_kept=stats["top_kept"],
                epochs_to_target=_first_epoch_at_most(quantiles["test"][1], target),
            )
        )
    best_optuna = _lowest_final(summaries, "optuna")
    best_sotl = _best(summaries, "sotl")
    budget = result.budget
    checkpoints = tuple(sorted({max(1, budget // d) for d in (8, 4, 2, 1)}))
    return SearchSummary(result, tuple(summaries), checkpoints, target, best_optuna, best_sotl)


def _quantiles(regrets: np.ndarray) -> np.ndarray:
    finite = np.where(np.isinf(regrets), _HUGE, regrets)
    quantiles = np.quantile(finite, [0.25, 0.5, 0.75], axis=0)
    return np.where(quantiles >= _NO_RESULT, math.inf, quantiles)


def _first_epoch_at_most(curve: np.ndarray, target: float | None) -> int | None:
    """The first epoch from which on ``curve`` stays at or below ``target``.

    A median over seeds of the best trial's test regret can dip and rise again (the trial best
    by validation changes); a dip that does not last is not counted as reaching the target.
    """
    if target is None:
        return None
    # Regrets are differences of float32 accuracies: allow their rounding.
    above = np.flatnonzero(~(curve <= target + 1e-6))
    if above.size == 0:
        return 0
    if above[-1] == curve.size - 1:
        return None
    return int(above[-1] + 1)


def _lowest_final(summaries: list[ConfigSummary], family: str) -> str | None:
    """The family's configuration with the lowest final median test regret (then: sooner)."""
    members = [summary for summary in summaries if summary.family == family]
    if not members:
        return None

    def key(summary: ConfigSummary) -> tuple[float, float]:
        epochs = summary.epochs_to_target
        return (summary.final_median("test"), math.inf if epochs is None else epochs)

    return min(members, key=key).name


def _best(summaries: list[ConfigSummary], family: str) -> str | None:
    """The family's configuration reaching the target soonest; else the lowest final median."""
    members = [summary for summary in summaries if summary.family == family]
    if not members:
        return None

    def key(summary: ConfigSummary) -> tuple[float, float]:
        epochs = summary.epochs_to_target
        return (math.inf if epochs is None else epochs, summary.final_median("test"))

    return min(members, key=key).name


def _cell(quantiles: np.ndarray, epochs: int) -> str:
    q1, median, q3 = quantiles[:, epochs]
    if math.isinf(median):
        return "no result"
    upper = "no result" if math.isinf(q3) else f"{q3:.2f}"
    return f"{median:.2f} [{q1:.2f}, {upper}]"


def _percent(value: float) -> str:
    return "—" if math.isnan(value) else f"{100 * value:.0f} %"


def _csv(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.6f}"


def _markdown(summary: SearchSummary) -> str:
    result = summary.result
    seeds = result.seeds
    contiguous = list(seeds) == list(range(seeds[0], seeds[-1] + 1))
    seed_text = f"{seeds[0]}..{seeds[-1]}" if contiguous else str(list(seeds))
    lines = [
        f"Replayed search on `{result.source}`: budget {result.budget} epochs "
        f"({result.n_epochs} per full training), {len(seeds)} seeds ({seed_text}) per "
        f"configuration, {len(summary.configs)} configurations"
        + ("." if math.isnan(result.seconds) else f", {result.seconds:.0f} s."),
        "",
        f"Regret in points of `{result.result_key}` (test) and of the final `{result.val_key}` "
        "(validation) of the study's best completed trial by final validation result, against "
        "the best in the file; median [Q1, Q3] over seeds after the given epochs. "
        "'no result': no completed trial yet.",
    ]
    header = "| configuration | " + " | ".join(f"{e} epochs" for e in summary.checkpoints) + " |"
    rule = "|---|" + "---|" * len(summary.checkpoints)
    for kind, title in (("test", "Test regret"), ("val", "Validation regret")):
        lines += ["", f"### {title}", "", header, rule]
        for config in summary.configs:
            cells = [_cell(config.quantiles[kind], e) for e in summary.checkpoints]
            lines.append(f"| {config.name} | " + " | ".join(cells) + " |")

    lines += ["", "### Epochs to the best Optuna pruner's final median test regret", ""]
    if summary.target is None:
        lines.append("No Optuna pruner configuration was run (or none has a result): no target.")
    else:
        lines.append(
            f"Target: {summary.target:.2f}, the final median test regret of "
            f"`{summary.best_optuna}` (the Optuna pruner configuration with the lowest one). "
            "Epochs: the first budget from which on the configuration's median test regret stays "
            "at or below the target (a dip that does not last does not count)."
        )
        base = (
            summary.config(summary.best_optuna).epochs_to_target if summary.best_optuna else None
        )
        lines += [
            "",
            "| configuration | epochs to target | % of budget | vs best Optuna pruner | "
            "trials / run | completed | pruned | not in file | top-1 % kept | s / run |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for config in summary.configs:
            epochs = config.epochs_to_target
            reached = epochs is not None
            lines.append(
                f"| {config.name} | {epochs if reached else 'not reached'} | "
                f"{f'{100 * epochs / result.budget:.0f} %' if reached else '—'} | "
                f"{f'{100 * epochs / base:.0f} %' if reached and base else '—'} | "
                f"{config.median_trials:.0f} | {config.median_complete:.0f} | "
                f"{config.median_pruned:.0f} | {config.median_missing:.0f} | "
                f"{_percent(config.top_kept)} | {config.median_seconds:.1f} |"
            )
        lines += [
            "",
            "Trials, completed, pruned, not in file, s / run: medians over seeds. Top-1 % kept: "
            "of the trials that proposed one of the top 1 % of the file's architectures by final "
            "result, the share that completed (pooled over seeds): how often the pruner let a "
            "winner through.",
        ]
        lines += _like_for_like(summary)
        n_sotl = sum(1 for config in summary.configs if config.family == "sotl")
        n_optuna = sum(1 for config in summary.configs if config.family == "optuna")
        lines += [
            "",
            "### Goal",
            "",
            _goal_sentence(summary),
            "",
            f"The best SoTL configuration is the best of {n_sotl}, the best Optuna pruner "
            f"configuration the best of {n_optuna}, on the same seeds: the family with more "
            "configurations has more chances of a lucky median. The like-for-like table above "
            "compares pairs.",
        ]
    return "\n".join(lines) + "\n"


def _goal_sentence(summary: SearchSummary) -> str:
    if summary.best_sotl is None:
        return "No SoTL configuration was run: the goal (≤ 50 % of the epochs) is not evaluated."
    sotl = summary.config(summary.best_sotl)
    optuna_epochs = summary.config(summary.best_optuna).epochs_to_target
    if sotl.epochs_to_target is None:
        return (
            f"**Goal not met**: the best SoTL configuration, `{sotl.name}`, never reaches the "
            f"target {summary.target:.2f} within {summary.result.budget} epochs (its final "
            f"median test regret is {sotl.final_median('test'):.2f})."
        )
    ratio = summary.epochs_ratio
    verdict = "met" if ratio is not None and ratio <= 0.5 else "not met"
    return (
        f"**Goal {verdict}** (≤ 50 %): the best SoTL configuration, `{sotl.name}`, reaches the "
        f"target in {sotl.epochs_to_target} epochs, {100 * ratio:.0f} % of the {optuna_epochs} "
        f"epochs `{summary.best_optuna}` needs."
    )


_RUN_FIELDS = (
    "epochs_spent",
    "n_trials",
    "n_complete",
    "n_pruned",
    "n_missing",
    "n_top_proposed",
    "n_top_completed",
    "seconds",
)


def save_traces(result: SearchResult, path: str) -> None:
    """Write every run's trace to an ``.npz`` (no pickle): the data behind the table and plot.

    Run ``i`` has ``config[i]``, ``seed[i]`` and its best-trial changes at
    ``events_*[offset[i]:offset[i + 1]]``. :func:`load_traces` reads it back.
    """
    traces = result.traces
    offsets = np.cumsum([0] + [trace.epochs.size for trace in traces])
    np.savez_compressed(
        path,
        config=np.array([trace.config for trace in traces]),
        seed=np.array([trace.seed for trace in traces], dtype=np.int64),
        offset=offsets.astype(np.int64),
        events_epochs=np.concatenate([trace.epochs for trace in traces] + [np.empty(0, np.int64)]),
        events_test_regret=np.concatenate([trace.test_regret for trace in traces] + [np.empty(0)]),
        events_val_regret=np.concatenate([trace.val_regret for trace in traces] + [np.empty(0)]),
        events_row=np.concatenate([trace.best_rows for trace in traces] + [np.empty(0, np.int64)]),
        **{field: np.array([getattr(trace, field) for trace in traces]) for field in _RUN_FIELDS},
        budget=np.int64(result.budget),
        source=np.array(result.source),
        n_epochs=np.int64(result.n_epochs),
        result_key=np.array(result.result_key),
        val_key=np.array(result.val_key),
        total_seconds=np.float64(result.seconds),
    )


def load_traces(path: str) -> SearchResult:
    """Read a file written by :func:`save_traces` back into a :class:`SearchResult`.

    The configurations must be registered under the same names. Files written before the keys
    ``n_epochs``/``result_key``/``val_key`` existed take them from the data file they name.
    """
    from optuna_sotl.curves._loader import load_curves
    from optuna_sotl.curves._search import RunTrace
    from optuna_sotl.curves._search_configs import search_configs

    with np.load(path, allow_pickle=False) as saved:
        data = {key: saved[key] for key in saved.files}
    names = [str(name) for name in data["config"]]
    offsets = data["offset"]
    traces = []
    for i, name in enumerate(names):
        events = slice(int(offsets[i]), int(offsets[i + 1]))
        traces.append(
            RunTrace(
                config=name,
                seed=int(data["seed"][i]),
                epochs=data["events_epochs"][events],
                test_regret=data["events_test_regret"][events],
                val_regret=data["events_val_regret"][events],
                best_rows=data["events_row"][events],
                **{
                    field: (float if field == "seconds" else int)(data[field][i])
                    for field in _RUN_FIELDS
                },
            )
        )
    source = str(data["source"])
    if "n_epochs" in data:
        n_epochs, result_key, val_key = (
            int(data["n_epochs"]),
            str(data["result_key"]),
            str(data["val_key"]),
        )
    else:
        curves = load_curves(source)
        n_epochs, result_key, val_key = curves.n_epochs, curves.result_key, curves.val_metric_key
    return SearchResult(
        traces=tuple(traces),
        configs=_configs_named(names, search_configs()),
        seeds=tuple(dict.fromkeys(int(seed) for seed in data["seed"])),
        budget=int(data["budget"]),
        source=source,
        n_epochs=n_epochs,
        result_key=result_key,
        val_key=val_key,
        seconds=float(data.get("total_seconds", math.nan)),
    )


def _configs_named(names: list[str], registered: list) -> tuple:
    known = {config.name for config in registered}
    unknown = sorted(set(names) - known)
    if unknown:
        raise ValueError(f"the traces name configurations that are not registered: {unknown}.")
    return tuple(config for config in registered if config.name in set(names))


def _like_for_like(summary: SearchSummary) -> list[str]:
    """Each SoTL pruner against the Optuna pruner it replaces, with the same sampler."""
    configs = {config.name: config for config in summary.result.configs}
    rows = []
    for config in summary.result.configs:
        counterpart = config.pruner.counterpart
        other = f"{config.sampler.name}/{counterpart}" if counterpart else None
        if config.family != "sotl" or other not in configs:
            continue
        ours, theirs = summary.config(config.name), summary.config(other)
        target = theirs.final_median("test")
        theirs_epochs = _first_epoch_at_most(theirs.quantiles["test"][1], target)
        ours_epochs = _first_epoch_at_most(ours.quantiles["test"][1], target)
        ratio = (
            f"{100 * ours_epochs / theirs_epochs:.0f} %"
            if ours_epochs is not None and theirs_epochs
            else "not reached"
        )
        rows.append(
            f"| {config.name} | {other} | {ours.final_median('test'):.2f} | {target:.2f} | "
            f"{ours_epochs if ours_epochs is not None else 'not reached'} | {theirs_epochs} | "
            f"{ratio} |"
        )
    if not rows:
        return []
    return [
        "",
        "### Like for like: each SoTL pruner against the Optuna pruner it replaces",
        "",
        "Same sampler, same seeds. Epochs: the first budget from which on the median test "
        "regret stays at or below the Optuna configuration's final median.",
        "",
        "| SoTL configuration | Optuna configuration | SoTL final median | Optuna final median "
        "| SoTL epochs | Optuna epochs | SoTL / Optuna epochs |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ]
