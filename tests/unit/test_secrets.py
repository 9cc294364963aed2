"""Storage URLs with passwords never reach our printed text: errors, logs, the CLI, the demo.

The same study URL is typed on every host of a distributed study, so it ends up in terminals,
job logs and CI output; a password in it must be masked there.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import traceback
import uuid

import optuna
from optuna.trial import TrialState
import pytest

from optuna_sotl._storage_url import mask_password
from optuna_sotl._storage_url import open_storage
from tests.storages import POSTGRES_URL
from tests.storages import require_server


SECRET = "Tr0ub4dor-not-a-real-password"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (
            f"postgresql+psycopg2://user:{SECRET}@db.example:5432/nas",
            "postgresql+psycopg2://user:***@db.example:5432/nas",
        ),
        (f"redis://:{SECRET}@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        # An unencoded '@' or '/' in the password: everything to the last '@' is masked.
        (f"mysql+pymysql://root:a@{SECRET}@host/db", "mysql+pymysql://root:***@host/db"),
        (f"mysql+pymysql://root:a/{SECRET}@host/db", "mysql+pymysql://root:***@host/db"),
        (f"sqlite:///study.db?password={SECRET}&mode=ro", "sqlite:///study.db?password=***&mode=ro"),
        (f"user:{SECRET}@host", "user:***@host"),  # a URL typed without its scheme
        (
            f"cannot open postgresql://u:{SECRET}@h/db: (driver) user 'u'@'h' denied",
            "cannot open postgresql://u:***@h/db: (driver) user 'u'@'h' denied",
        ),
        ("sqlite:///optuna-sotl-demo.db", "sqlite:///optuna-sotl-demo.db"),
        ("postgresql://postgres@127.0.0.1:5432/test", "postgresql://postgres@127.0.0.1:5432/test"),
    ],
)
def test_mask_password(text: str, masked: str) -> None:
    assert mask_password(text) == masked


BAD_URLS = [
    f"postgresql+psycopg2://postgres:{SECRET}@127.0.0.1:1/test",  # nothing listens on port 1
    f"postgresql+psycopg2://postgres:{SECRET}@127.0.0.1:notaport/test",
    f"postgresql+psycopg2://postgres:p@{SECRET}@127.0.0.1:5432/test",  # unencoded '@'
    f"mysql+pymysql://root:{SECRET}@127.0.0.1:1/test",
    f"nosuchdialect://user:{SECRET}@127.0.0.1/db",
    f"grpc://user:{SECRET}@127.0.0.1",  # no port
    f"sqlite:////nonexistent-dir/study.db?password={SECRET}",
    f"user:{SECRET}@127.0.0.1:5432/test",  # no scheme
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_open_storage_errors_do_not_show_the_password(url: str, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(Exception) as info:
        storage = open_storage(url)
        # Some storages connect lazily: the first use fails.
        optuna.create_study(storage=storage)
    printed = "".join(traceback.format_exception(info.value))
    assert SECRET not in printed
    assert SECRET not in caplog.text


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "optuna_sotl._cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg2://postgres:{SECRET}@127.0.0.1:1/test",
        f"postgresql+psycopg2://postgres:p@{SECRET}@127.0.0.1:5432/test",
    ],
)
def test_cli_error_does_not_show_the_password(url: str) -> None:
    result = run_cli("demo", "--storage", url, "--n-trials", "1", "--epochs", "1", "--no-progress")
    assert result.returncode != 0
    assert "error" in result.stderr
    assert SECRET not in result.stdout + result.stderr


def test_demo_with_workers_on_postgres_does_not_show_the_password() -> None:
    """``optuna-sotl demo --workers 2`` on a password URL: runs, stores, prints it masked."""
    pytest.importorskip("torch")
    require_server("PostgreSQL", "127.0.0.1", 5432)
    import sqlalchemy

    url = sqlalchemy.engine.make_url(POSTGRES_URL)
    secret = url.password
    if secret is None:  # trust authentication on the test server ignores a password
        secret = SECRET
        url = url.set(password=secret)
    study_name = f"optuna-sotl-test-secrets-{uuid.uuid4().hex[:8]}"
    result = run_cli(
        "demo", "--storage", url.render_as_string(hide_password=False), "--study-name",
        study_name, "--workers", "2", "--n-trials", "2", "--epochs", "1", "--no-progress",
    )
    try:
        assert result.returncode == 0, result.stderr[-3000:]
        assert secret not in result.stdout + result.stderr
        assert ":***@" in result.stdout  # the optuna-dashboard command, masked
        trials = optuna.load_study(study_name=study_name, storage=POSTGRES_URL).trials
        assert len(trials) == 2
        assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    finally:
        try:
            optuna.delete_study(study_name=study_name, storage=POSTGRES_URL)
        except KeyError:
            pass
