"""``optuna-sotl curves rank|search|convert``: rank table, replayed search, file converter."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from optuna_sotl._output_paths import check_output_paths


def add_curves_parser(subparsers: Any) -> None:
    from optuna_sotl.curves._rank import DEFAULT_BUDGETS
    from optuna_sotl.curves._search_configs import PRUNERS

    curves = subparsers.add_parser(
        "curves",
        help="rank estimators and replay searches on recorded learning curves (.npz); build them",
        description="Tools for recorded learning curves in the documented .npz layout.",
    )
    commands = curves.add_subparsers(dest="curves_command", required=True, metavar="ACTION")

    rank = commands.add_parser(
        "rank",
        help="rank correlation of each estimator at budget T with the final result",
        description=(
            "Spearman and Kendall tau of each estimator's score at T epochs with the final "
            "result (test_acc or test_loss), and precision of the top 10 %%. Prints markdown."
        ),
    )
    rank.add_argument("path", help="learning-curve file (.npz)")
    rank.add_argument(
        "--budgets",
        type=_int_list,
        default=list(DEFAULT_BUDGETS),
        help="comma-separated budgets T in epochs, clipped to the file's epochs "
        "(default %(default)s)",
    )
    _add_outputs(rank, plot_help="PNG of Spearman rho against T, one line per estimator")
    rank.add_argument(
        "--self-calibrating",
        action="store_true",
        help="also evaluate SelfCalibratingEstimator: calibrate on some architectures (their "
        "final validation result only), score the rest, repeat over seeds",
    )
    sizes = rank.add_mutually_exclusive_group()
    sizes.add_argument(
        "--calibration-fraction",
        type=float,
        default=None,
        help="fraction of architectures to calibrate on (default 0.1)",
    )
    sizes.add_argument(
        "--calibration-size",
        type=int,
        default=None,
        metavar="N",
        help="number of architectures to calibrate on, as a small or pruned study completes "
        "(instead of the fraction)",
    )
    rank.add_argument(
        "--calibration-seeds",
        type=int,
        default=20,
        help="random calibration sets to average over (default %(default)s)",
    )
    rank.set_defaults(run=_run_rank)

    search = commands.add_parser(
        "search",
        help="replay architecture searches on the curves: Optuna's pruners against SoTL's",
        description=(
            "Replayed architecture search (fast replay of the pruners' own rules): every "
            "configuration for every seed; prints mean and median test and validation regret "
            "with 95 %% bootstrap CIs at 1/8, 1/4, 1/2 and all of the budget."
        ),
        epilog="configurations: <sampler>/<pruner> with sampler random or re; pruners: "
        + ", ".join(PRUNERS),
    )
    search.add_argument("path", help="learning-curve file (.npz)")
    search.add_argument(
        "--budget", type=int, default=20_000, help="epochs per study (default %(default)s)"
    )
    search.add_argument(
        "--seeds",
        type=int,
        default=200,
        help="seeds 0..N-1 per configuration (default %(default)s)",
    )
    search.add_argument(
        "--configs",
        type=lambda text: [part.strip() for part in text.split(",") if part.strip()],
        default=None,
        help="comma-separated configurations (default: every pruner with random and re)",
    )
    search.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    search.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _add_outputs(search, plot_help="PNG of mean regret against epochs with 95 %% CI bands")
    search.set_defaults(run=_run_search)

    convert = commands.add_parser(
        "convert",
        help="build a learning-curve file (.npz) from a public benchmark's release",
        description="Build a learning-curve file in the documented layout (docs/data.md) from a "
        "public benchmark's own files.",
    )
    formats = convert.add_subparsers(dest="convert_format", required=True, metavar="FORMAT")
    spikenas = formats.add_parser(
        "spikenas",
        help="SpikeNAS-Bench: data/<DATASET>/<arch id>/train_process.txt",
        description=(
            "Read SpikeNAS-Bench's per-architecture train_process.txt files from SRC_DIR (its "
            "data/<DATASET> folder, e.g. a clone's data/CIFAR10) and write OUT.npz. Runs on "
            "another epoch count than --epochs (default: the most common one) and runs without a "
            "test accuracy are left out and counted."
        ),
    )
    spikenas.add_argument("src_dir", metavar="SRC_DIR", help="the data/<DATASET> folder")
    spikenas.add_argument("out", metavar="OUT.npz", help="the file to write")
    spikenas.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="keep the runs of this many epochs (default: the most common count)",
    )
    spikenas.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    spikenas.set_defaults(run=_run_convert_spikenas)


def _add_outputs(parser: argparse.ArgumentParser, plot_help: str) -> None:
    parser.add_argument(
        "--csv",
        metavar="FILE",
        help="also write CSV to FILE ('-': CSV on stdout instead of markdown)",
    )
    parser.add_argument("--plot", metavar="FILE.png", help=plot_help)


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from None


def _emit(markdown: str, csv_text: str, csv_path: str | None) -> None:
    if csv_path == "-":
        sys.stdout.write(csv_text)
        return
    sys.stdout.write(markdown)
    if csv_path:
        with open(csv_path, "w", encoding="utf-8") as file:
            file.write(csv_text)


def _run_rank(args: argparse.Namespace) -> int:
    from optuna_sotl.curves._calibration import check_calibration_size
    from optuna_sotl.curves._loader import load_curves
    from optuna_sotl.curves._rank import rank_estimators

    check_output_paths({"--csv": args.csv, "--plot": args.plot}, stdout_ok={"--csv"})
    fraction = 0.1 if args.calibration_fraction is None else args.calibration_fraction
    if args.self_calibrating and args.calibration_seeds < 1:
        raise ValueError(f"--calibration-seeds must be at least 1, got {args.calibration_seeds}.")
    if args.self_calibrating and not 0.0 < fraction < 1.0:
        raise ValueError(f"--calibration-fraction must be in (0, 1), got {fraction}.")
    if args.self_calibrating and args.calibration_size is not None and args.calibration_size < 3:
        raise ValueError(f"--calibration-size must be at least 3, got {args.calibration_size}.")
    curves = load_curves(args.path)
    if args.self_calibrating:
        size = args.calibration_size
        check_calibration_size(
            curves.n_archs,
            fraction if size is None else None,
            size,
            names=("--calibration-fraction", "--calibration-size"),
        )
    table = rank_estimators(curves, budgets=args.budgets)
    _emit(table.to_markdown(), table.to_csv(), args.csv)
    if args.plot:
        from optuna_sotl.curves._plots import plot_rank

        plot_rank(table, args.plot)
    if args.self_calibrating:
        from optuna_sotl.curves._calibration import evaluate_self_calibrating

        calibration = evaluate_self_calibrating(
            curves,
            args.budgets,
            fraction=fraction,
            calibration_size=args.calibration_size,
            seeds=range(args.calibration_seeds),
        )
        sys.stdout.write("\n### Self-calibrating estimator\n\n" + calibration.to_markdown())
    return 0


def _run_search(args: argparse.Namespace) -> int:
    from optuna_sotl.curves._search import run_search
    from optuna_sotl.curves._search_configs import search_configs
    from optuna_sotl.curves._search_report import search_stats

    # Before the search, so a long run never ends on an unwritable output.
    check_output_paths({"--csv": args.csv, "--plot": args.plot}, stdout_ok={"--csv"})
    if not os.path.exists(args.path):
        raise FileNotFoundError(f"learning-curve file {args.path!r} does not exist.")
    search_configs(args.configs)  # unknown names fail before any work
    result = run_search(
        args.path,
        budget=args.budget,
        seeds=args.seeds,
        configs=args.configs,
        jobs=args.jobs,
        progress=not args.no_progress,
    )
    stats = search_stats(result)
    _emit(stats.to_markdown(), stats.to_csv(), args.csv)
    if args.plot:
        from optuna_sotl.curves._search_report import plot_search

        by_sampler: dict[str, list[str]] = {}
        for config in result.configs:
            by_sampler.setdefault(config.sampler_name, []).append(config.name)
        plot_search(stats, args.plot, by_sampler)
    return 0


def _run_convert_spikenas(args: argparse.Namespace) -> int:
    from optuna_sotl.curves._convert import convert_spikenas

    check_output_paths({"OUT": args.out})
    try:
        summary = convert_spikenas(
            args.src_dir, args.out, epochs=args.epochs, progress=not args.no_progress
        )
    except FileNotFoundError:
        raise
    except OSError as error:  # unreadable folder, full disk: one line, not a traceback
        raise ValueError(f"{error.filename or args.out}: {error.strerror or error}") from None
    print(summary.describe())
    return 0
