"""Would the self-calibrating estimator choose better if it calibrated on spared trials only?

    python benchmarks/diagnose_spared_calibration.py [--seeds 100] [--jobs 2] [--sets ...]

At a rung the self-calibrating estimator compares the training loss with the validation metric
on *calibration trials*: the trials that went on to a later step. Under a pruner those are the
survivors of the very ranking being calibrated, a selected sample. A trial spared by
``spare_share`` is chosen before anything is known of it and trains to the end, so the spared,
completed trials are an unselected sample. This diagnosis (not in the package) replays the
pruners with ``spare_share=0.2`` twice on the same seeds, once as built and once with the
calibration set at every step replaced by the spared completed trials, judged by their
objective, whenever at least ``min_calibration_trials`` of them exist; it also replays Optuna's
pruner of the same kind fed the validation accuracy. Writes
``results/diagnose_spared_calibration.md`` and ``.csv``.
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
from _common import DATA_DIR  # noqa: E402
from _common import paired_ci_text  # noqa: E402
from _common import results_path  # noqa: E402

from optuna_sotl.curves import _replay_calibration as calibration  # noqa: E402
from optuna_sotl.curves import _replay_pruners as replay_pruners  # noqa: E402
from optuna_sotl.curves import load_curves  # noqa: E402
from optuna_sotl.curves._replay import fast_replay  # noqa: E402
from optuna_sotl.curves._replay import ReplayData  # noqa: E402
from optuna_sotl.curves._replay_data import COMPLETE  # noqa: E402
from optuna_sotl.curves._search_configs import PRUNERS  # noqa: E402
from optuna_sotl.curves._search_configs import SAMPLERS  # noqa: E402
from optuna_sotl.estimators._signal_choice import choose_signal  # noqa: E402


SETS = {"spikenas": ("spikenas_cifar10.npz", 20000), "digits_nb201": ("digits_nb201.npz", 6000),
        "tabular_mlp": ("tabular_mlp.npz", 8000)}
# (ours with sparing, Optuna's baseline): each row replays the first as built and patched.
PAIRS = {"sha": ("sotl-sha-share20", "sha"), "sotl": ("sotl", "median")}
_SPARED_TARGET = -2  # the key's target for "calibrated on the spared completed trials"


def _patch() -> None:
    """Calibrate on spared completed trials: the replay's calibration learns which trials the
    sparing wrapper spared and answers from them alone once there are enough."""
    study_calibration = calibration._StudyCalibration
    original_begin, original_end = study_calibration.begin, study_calibration.end
    original_key, original_choose = study_calibration._key, study_calibration._choose
    sparing_begin = replay_pruners._Sparing.begin

    def begin_sparing(self: Any, number: int, row: int) -> None:
        sparing_begin(self, number, row)
        study = getattr(self._pruner, "_calibration", None)
        if study is not None:
            study.spared_now = self._spared_row is not None

    def begin(self: Any, row: int) -> None:
        original_begin(self, row)
        self.spared_now = False

    def end(self: Any, state: int) -> None:
        original_end(self, state)
        if state == COMPLETE and getattr(self, "spared_now", False) and self._last >= 0:
            self.__dict__.setdefault("spared_complete", []).append(self._row)

    def key(self: Any, t: int) -> tuple[int, int, int] | None:
        spared = self.__dict__.get("spared_complete", [])
        if len(spared) >= self._min_trials:
            return (t, _SPARED_TARGET, len(spared))
        return original_key(self, t)

    def choose(self: Any, t: int, target: int, n_members: int) -> float:
        if target != _SPARED_TARGET:
            return original_choose(self, t, target, n_members)
        rows = np.array(self.spared_complete, dtype=np.intp)
        metric = self._t.metric[rows, t]
        return choose_signal(
            self._t.sotl_e[rows, t], None if np.isnan(metric).any() else metric,
            self._t.objective[rows], min_trials=self._min_trials, prior=self._prior,
        ).metric_weight

    replay_pruners._Sparing.begin = begin_sparing  # type: ignore[method-assign]
    study_calibration.begin = begin  # type: ignore[method-assign]
    study_calibration.end = end  # type: ignore[method-assign]
    study_calibration._key = key  # type: ignore[method-assign]
    study_calibration._choose = choose  # type: ignore[method-assign]


_WORKER: dict[str, Any] = {}


def _init(path: str, patched: bool) -> None:
    if patched:
        _patch()
    _WORKER["data"] = ReplayData(load_curves(path))


def _regrets(task: tuple[str, str, int, int]) -> tuple[float, float]:
    sampler, name, seed, budget = task
    data = _WORKER["data"]
    trace = fast_replay(data, SAMPLERS[sampler], PRUNERS[name], seed, budget)
    if not trace.rows.size:
        return np.inf, np.inf
    last = trace.rows[-1]
    return float(data.val_regret[last]), float(data.test_regret[last])


def _run(path: str, patched: bool, tasks: list[Any], jobs: int, desc: str) -> np.ndarray:
    with multiprocessing.Pool(jobs, initializer=_init, initargs=(path, patched)) as pool:
        return np.array(list(tqdm(pool.imap(_regrets, tasks), total=len(tasks), desc=desc)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--samplers", default="random,re")
    parser.add_argument("--pairs", default=",".join(PAIRS))
    parser.add_argument("--heldout-dir", default=DATA_DIR)
    parser.add_argument("--name", default="diagnose_spared_calibration")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows: list[dict[str, object]] = []
    lines: list[str] = []
    for data_set in args.sets.split(","):
        file_name, budget = SETS[data_set]
        folder = DATA_DIR if data_set == "spikenas" else args.heldout_dir
        path = os.path.join(folder or "", file_name)
        for sampler in args.samplers.split(","):
            for pair in args.pairs.split(","):
                ours, theirs = PAIRS[pair]
                tasks = [(sampler, name, seed, budget) for name in (ours, theirs)
                         for seed in range(args.seeds)]
                built = _run(path, False, tasks, args.jobs, f"{data_set} {sampler} {pair}")
                spared_cal = _run(path, True, tasks[: args.seeds], args.jobs,
                                  f"{data_set} {sampler} {pair} spared calibration")
                as_built, baseline = built[: args.seeds], built[args.seeds:]
                for label, first, second in (
                    ("spared calibration − as built", spared_cal, as_built),
                    (f"spared calibration − `{theirs}`", spared_cal, baseline),
                    (f"as built − `{theirs}`", as_built, baseline),
                ):
                    cells = [paired_ci_text(first[:, k] - second[:, k], rng) for k in (0, 1)]
                    lines.append(f"| {data_set} | {sampler} | `{ours}`: {label} | "
                                 f"{cells[0]} | {cells[1]} |")
                    rows.append({
                        "set": data_set, "sampler": sampler, "pruner": ours,
                        "comparison": label, "seeds": args.seeds,
                        "val_diff": round(float(np.mean(first[:, 0] - second[:, 0])), 4),
                        "test_diff": round(float(np.mean(first[:, 1] - second[:, 1])), 4),
                    })
                print("\n".join(lines[-3:]), flush=True)
    with open(results_path(f"{args.name}.csv"), "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    header = [
        "# Calibrating on spared trials (a diagnosis, not in the package)",
        "",
        f"- Command: `python benchmarks/diagnose_spared_calibration.py --seeds {args.seeds} "
        f"--jobs {args.jobs} --sets {args.sets} --samplers {args.samplers} --pairs {args.pairs}` "
        "(held-out sets made by `make -C benchmarks heldout-data`)",
        "- Budgets: SpikeNAS 20000, digits 6000, tabular 8000 epochs; seeds 0.."
        f"{args.seeds - 1}, paired. Δ = first − second in points of regret at the full budget "
        "[95 % bootstrap CI]; bold: the CI excludes 0",
        "",
        "| set | sampler | comparison | Δ val | Δ test |",
        "|---|---|---|---|---|",
    ]
    with open(results_path(f"{args.name}.md"), "w", encoding="utf-8") as file:
        file.write("\n".join(header + lines) + "\n")
    print(results_path(f"{args.name}.md"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
