"""``optuna-sotl report``: rank a stored study's trials by SoTL-E and say how well that worked."""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import TYPE_CHECKING

import optuna

from optuna_sotl._output_paths import check_output_paths
from optuna_sotl._storage_url import add_study_arguments
from optuna_sotl._storage_url import mask_password
from optuna_sotl._storage_url import open_existing_storage
from optuna_sotl._storage_url import study_name_in


if TYPE_CHECKING:
    from optuna_sotl.estimators import BaseEstimator


_DESCRIPTION = """\
Rank the trials of a study by SoTL-E, the training loss of their last E epochs, at one step;
show each trial's state and final value, how well the ranking agrees with the completed trials'
values (Spearman and Kendall), and the epochs pruning saved against training every trial to the
end. Works on any storage URL: sqlite:///FILE, postgresql://..., mysql+pymysql://...,
journal:///FILE, redis://HOST:PORT/DB, grpc://HOST:PORT.
"""


def add_report_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="rank a study's trials by SoTL-E; --png, --to-dashboard",
        description=_DESCRIPTION,
    )
    add_study_arguments(parser)
    parser.add_argument(
        "--step",
        type=int,
        help="the step (epoch index from 0) to rank at; default: the last step at least half of "
        "the trials reached",
    )
    parser.add_argument(
        "--window", type=int, default=1, help="E of SoTL-E: trailing epochs summed (default 1)"
    )
    parser.add_argument("--png", metavar="FILE", help="also draw the ranking into this PNG file")
    parser.add_argument(
        "--to-dashboard",
        action="store_true",
        help="also save the ranking as the study's note and figure for optuna-dashboard "
        "(needs optuna-sotl[dashboard])",
    )
    parser.set_defaults(run=run_report)


def run_report(args: argparse.Namespace) -> int:
    from optuna_sotl.estimators import SoTLE
    from optuna_sotl.ranking import rank_study
    from optuna_sotl.report._text import format_report

    estimator = SoTLE(args.window)
    check_output_paths({"--png": args.png})
    # Fail before reading or writing anything when an optional package is missing.
    try:
        if args.png:
            _import_matplotlib()
        if args.to_dashboard:
            from optuna_sotl.dashboard import import_dashboard

            import_dashboard()
    except ImportError as error:
        print(f"optuna-sotl report: error: {error}", file=sys.stderr)
        return 2

    where = mask_password(args.storage, secrets_of=[args.storage])
    # Reading a report must not create a database file or hang on a server that is down.
    storage = open_existing_storage(args.storage)
    study_name = study_name_in(storage, args.study, where)
    study = optuna.load_study(study_name=study_name, storage=storage)
    ranking = rank_study(study, step=args.step, estimator=estimator)
    if ranking.step is None:
        raise ValueError(
            f"study {study_name!r} has no trial with a reported training loss: nothing to rank."
        )
    print(format_report(ranking, where=where))
    if ranking.direction is None:
        print("\n" + _pareto_text(study, estimator))

    if args.png:
        from optuna_sotl.report._png import write_png

        write_png(ranking, args.png)
        print(f"\nWrote the figure to {args.png}.")
    if args.to_dashboard:
        from optuna_sotl.dashboard import save_to_dashboard

        save_to_dashboard(study, step=args.step, estimator=estimator)
        print(
            f"\nSaved the note and the figure 'SoTL ranking' into study {study_name!r}; "
            f"{_dashboard_hint(where)}"
        )
    return 0


def _pareto_text(study: optuna.Study, estimator: BaseEstimator) -> str:
    from optuna_sotl.ranking import fill
    from optuna_sotl.ranking import pareto_lines
    from optuna_sotl.ranking import pareto_summary

    lines = pareto_lines(pareto_summary(study, estimator=estimator))
    # Tables stay as they are; sentences are wrapped like the rest of the report.
    return "\n".join(line if line.startswith("|") else fill(line) for line in lines)


def _dashboard_hint(where: str) -> str:
    scheme = where.split("://", 1)[0].lower()
    if scheme == "grpc":
        return "open the gRPC proxy's own storage in optuna-dashboard."
    # optuna-dashboard opens a journal file by its path, not by our journal:// URL.
    target = where[len("journal://") :] if scheme == "journal" else where
    return f"see them with: optuna-dashboard {shlex.quote(target)}"


def _import_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise ImportError("--png needs matplotlib: pip install 'optuna-sotl[plot]'.") from error
