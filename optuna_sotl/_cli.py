"""The ``optuna-sotl`` command: each sub-command lives in its own module and registers itself."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import sys


def build_parser() -> argparse.ArgumentParser:
    # Sub-command modules are imported here, not at package import, so that ``import optuna_sotl``
    # stays light; a heavy dependency (torch, matplotlib) is imported only when its command runs.
    from optuna_sotl.curves._command import add_curves_parser
    from optuna_sotl.demo._command import add_demo_parser
    from optuna_sotl.report._command import add_report_parser

    parser = argparse.ArgumentParser(
        prog="optuna-sotl",
        description="Rank and prune neural architectures in Optuna by the sum of training losses.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_curves_parser(subparsers)
    add_demo_parser(subparsers)
    add_report_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (ValueError, TypeError, FileNotFoundError) as error:
        print(f"optuna-sotl {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
