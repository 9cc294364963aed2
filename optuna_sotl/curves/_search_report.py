"""Statistics of a replayed search: means, medians and paired differences with bootstrap CIs.

Everything is computed from :class:`~optuna_sotl.curves.SearchResult` (regret of every
configuration and seed on a grid of budgets). Confidence intervals are 95 % percentile
bootstraps over seeds; every configuration is resampled with the same seeds, so differences
between configurations stay paired.
"""

from __future__ import annotations

import dataclasses
import io
import math

import numpy as np

from optuna_sotl.curves._search import SearchResult


N_BOOTSTRAP = 2000
# Stands in for "no completed trial yet" (infinite regret) inside the matrix products.
_NO_RESULT = 1e6


@dataclasses.dataclass(frozen=True)
class SearchStats:
    """Per-configuration statistics; see :func:`search_stats`.

    ``rows``: one dict per configuration and checkpoint budget (the CSV rows);
    ``curves[name]``: ``(mean, low, high)`` arrays of test and val regret over ``grid``;
    ``reference[sampler, kind]``: the Optuna configuration with the lowest final mean regret
    (``kind`` ``"test"`` or ``"val"``) among that sampler's.
    """

    result: SearchResult
    rows: list[dict[str, object]]
    curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]
    reference: dict[tuple[str, str], str]
    per_config: dict[str, dict[str, object]]

    def to_csv(self) -> str:
        out = io.StringIO()
        columns = list(self.rows[0])
        out.write(",".join(columns) + "\n")
        for row in self.rows:
            out.write(",".join(_csv(row[c]) for c in columns) + "\n")
        return out.getvalue()

    def row(self, name: str, epochs: int) -> dict[str, object]:
        for row in self.rows:
            if row["configuration"] == name and row["epochs"] == epochs:
                return row
        raise KeyError((name, epochs))

    def to_markdown(self) -> str:
        return _markdown(self)


def checkpoints(budget: int) -> list[int]:
    return [round(budget / 8), round(budget / 4), round(budget / 2), budget]


def search_stats(result: SearchResult, seed: int = 0) -> SearchStats:
    """Bootstrap statistics of every configuration of ``result`` (see :class:`SearchStats`)."""
    with np.errstate(invalid="ignore"):  # "no result yet" (inf) rows interpolate to NaN/inf
        return _search_stats(result, seed)


def _search_stats(result: SearchResult, seed: int) -> SearchStats:
    n_seeds = len(result.seeds)
    rng = np.random.default_rng(seed)
    draws = rng.integers(n_seeds, size=(N_BOOTSTRAP, n_seeds))
    # Resampling weights: mean over a resample = weights @ values / n_seeds (fast, paired).
    weights = np.zeros((N_BOOTSTRAP, n_seeds))
    np.add.at(weights, (np.repeat(np.arange(N_BOOTSTRAP), n_seeds), draws.ravel()), 1.0)
    weights /= n_seeds
    grid = result.grid
    checks = checkpoints(result.budget)
    check_index = [int(np.searchsorted(grid, c)) for c in checks]
    names = result.names
    regrets = {"test": result.test, "val": result.val}
    finite = {k: np.minimum(v, _NO_RESULT) for k, v in regrets.items()}
    boot_means = {k: np.einsum("bs,csg->cbg", weights, v) for k, v in finite.items()}

    reference: dict[tuple[str, str], str] = {}
    for sampler in dict.fromkeys(c.sampler_name for c in result.configs):
        optuna_ids = [
            i for i, c in enumerate(result.configs)
            if c.sampler_name == sampler and c.family == "optuna"
        ]
        for kind in ("test", "val"):
            if optuna_ids:
                best = min(optuna_ids, key=lambda i: finite[kind][i, :, -1].mean())
                reference[sampler, kind] = names[best]

    curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    per_config: dict[str, dict[str, object]] = {}
    rows: list[dict[str, object]] = []
    for i, config in enumerate(result.configs):
        curves[config.name] = {}
        info: dict[str, object] = {}
        for kind in ("test", "val"):
            mean = finite[kind][i].mean(axis=0)
            low, high = np.percentile(boot_means[kind][i], [2.5, 97.5], axis=0)
            curves[config.name][kind] = (
                np.where(mean >= _NO_RESULT, np.inf, mean), low, high
            )
            ref = reference.get((config.sampler_name, kind))
            if ref is not None:
                j = names.index(ref)
                target = finite[kind][j, :, -1].mean()
                boot_targets = boot_means[kind][j][:, -1]
                point = _epochs_to(mean, target, grid)
                boot = np.array([
                    _epochs_to(curve, t, grid)
                    for curve, t in zip(boot_means[kind][i], boot_targets)
                ])
                info[f"{kind}_target"] = float(target)
                info[f"{kind}_target_config"] = ref
                info[f"epochs_to_{kind}_target"] = point
                info[f"epochs_to_{kind}_target_ci"] = tuple(
                    np.percentile(boot, [2.5, 97.5]).tolist()
                )
        counts = result.counts[i]
        proposed = counts[:, 4].sum()
        info["top1_kept"] = float(counts[:, 5].sum() / proposed) if proposed else math.nan
        per_config[config.name] = info

        for c, g in zip(checks, check_index):
            row: dict[str, object] = {
                "configuration": config.name,
                "sampler": config.sampler_name,
                "pruner": config.pruner_name,
                "family": config.family,
                "epochs": c,
                "seeds": n_seeds,
            }
            for kind in ("test", "val"):
                values = regrets[kind][i, :, g]
                mean = float(values.mean())
                low, high = np.percentile(boot_means[kind][i][:, g], [2.5, 97.5])
                medians = np.median(finite[kind][i, :, g][draws], axis=1)
                m_low, m_high = np.percentile(medians, [2.5, 97.5])
                row[f"{kind}_regret_mean"] = mean
                row[f"{kind}_regret_ci_low"] = _inf(low)
                row[f"{kind}_regret_ci_high"] = _inf(high)
                row[f"{kind}_regret_median"] = float(np.median(values))
                row[f"{kind}_regret_median_ci_low"] = _inf(m_low)
                row[f"{kind}_regret_median_ci_high"] = _inf(m_high)
            for kind in ("test", "val"):
                ref = reference.get((config.sampler_name, kind))
                row[f"{kind}_diff_vs"] = ref or ""
                if ref is None:
                    row[f"{kind}_diff_mean"] = math.nan
                    row[f"{kind}_diff_ci_low"] = row[f"{kind}_diff_ci_high"] = math.nan
                    continue
                j = names.index(ref)
                diff = finite[kind][i, :, g] - finite[kind][j, :, g]
                boot = weights @ diff
                low, high = np.percentile(boot, [2.5, 97.5])
                row[f"{kind}_diff_mean"] = float(diff.mean())
                row[f"{kind}_diff_ci_low"] = float(low)
                row[f"{kind}_diff_ci_high"] = float(high)
            for kind in ("test", "val"):
                row[f"epochs_to_{kind}_target"] = info.get(f"epochs_to_{kind}_target", math.nan)
                ci = info.get(f"epochs_to_{kind}_target_ci", (math.nan, math.nan))
                row[f"epochs_to_{kind}_target_ci_low"] = ci[0]  # type: ignore[index]
                row[f"epochs_to_{kind}_target_ci_high"] = ci[1]  # type: ignore[index]
            row["top1_kept"] = info["top1_kept"]
            row["trials_median"] = float(np.median(counts[:, 0]))
            row["completed_median"] = float(np.median(counts[:, 1]))
            row["pruned_median"] = float(np.median(counts[:, 2]))
            rows.append(row)
    return SearchStats(result, rows, curves, reference, per_config)


def _epochs_to(curve: np.ndarray, target: float, grid: np.ndarray) -> float:
    """The first budget from which on ``curve`` stays at or below ``target``; inf if never."""
    above = np.nonzero(curve > target + 1e-12)[0]
    if above.size == 0:
        return float(grid[0])
    if above[-1] == grid.size - 1:
        return math.inf
    return float(grid[above[-1] + 1])


def _inf(value: float) -> float:
    return math.inf if value >= _NO_RESULT else float(value)


def _csv(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if math.isinf(value):
            return "inf"
        return f"{value:.4f}"
    return str(value)


def fmt_ci(mean: float, low: float, high: float, digits: int = 3) -> str:
    if not math.isfinite(mean):
        return "no result"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def fmt_epochs(point: float, ci: tuple[float, float], budget: int) -> str:
    if not math.isfinite(point):
        return "not reached"

    def one(value: float) -> str:
        return f"{100 * value / budget:.0f} %" if math.isfinite(value) else "never"

    return f"{point:.0f} ({one(point)}) [{one(ci[0])}, {one(ci[1])}]"


def _markdown(stats: SearchStats) -> str:
    result = stats.result
    budget = result.budget
    half = checkpoints(budget)[2]
    lines = [
        (f"Replayed search on `{result.source}`: budget {budget} epochs ({result.n_epochs} per "
        f"full training), {len(result.seeds)} seeds ({result.seeds[0]}..{result.seeds[-1]}) "
        f"per configuration, {len(result.configs)} configurations; {result.seconds:.0f} s "
        f"wall, {result.cpu_seconds:.0f} s CPU in the workers."),
        "",
        ("Regret in points: test = best `test_acc` in the file − that of the study's pick "
        "(best final validation result among the trials trained to the end); val = the same "
        f"on the final `{result.val_key}`. Mean [95 % bootstrap CI] over seeds. Δ: paired "
        "difference of the mean against the best Optuna configuration of the same sampler "
        "(lowest final mean of that regret). Epochs to target: the first budget from which on "
        "the mean regret stays at or below that configuration's final mean (% of the budget, "
        "[95 % CI])."),
        "",
    ]
    for sampler in dict.fromkeys(c.sampler_name for c in result.configs):
        ref_test = stats.reference.get((sampler, "test"))
        ref_val = stats.reference.get((sampler, "val"))
        lines += [
            f"### Sampler `{sampler}`",
            "",
            (f"Best Optuna configuration by final mean test regret: `{ref_test}`; by final mean "
            f"validation regret: `{ref_val}`. Sorted by final mean validation regret."),
            "",
            (f"| configuration | val @ {half} | val @ {budget} | Δval @ {budget} | epochs to "
            f"val target | test @ {half} | test @ {budget} | Δtest @ {budget} | epochs to test "
            "target | top-1 % kept |"),
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        names = [c.name for c in result.configs if c.sampler_name == sampler]
        names.sort(key=lambda n: stats.row(n, budget)["val_regret_mean"])  # type: ignore[arg-type,return-value]
        for name in names:
            r_half, r_end = stats.row(name, half), stats.row(name, budget)
            info = stats.per_config[name]

            kept = info["top1_kept"]
            lines.append(
                f"| {name} | {_cell(r_half, 'val')} | {_cell(r_end, 'val')} | "
                f"{_diff(r_end, 'val')} | {_epochs(info, 'val', budget)} | "
                f"{_cell(r_half, 'test')} | {_cell(r_end, 'test')} | {_diff(r_end, 'test')} | "
                f"{_epochs(info, 'test', budget)} | {100 * kept:.0f} % |"  # type: ignore[operator]
            )
        lines.append("")
    return "\n".join(lines) + "\n"


def _cell(row: dict[str, object], kind: str) -> str:
    return fmt_ci(row[f"{kind}_regret_mean"], row[f"{kind}_regret_ci_low"],  # type: ignore[arg-type]
                  row[f"{kind}_regret_ci_high"])  # type: ignore[arg-type]


def _diff(row: dict[str, object], kind: str) -> str:
    if not row[f"{kind}_diff_vs"]:
        return "—"
    return fmt_ci(row[f"{kind}_diff_mean"], row[f"{kind}_diff_ci_low"],  # type: ignore[arg-type]
                  row[f"{kind}_diff_ci_high"], 3)  # type: ignore[arg-type]


def _epochs(info: dict[str, object], kind: str, budget: int) -> str:
    if f"epochs_to_{kind}_target" not in info:
        return "—"
    return fmt_epochs(info[f"epochs_to_{kind}_target"],  # type: ignore[arg-type]
                      info[f"epochs_to_{kind}_target_ci"], budget)  # type: ignore[arg-type]


def plot_search(
    stats: SearchStats | dict[str, SearchStats], path: str, names_by_sampler: dict[str, list[str]]
) -> None:
    """Mean regret against epochs with 95 % CI bands: one row per sampler, val and test.

    ``stats``: one :class:`SearchStats` holding every sampler, or one per sampler.
    """
    by_sampler = stats if isinstance(stats, dict) else {s: stats for s in names_by_sampler}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samplers = list(names_by_sampler)
    fig, axes = plt.subplots(len(samplers), 2, figsize=(13, 4.2 * len(samplers)), squeeze=False)
    for r, sampler in enumerate(samplers):
        grid = by_sampler[sampler].result.grid
        for c, kind in enumerate(("val", "test")):
            ax = axes[r, c]
            for name in names_by_sampler[sampler]:
                mean, low, high = by_sampler[sampler].curves[name][kind]
                ok = np.isfinite(mean)
                optuna_family = name.split("/", 1)[1].startswith(("sha", "median", "hyper"))
                style = "--" if optuna_family else "-"
                line, = ax.plot(grid[ok], mean[ok], style, label=name, lw=1.4)
                ax.fill_between(grid[ok], low[ok], high[ok], color=line.get_color(), alpha=0.15)
            ax.set_title(f"{sampler}: {kind} regret (mean, 95 % CI)")
            ax.set_xlabel("epochs spent")
            ax.set_ylabel("regret (points)")
            ax.set_ylim(bottom=0)
            ax.set_xlim(grid[0], grid[-1])
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_result(result: SearchResult, path: str) -> None:
    """Save the regret matrices (the data behind the tables and the plot) as ``.npz``."""
    np.savez_compressed(
        path, names=np.array(result.names), seeds=np.array(result.seeds), grid=result.grid,
        test=result.test, val=result.val, counts=result.counts, budget=result.budget,
        seconds=result.seconds, cpu_seconds=result.cpu_seconds,
    )
