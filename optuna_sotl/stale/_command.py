"""``optuna-sotl fail-stale``: fail (and re-queue) RUNNING trials whose workers are gone."""

from __future__ import annotations

import argparse
import math

import optuna

from optuna_sotl._storage_url import add_study_arguments
from optuna_sotl._storage_url import mask_password
from optuna_sotl._storage_url import open_existing_storage
from optuna_sotl._storage_url import study_name_in


_DESCRIPTION = """\
Mark FAIL the RUNNING trials of a study that started more than --older-than seconds ago, and with
--retry re-queue each with its parameters and stored epochs, as Optuna's
RetryHeartbeatStaleTrialCallback(inherit_intermediate_values=True) does. For storages without a
heartbeat: journal:///FILE, redis://HOST:PORT/DB, grpc://HOST:PORT (works on any storage URL).
A trial still training but older than the bound is failed too: choose a bound above your longest
trial's duration.
"""


def add_fail_stale_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fail-stale",
        help="fail and re-queue RUNNING trials older than an age (storages without heartbeat)",
        description=_DESCRIPTION,
    )
    add_study_arguments(parser)
    parser.add_argument(
        "--older-than",
        type=float,
        required=True,
        metavar="SECONDS",
        help="a RUNNING trial that started longer ago than this is stale",
    )
    parser.add_argument(
        "--retry", action="store_true", help="re-queue each failed trial with its stored epochs"
    )
    parser.add_argument(
        "--max-retry",
        type=int,
        metavar="N",
        help="re-queue a trial at most N times in all (implies --retry; default: no limit)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list the stale trials, change nothing"
    )
    parser.set_defaults(run=run_fail_stale)


def run_fail_stale(args: argparse.Namespace) -> int:
    from optuna_sotl.stale._fail import fail_stale_trials
    from optuna_sotl.stale._fail import find_stale_trials

    # Every argument is checked before the storage is touched.
    if not (math.isfinite(args.older_than) and args.older_than >= 0):
        raise ValueError(f"--older-than must be finite and not negative, got {args.older_than}.")
    if args.max_retry is not None and args.max_retry < 0:
        raise ValueError(f"--max-retry cannot be negative, got {args.max_retry}.")
    where = mask_password(args.storage, secrets_of=[args.storage])
    storage = open_existing_storage(args.storage)
    study_name = study_name_in(storage, args.study, where)
    study = optuna.load_study(study_name=study_name, storage=storage)
    if args.dry_run:
        stale = find_stale_trials(study, older_than=args.older_than)
        for trial in stale:
            print(f"trial {trial.number}: RUNNING since {trial.datetime_start}, stale")
        print(f"{len(stale)} stale trial(s) in study {study_name!r}; nothing changed (--dry-run).")
        return 0
    retry = args.retry or args.max_retry is not None
    results = fail_stale_trials(
        study, older_than=args.older_than, retry=retry, max_retry=args.max_retry
    )
    for result in results:
        done = "failed" if result.failed else "finished meanwhile, left alone"
        if result.retried_as is not None:
            done += f", re-queued as trial {result.retried_as}"
        elif result.failed and retry:
            done += ", not re-queued (--max-retry reached)"
        print(
            f"trial {result.number}: RUNNING for {result.age_seconds:.0f} s with "
            f"{result.n_epochs} epoch(s) stored: {done}"
        )
    n_failed = sum(result.failed for result in results)
    print(f"{n_failed} stale trial(s) failed in study {study_name!r} ({where}).")
    return 0
