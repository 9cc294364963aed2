"""Would sparing by a share of the epochs do better than one trial in K?

    python benchmarks/diagnose_spare_share.py --share 0.2 [--seeds 100] [--jobs 2]

``SoTLPruner(spare_every=K)`` spares one trial in K, so what sparing costs follows how hard the
pruner prunes (a third to a half of the budget at K = 20, ``results/spare.md``). This diagnosis
replayed another rule, then not in the package (now ``SoTLPruner()``'s default): a trial is
spared when it starts while the spared trials have taken less than ``--share`` of the epochs so
far (the trial's first epoch counted). It wraps the replay's array pruners
(``SoTLPruner(spare_share=0)`` and ``MedianPruner()``) in the script
only, on the seeds of the ``make -C benchmarks spare`` runs, and reads those runs' saved
per-seed regrets for the other configurations, so every difference is paired.
Writes ``results/diagnose_spare_share.md`` and ``.csv``.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import sys
from typing import Any

import numpy as np
from tqdm import tqdm


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import paired_ci_text  # noqa: E402
from _common import results_path  # noqa: E402
from spare_report import saved_runs  # noqa: E402

from optuna_sotl.curves import load_curves  # noqa: E402
from optuna_sotl.curves._replay import fast_replay  # noqa: E402
from optuna_sotl.curves._replay import PrunerSpec  # noqa: E402
from optuna_sotl.curves._replay import ReplayData  # noqa: E402
from optuna_sotl.curves._search_configs import PRUNERS  # noqa: E402
from optuna_sotl.curves._search_configs import SAMPLERS  # noqa: E402


# "sotl-unspared": SoTLPruner as it was when this diagnosis ran, before spare_share=0.2 became
# its default (the rule this script replays, now built in the package).
SAVED = ("sotl-unspared", "median", "sotl-spare20", "median-spare20")


class _ShareSparing:
    """An array pruner that spares a trial starting while spared trials took < ``share`` of the
    epochs so far; a spared trial is pruned only on a non-finite value, as with spare_every."""

    def __init__(self, pruner: Any, finite: np.ndarray, share: float) -> None:
        self._pruner, self._finite, self._share = pruner, finite, share
        self._spared_epochs = self._epochs = self._current = 0

    def begin(self, number: int, row: int) -> None:
        self._spared = self._spared_epochs < self._share * (self._epochs + 1)
        self._row, self._current = row, 0
        self._pruner.begin(number, row)

    def step(self, t: int) -> bool:
        self._current += 1
        prune = self._pruner.step(t)
        return prune and not (self._spared and self._finite[self._row, t])

    def end(self, state: int) -> None:
        self._epochs += self._current
        self._spared_epochs += self._current if self._spared else 0
        self._pruner.end(state)


_WORKER: dict[str, Any] = {}


def _init(path: str, share: float) -> None:
    _WORKER.update(data=ReplayData(load_curves(path)), share=share)


def _regrets(task: tuple[str, str, int, int]) -> tuple[float, float, float]:
    sampler, name, seed, budget = task
    data, share = _WORKER["data"], _WORKER["share"]
    spec = PRUNERS[name]
    finite = data.loss_finite if spec.family == "sotl" else np.isfinite(data.val)

    class _Spec(PrunerSpec):
        def build_array(self, data: ReplayData, study_name: str) -> Any:
            return _ShareSparing(spec.build_array(data, study_name), finite, share)

    trace = fast_replay(data, SAMPLERS[sampler], _Spec(spec.kind, spec.options), seed, budget,
                        log=True)
    epochs = sum(last + 1 for _, _, last in trace.log)
    if not trace.rows.size:
        return np.inf, np.inf, epochs
    last = trace.rows[-1]
    return float(data.val_regret[last]), float(data.test_regret[last]), float(epochs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--share", type=float, default=0.2)
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows, lines = [], []
    for data_set, sampler, saved in saved_runs():
        names = [config.pruner_name for config in saved.configs]
        seeds = list(saved.seeds)[: args.seeds]
        regrets = {
            name: (saved.val[names.index(name), : len(seeds), -1],
                   saved.test[names.index(name), : len(seeds), -1])
            for name in SAVED
        }
        for name, with_share in (("sotl-unspared", "sotl-share"), ("median", "median-share")):
            tasks = [(sampler, name, seed, saved.budget) for seed in seeds]
            with multiprocessing.Pool(
                args.jobs, initializer=_init, initargs=(saved.source, args.share)
            ) as pool:
                out = np.array(list(tqdm(
                    pool.imap(_regrets, tasks), total=len(tasks),
                    desc=f"{data_set} {sampler} {name}",
                )))
            regrets[with_share] = (out[:, 0], out[:, 1])
        for label, first, second in (
            ("share − as built", "sotl-share", "sotl-unspared"),
            ("share − spare_every=20", "sotl-share", "sotl-spare20"),
            ("share − `MedianPruner()`", "sotl-share", "median"),
            ("share − `MedianPruner` by the same share", "sotl-share", "median-share"),
            ("`MedianPruner` by the share − `MedianPruner()`", "median-share", "median"),
        ):
            cells = [
                paired_ci_text(regrets[first][k] - regrets[second][k], rng) for k in (0, 1)
            ]
            lines.append(f"| {data_set} | {sampler} | {label} | {cells[0]} | {cells[1]} |")
            rows.append({"set": data_set, "sampler": sampler, "comparison": label,
                         "seeds": len(seeds), "share": args.share,
                         "val_diff": round(float(np.mean(
                             regrets[first][0] - regrets[second][0])), 4),
                         "test_diff": round(float(np.mean(
                             regrets[first][1] - regrets[second][1])), 4)})
        means = {k: (float(np.mean(v[0])), float(np.mean(v[1]))) for k, v in regrets.items()}
        lines.append(
            f"| {data_set} | {sampler} | mean val / test regret | "
            + "; ".join(f"`{k}` {v[0]:.3f}" for k, v in means.items()) + " | "
            + "; ".join(f"{v[1]:.3f}" for v in means.values()) + " |"
        )
    with open(results_path("diagnose_spare_share.csv"), "w", newline="",
              encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    header = [
        "# Sparing by a share of the epochs (a diagnosis, not in the package)",
        "",
        f"- Command: `python benchmarks/diagnose_spare_share.py --share {args.share} "
        f"--seeds {args.seeds} --jobs {args.jobs}` after `make -C benchmarks spare` "
        "(machine, software and data SHA-256: the `spare_*.md` files of that run)",
        f"- A trial is spared when it starts while spared trials took less than {args.share:.0%} "
        "of the epochs so far. Δ = first − second in points of regret at the full budget, paired "
        "seeds, [95 % bootstrap CI]; bold: the CI excludes 0",
        "",
        "| set | sampler | comparison | Δ val | Δ test |",
        "|---|---|---|---|---|",
    ]
    with open(results_path("diagnose_spare_share.md"), "w", encoding="utf-8") as file:
        file.write("\n".join(header + lines) + "\n")
    print(results_path("diagnose_spare_share.md"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
