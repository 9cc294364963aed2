"""The ``optuna-sotl`` command: each sub-command lives in its own module and registers itself."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import sys
import traceback


def build_parser() -> argparse.ArgumentParser:
    # Sub-command modules are imported here, not at package import, so that ``import optuna_sotl``
    # stays light; a heavy dependency (torch, matplotlib) is imported only when its command runs.
    from optuna_sotl.curves._command import add_curves_parser
    from optuna_sotl.demo._command import add_demo_parser
    from optuna_sotl.report._command import add_report_parser
    from optuna_sotl.stale._command import add_fail_stale_parser

    parser = argparse.ArgumentParser(
        prog="optuna-sotl",
        description="Rank and prune neural architectures in Optuna by the sum of training losses.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_curves_parser(subparsers)
    add_demo_parser(subparsers)
    add_fail_stale_parser(subparsers)
    add_report_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (ValueError, TypeError, OSError, ImportError) as error:
        # Bad input, a bad file, a storage that does not answer, a missing extra: one line.
        message = _masked(_one_line(error), argv)
        print(f"optuna-sotl {args.command}: error: {message}", file=sys.stderr)
        return 2
    except Exception:  # noqa: BLE001 - a bug: its traceback, but never a password
        print(_masked(traceback.format_exc(), argv), file=sys.stderr, end="")
        return 1


def _one_line(error: BaseException) -> str:
    from optuna_sotl._storage_url import one_line

    return one_line(error)


def _masked(text: str, argv: Sequence[str]) -> str:
    # Every argument could be a storage URL (--storage, or a URL a sub-command takes): the
    # passwords of all of them are masked wherever they appear, in any spelling.
    from optuna_sotl._storage_url import mask_password

    return mask_password(text, secrets_of=argv)


if __name__ == "__main__":
    sys.exit(main())
