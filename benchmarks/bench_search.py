"""Replayed architecture search on recorded curves: Optuna's pruners against SoTLPruner.

Writes results/search.md, search.png, search.csv and search_traces.npz (every run's trace, the
data behind the table and the plot).
"""

from __future__ import annotations

import argparse
import os
import sys
import time


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import DEFAULT_DATA  # noqa: E402
from _common import header  # noqa: E402
from _common import require_data  # noqa: E402
from _common import results_path  # noqa: E402


NOTES = """\
## How the search is replayed

- Each configuration is a real Optuna study (in-memory storage, direction: maximise the final
  validation accuracy) driven with `study.ask()` / `study.tell()`. A trial suggests each edge of
  the cell as a categorical parameter (the file's `edges` / `ops`), looks the architecture up, and
  replays its recorded curves one epoch per step; every replayed epoch costs one epoch of budget.
- Pruners of the `optuna` family get `trial.report(val_acc, epoch)` and `trial.should_prune()`,
  how users configure Optuna's pruners today. Pruners of the `sotl` family replay each epoch
  through the real `SoTLReporter` (`add(train_loss)`, then `end_epoch(val_loss=...,
  val_metric=val_acc)`), so their intermediate values are training losses. `none` never prunes.
  A sampler that reads intermediate values as training losses (`tpe-sotl`, `re`) is paired only
  with the `sotl` family and `none`. Every configuration gets the same seeds, so with
  RandomSampler all pruners see the same sequence of proposals. Arguments: see Configurations.
- An architecture missing from the file (690 of the 15,625 of the space) is told to the study as
  PRUNED before any step: it costs no epoch and no pruner compares against it. A trial still
  running when the budget runs out is told FAIL and is not a result.
- Regret: the study's best completed trial by final validation accuracy (earliest among ties,
  as `study.best_trial`); test regret = best `test_acc` in the file − its `test_acc`; validation
  regret = best final `val_acc` in the file − its final `val_acc`. The epochs columns are the
  first budget from which on the configuration's **median** test regret stays at or below the
  target (the best Optuna pruner configuration's final median, or in the like-for-like table the
  paired Optuna configuration's).
- Caveat for `tpe/<sotl pruner>`: plain `TPESampler` ranks PRUNED trials by their last
  intermediate value in the study's direction, i.e. it reads a pruned trial's training loss as
  if higher were better. This only matters while fewer trials have completed than TPE's "good"
  group holds (at most 25); it is measured here as users would run it today, and `tpe-sotl`
  (SoTLSampler around the same TPE) is the corrected variant.
"""


def configuration_lines(summary: object) -> list[str]:
    """One line per sampler and pruner entry the results hold, from the registry's descriptions."""
    configs = summary.result.configs  # type: ignore[attr-defined]
    samplers = {config.sampler.name: config.sampler for config in configs}
    pruners = {config.pruner.name: config.pruner for config in configs}
    lines = ["## Configurations", ""]
    lines += [f"- sampler `{s.name}`: {s.description}" for s in samplers.values()]
    lines += [
        f"- pruner `{p.name}` ({p.family}; reports `{p.report}`): {p.description}"
        for p in pruners.values()
    ]
    return lines + [""]


class PartialSaver:
    """Saves the runs finished so far every minute, so that a stopped search keeps them."""

    def __init__(self, path: str, args: argparse.Namespace, configs: list[str] | None) -> None:
        from optuna_sotl.curves import load_curves
        from optuna_sotl.curves import search_configs

        self.path, self.args = path, args
        self.configs = tuple(search_configs(configs))
        self.curves = load_curves(args.data)
        self.traces: list = []
        self.started = self.saved = time.perf_counter()

    def __call__(self, trace: object) -> None:
        self.traces.append(trace)
        if time.perf_counter() - self.saved >= 60:
            self.save()

    def save(self) -> None:
        from optuna_sotl.curves import SearchResult
        from optuna_sotl.curves._search_report import save_traces

        result = SearchResult(
            traces=tuple(self.traces),
            configs=self.configs,
            seeds=tuple(sorted({trace.seed for trace in self.traces})),
            budget=self.args.budget,
            source=self.curves.source,
            n_epochs=self.curves.n_epochs,
            result_key=self.curves.result_key,
            val_key=self.curves.val_metric_key,
            seconds=time.perf_counter() - self.started,
        )
        save_traces(result, self.path)
        self.saved = time.perf_counter()


def whole_seeds(result: object) -> tuple[object, int]:
    """Keep the seeds every configuration finished (a stopped search leaves a partial seed)."""
    import dataclasses

    names = {config.name for config in result.configs}  # type: ignore[attr-defined]
    done: dict[int, set[str]] = {}
    for trace in result.traces:  # type: ignore[attr-defined]
        done.setdefault(trace.seed, set()).add(trace.config)
    seeds = tuple(seed for seed in sorted(done) if done[seed] == names)
    traces = tuple(t for t in result.traces if t.seed in seeds)  # type: ignore[attr-defined]
    # Config-major, as run_search returns them.
    order = {config.name: i for i, config in enumerate(result.configs)}  # type: ignore[attr-defined]
    traces = tuple(sorted(traces, key=lambda t: (order[t.config], t.seed)))
    dropped = len(result.traces) - len(traces)  # type: ignore[attr-defined]
    return dataclasses.replace(result, traces=traces, seeds=seeds), dropped


def merge_results(results: list) -> object:
    """One result holding the runs of several (same budget and data, other configurations)."""
    import dataclasses

    from optuna_sotl.curves import search_configs

    first = results[0]
    for other in results[1:]:
        same_file = os.path.basename(other.source) == os.path.basename(first.source)
        if other.budget != first.budget or not same_file:
            raise ValueError("traces to merge must share the budget and the data file.")
    traces = tuple(trace for result in results for trace in result.traces)
    names = {trace.config for trace in traces}
    return dataclasses.replace(
        first,
        traces=traces,
        configs=tuple(config for config in search_configs() if config.name in names),
        seeds=tuple(sorted({trace.seed for trace in traces})),
        seconds=sum(result.seconds for result in results),
    )


def merge(earlier: object, later: object | None) -> object:
    """One result holding the runs of both, config-major like run_search's."""
    import dataclasses

    if later is None:
        return earlier
    traces = earlier.traces + later.traces  # type: ignore[attr-defined]
    order = {config.name: i for i, config in enumerate(earlier.configs)}  # type: ignore[attr-defined]
    return dataclasses.replace(
        earlier,
        traces=tuple(sorted(traces, key=lambda t: (order[t.config], t.seed))),
        seeds=tuple(sorted(set(earlier.seeds) | set(later.seeds))),  # type: ignore[attr-defined]
        seconds=earlier.seconds + later.seconds,  # type: ignore[attr-defined]
    )


def main() -> int:
    from optuna_sotl.curves._plots import plot_search
    from optuna_sotl.curves._search import run_search
    from optuna_sotl.curves._search_report import load_traces
    from optuna_sotl.curves._search_report import save_traces
    from optuna_sotl.curves._search_report import summarize_search

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--budget", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--configs", default=None, help="comma-separated; default all")
    parser.add_argument("--name", default="search", help="results file stem")
    parser.add_argument("--note", action="append", default=[], help="extra header line")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the whole seeds already in results/<name>_traces.npz and run only the others",
    )
    parser.add_argument(
        "--from-traces",
        metavar="FILE.npz",
        action="append",
        help="rebuild the markdown, CSV and plot from saved traces instead of searching; "
        "repeat to merge runs of other configurations with the same seeds and budget",
    )
    args = parser.parse_args()
    if not args.from_traces:
        args.data = require_data(args.data)

    stem = args.name
    traces_path = results_path(f"{stem}_traces.npz")
    if args.from_traces:
        result, dropped = whole_seeds(merge_results([load_traces(p) for p in args.from_traces]))
        names = ", ".join(f"`{os.path.basename(path)}`" for path in args.from_traces)
        if [os.path.abspath(path) for path in args.from_traces] != [traces_path]:
            save_traces(result, traces_path)  # the traces the markdown points to
        extra = [
            f"Rebuilt from the saved traces {names} "
            "(the search itself is not rerun)"
            + (f"; {dropped} runs of unfinished seeds left out" if dropped else "")
        ]
    else:
        configs = args.configs.split(",") if args.configs else None
        saver = PartialSaver(traces_path, args, configs)
        seeds = list(range(args.seeds))
        earlier = None
        if args.resume and os.path.exists(traces_path):
            earlier, _ = whole_seeds(load_traces(traces_path))
            names = [config.name for config in saver.configs]
            if [c.name for c in earlier.configs] != names or earlier.budget != args.budget:
                raise SystemExit(f"--resume: {traces_path} holds other configurations/budget.")
            saver.traces = list(earlier.traces)
            seeds = [seed for seed in seeds if seed not in earlier.seeds]
        extra = [f"{args.jobs or os.cpu_count()} worker processes"]
        if seeds:
            result = run_search(
                args.data,
                budget=args.budget,
                seeds=seeds,
                configs=configs,
                jobs=args.jobs,
                on_trace=saver,
            )
        if earlier is not None:
            extra.append(
                f"Resumed: seeds {list(earlier.seeds)} come from an earlier run of this command "
                f"(saved traces), the others from this one"
            )
            result = merge(earlier, result if seeds else None)
        save_traces(result, traces_path)
    seeds = result.seeds
    extra = [
        f"Data: `{os.path.basename(result.source)}`; seeds {seeds[0]}..{seeds[-1]} "
        f"({len(seeds)} per configuration); budget {result.budget} epochs",
        *extra,
        *args.note,
    ]
    summary = summarize_search(result)
    plot_search(summary, results_path(f"{stem}.png"))
    with open(results_path(f"{stem}.csv"), "w", encoding="utf-8") as file:
        file.write(summary.to_csv())
    with open(results_path(f"{stem}.md"), "w", encoding="utf-8") as file:
        file.write(header("Replayed architecture search", extra))
        file.write(f"\n![regret against epochs]({stem}.png)\n\n")
        file.write(summary.to_markdown().replace(result.source, os.path.basename(result.source)))
        file.write(
            f"\nPer-run traces: `{stem}_traces.npz`; quantiles at the checkpoints: "
            f"`{stem}.csv`.\n\n"
        )
        file.write("\n".join(configuration_lines(summary)) + "\n")
        file.write(NOTES)
    print(open(results_path(f"{stem}.md"), encoding="utf-8").read())
    return 0


if __name__ == "__main__":
    sys.exit(main())
