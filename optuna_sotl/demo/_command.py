"""The ``optuna-sotl demo`` sub-command: argument parsing only; the work is :func:`run_demo`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from optuna_sotl.demo._config import DEFAULT_STORAGE


_DESCRIPTION = """\
Search NAS-Bench-201 cells on scikit-learn's 8x8 digits made hard with pixel noise and a
blanked square (bundled, nothing is downloaded): each trial trains a small network with torch,
reports every minibatch loss through SoTLReporter and is pruned by SoTLPruner; the study
maximises validation accuracy. Ends with the trials ranked by their training loss at the
pruning step, how well that agrees with the final accuracies, the epochs saved, whether the best
architecture survived pruning, and the optuna-dashboard command for the storage.
Re-running with the same --study-name appends trials to that study."""


def add_demo_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``demo`` sub-command to the ``optuna-sotl`` parser's sub-parsers."""
    parser = subparsers.add_parser(
        "demo",
        help="run a small architecture search pruned by SoTL (about 3 minutes on 2 CPU cores)",
        description=_DESCRIPTION,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--storage", default=DEFAULT_STORAGE, help="Optuna RDB storage URL (SQLite, PostgreSQL...)"
    )
    parser.add_argument(
        "--study-name", default="sotl-demo", help="study to create, or to append trials to"
    )
    parser.add_argument("--n-trials", type=int, default=50, help="trials in all")
    parser.add_argument("--epochs", type=int, default=12, help="training epochs per trial")
    parser.add_argument(
        "--seed", type=int, default=0, help="seeds the data split, the weights and the sampler"
    )
    parser.add_argument(
        "--sampler-seed",
        type=int,
        default=None,
        help="seeds the sampler only (default: --seed); give each host of a shared study its own",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes sharing the storage"
    )
    parser.add_argument(
        "--percentile", type=float, default=50.0, help="prune trials worse than this percentile"
    )
    parser.add_argument(
        "--n-startup-trials", type=int, default=10, help="complete trials before any pruning"
    )
    parser.add_argument(
        "--n-warmup-steps",
        type=int,
        default=2,
        help="first step (epoch from 0) a trial may be pruned at; the ranking reads this step",
    )
    parser.add_argument(
        "--interval-steps", type=int, default=4, help="steps between pruning checks after warm-up"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(run=_run)
    return parser


def _run(args: argparse.Namespace) -> int:
    from optuna_sotl.demo._demo import run_demo

    try:
        run_demo(
            storage=args.storage,
            study_name=args.study_name,
            n_trials=args.n_trials,
            epochs=args.epochs,
            seed=args.seed,
            sampler_seed=args.sampler_seed,
            workers=args.workers,
            percentile=args.percentile,
            n_startup_trials=args.n_startup_trials,
            n_warmup_steps=args.n_warmup_steps,
            interval_steps=args.interval_steps,
            show_progress=not args.no_progress,
        )
    except KeyboardInterrupt:
        # The trials finished so far are in the storage; an interrupted one is marked FAIL.
        print(
            "optuna-sotl demo: interrupted; the finished trials are in the storage.",
            file=sys.stderr,
        )
        return 130
    return 0
