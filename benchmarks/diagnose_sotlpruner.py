"""Why does ``SoTLPruner()`` lose to ``MedianPruner`` under regularised evolution on a set?

A diagnosis, not a product benchmark: each *variant* changes one thing in the fast replay of
``SoTLPruner()`` (the self-calibrating estimator over SoTL) and the replay is run on the same
paired seeds as ``MedianPruner`` fed the validation metric. A variant that closes the gap names
the cause; one that does not rules it out. Variants (patched into the replay's internals for this
run only, nothing in the package changes):

- ``re-ranks-by-metric``: regularised evolution ranks pruned trials by their validation metric
  (as it does for Optuna's pruners) instead of the training loss (``--sampler re`` only);
- ``distinct-calibration``: the calibration keeps one row per architecture (evolution proposes
  the same architecture many times, so the bootstrap may count one several times);
- ``completed-target``: the calibration never judges by a later step's metric, only by the
  completed trials' objective;
- ``metric-only``: the pruner ranks by the validation metric alone (weight 1): SoTLPruner's rule
  fed the metric, which isolates the rule from the signal.

Usage::

    python benchmarks/diagnose_sotlpruner.py --data $OPTUNA_SOTL_DATA/tabular_mlp.npz \\
        --budget 8000 --seeds 100 --sampler re --name diagnose_sotlpruner_tabular_mlp_re
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import csv
import os
import sys
import time
from typing import Any
from unittest import mock

import numpy as np
from tqdm.auto import tqdm


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import data_label  # noqa: E402
from _common import header  # noqa: E402
from _common import require_data  # noqa: E402
from _common import results_path  # noqa: E402

from optuna_sotl.curves import _replay_calibration as calibration  # noqa: E402
from optuna_sotl.curves import _replay_samplers as samplers  # noqa: E402
from optuna_sotl.curves._loader import load_curves  # noqa: E402
from optuna_sotl.curves._replay import fast_replay  # noqa: E402
from optuna_sotl.curves._replay_data import ReplayData  # noqa: E402
from optuna_sotl.curves._search_configs import search_configs  # noqa: E402


def _re_ranks_by_metric(original: Any) -> Any:
    def init(self: Any, data: Any, seed: int, population: int, tournament: int, signal: str,
             bracket_of: Any = None) -> None:
        original(self, data, seed, population, tournament, "val_metric", bracket_of)

    return init


def _distinct_calibration(original: Any) -> Any:
    def choose(self: Any, t: int, target: int, n_members: int) -> float:
        tables = self._t
        if target < 0:
            rows = np.array(self._complete_rows, dtype=np.intp)
        else:
            rows = np.array(
                [r for r, last in zip(self._finished_rows, self._finished_last) if last >= target],
                dtype=np.intp,
            )
        _, first = np.unique(rows, return_index=True)
        rows = rows[np.sort(first)]
        later = tables.objective[rows] if target < 0 else tables.metric[rows, target]
        metric = tables.metric[rows, t]
        return calibration.choose_signal(
            tables.sotl_e[rows, t], None if np.isnan(metric).any() else metric, later,
            min_trials=self._min_trials, prior=self._prior,
        ).metric_weight

    return choose


def _completed_target(original: Any) -> Any:
    def key(self: Any, t: int) -> tuple[int, int, int] | None:
        n_members = len(self._complete_rows)
        return None if n_members < self._min_trials else (t, -1, n_members)

    return key


def _metric_only(original: Any) -> Any:
    def decide(self: Any, t: int, pruner: Any, by_sotl_e: bool) -> bool:
        if self._row_nan[t] or self._n_nan[t]:
            return by_sotl_e
        step = self._steps[t]
        step.update()
        values = step.values[:, : step.n]
        finite = ~np.isinf(values[0])
        return bool(pruner.prunes(self._row_metric[t], np.where(finite, values[1], np.inf)))

    return decide


VARIANTS: dict[str, tuple[Any, str, Callable[[Any], Any]] | None] = {
    "as built": None,
    "re-ranks-by-metric": (samplers._RegularizedEvolution, "__init__", _re_ranks_by_metric),
    "distinct-calibration": (calibration._StudyCalibration, "_choose", _distinct_calibration),
    "completed-target": (calibration._StudyCalibration, "_key", _completed_target),
    "metric-only": (calibration._StudyCalibration, "decide", _metric_only),
}


def _regrets(data: ReplayData, config: Any, seeds: list[int], budget: int) -> np.ndarray:
    out = np.empty((len(seeds), 2))
    for i, seed in enumerate(seeds):
        trace = fast_replay(data, config.sampler, config.pruner, seed, budget)
        last = trace.rows[-1] if trace.rows.size else None
        out[i] = (np.inf, np.inf) if last is None else (data.val_regret[last],
                                                          data.test_regret[last])
    return out


def _ci(values: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    means = values[rng.integers(0, values.size, size=(5000, values.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--budget", type=int, required=True)
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--sampler", default="re", choices=("random", "re"))
    parser.add_argument("--name", required=True)
    args = parser.parse_args()
    path = require_data(args.data)
    data = ReplayData(load_curves(path))
    seeds = list(range(args.seeds))
    (median,) = search_configs([f"{args.sampler}/median"])
    (sotl,) = search_configs([f"{args.sampler}/sotl"])
    started = time.process_time()
    baseline = _regrets(data, median, seeds, args.budget)
    rng = np.random.default_rng(0)
    rows = []
    # Under random sampling there is no evolution whose ranking could change.
    variants = [v for v in VARIANTS if args.sampler == "re" or v != "re-ranks-by-metric"]
    for variant in tqdm(variants, desc="variants"):
        patch = VARIANTS[variant]
        if patch is None:
            regrets = _regrets(data, sotl, seeds, args.budget)
        else:
            owner, name, make = patch
            with mock.patch.object(owner, name, make(getattr(owner, name))):
                regrets = _regrets(data, sotl, seeds, args.budget)
        row: dict[str, object] = {"variant": variant, "seeds": len(seeds)}
        for column, kind in enumerate(("val", "test")):
            difference = regrets[:, column] - baseline[:, column]
            low, high = _ci(difference, rng)
            row |= {
                f"{kind}_regret_mean": round(float(regrets[:, column].mean()), 4),
                f"{kind}_minus_median_mean": round(float(difference.mean()), 4),
                f"{kind}_minus_median_ci_low": round(low, 4),
                f"{kind}_minus_median_ci_high": round(high, 4),
            }
        rows.append(row)
    with open(results_path(f"{args.name}.csv"), "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    extra = [
        f"Data: {data_label(path)}; budget {args.budget} epochs; sampler `{args.sampler}`; "
        f"seeds 0..{args.seeds - 1}, paired; {time.process_time() - started:.0f} s CPU",
        f"Baseline `{args.sampler}/median` (MedianPruner() fed val_acc): val regret "
        f"{baseline[:, 0].mean():.3f}, test regret {baseline[:, 1].mean():.3f}",
    ]
    lines = [header("SoTLPruner() against MedianPruner: one change at a time", extra)]
    lines.append("Mean regret in points; Δ = SoTLPruner variant − MedianPruner, paired, "
                 "[95 % bootstrap CI over seeds]. Variants: see the script's docstring.\n")
    lines.append("| variant | val regret | Δ val | test regret | Δ test |")
    lines.append("|---|---|---|---|---|")
    for row in rows:
        cells = [f"`{row['variant']}`"]
        for kind in ("val", "test"):
            cells.append(f"{row[f'{kind}_regret_mean']:.3f}")
            low, high = row[f"{kind}_minus_median_ci_low"], row[f"{kind}_minus_median_ci_high"]
            cells.append(f"{row[f'{kind}_minus_median_mean']:+.3f} [{low:+.3f}, {high:+.3f}]")
        lines.append("| " + " | ".join(cells) + " |")
    with open(results_path(f"{args.name}.md"), "w", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
