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
    f"postgresql+psycopg2://postgres:{SECRET}' \"x@127.0.0.1:1/test",  # quotes and a space
    f"mysql+pymysql://root:{SECRET}%27%20x@127.0.0.1:1/test",  # the same, URL-encoded
    f"redis://:{SECRET}' x@127.0.0.1:1/0",
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
        f"postgresql+psycopg2://postgres:{SECRET}' x\"@127.0.0.1:1/test",
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


# --- passwords of every spelling (issue: quotes, spaces, '@', URL-encoded) ---------------------

SPELLINGS = [
    "S3'CRET-pw",  # a single quote
    'S3"CRET-pw',  # a double quote
    "S3 CRET pw",  # spaces
    "S3@CRET@pw",  # unencoded '@'
    "S3/CR:ET#pw",  # '/', ':' and '#'
]


def _url(password: str, port: int = 5432) -> str:
    return f"postgresql+psycopg2://postgres:{password}@127.0.0.1:{port}/test"


def _spellings(password: str) -> list[str]:
    from urllib.parse import quote

    return [password, quote(password, safe=""), password.replace(" ", "+")]


@pytest.mark.parametrize("password", SPELLINGS)
def test_mask_password_hides_every_character_a_password_may_hold(password: str) -> None:
    for url in (_url(password), _url(quote_all(password))):
        for text in (
            url,
            f"cannot open storage {url}: refused",
            f"optuna-dashboard '{url}'",
            f'"{url}"',
            f"see {url}\nnext line with user 'u'@'h'",
        ):
            masked = mask_password(text)
            assert all(spelling not in masked for spelling in _spellings(password)), masked
            assert "postgres:***@127.0.0.1:5432/test" in masked
    assert mask_password(f"redis://:{password}@[::1]:6379/0") == "redis://:***@[::1]:6379/0"
    assert mask_password(f"sqlite:///x.db?password={password}") == "sqlite:///x.db?password=***"


def quote_all(password: str) -> str:
    from urllib.parse import quote

    return quote(password, safe="")


def test_masking_leaves_text_without_passwords_alone() -> None:
    for text in (
        "postgresql://postgres@127.0.0.1:5432/test: 5 trials, mail admin@example.com",
        "optuna-sotl report: error: --study 'x' is not in sqlite:///a.db; its studies: 'y'.",
        "(pymysql.err.OperationalError) (1045, \"Access denied for user 'root'@'localhost'\")",
    ):
        assert mask_password(text) == text


def test_the_passwords_of_given_urls_are_masked_in_any_spelling() -> None:
    url = _url("p%40ss'w rd")
    message = "driver said: password \"p@ss'w rd\" (p%40ss%27w%20rd) is wrong"
    masked = mask_password(message, secrets_of=[url])
    assert "p@ss'w rd" not in masked and "p%40ss%27w%20rd" not in masked
    assert masked.count("***") == 2


@pytest.mark.parametrize("password", SPELLINGS)
def test_cli_errors_never_show_a_password_of_any_spelling(password: str) -> None:
    for url in (_url(password, port=1), _url(quote_all(password), port=1)):
        result = run_cli("report", "--storage", url, "--study", "x")
        printed = result.stdout + result.stderr
        assert result.returncode == 2, printed
        assert all(spelling not in printed for spelling in _spellings(password)), printed
        assert printed.count("\n") == 1 and printed.startswith("optuna-sotl report: error:")


def test_a_bug_in_a_command_prints_a_masked_traceback(monkeypatch, capsys) -> None:
    from optuna_sotl import _cli
    from optuna_sotl.report import _command

    url = _url("S3'CRET pw")

    def broken(args: object) -> int:
        raise RuntimeError(f"a bug while reading {url} (password S3'CRET pw)")

    monkeypatch.setattr(_command, "run_report", broken)
    assert _cli.main(["report", "--storage", url]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError" in err and "S3'CRET" not in err


def test_demo_dashboard_command_masks_a_quoted_password() -> None:
    from optuna_sotl.demo._demo import _dashboard_command

    command = _dashboard_command(_url("S3'CRET pw"))
    assert "S3" not in command and "postgres:***@127.0.0.1" in command


@pytest.mark.parametrize("password", ["S3'CRET-pw", "S3%27C%20R%40ET"])
def test_report_header_masks_a_quoted_or_encoded_password(password: str, capsys) -> None:
    # PostgreSQL trusts local connections, so a URL with any password still opens it.
    from optuna_sotl import _cli

    require_server("PostgreSQL", "127.0.0.1", 5432)
    url = POSTGRES_URL.replace("postgres@", f"postgres:{password}@", 1)
    name = f"optuna-sotl-test-secrets-header-{uuid.uuid4().hex[:8]}"
    study = optuna.create_study(storage=POSTGRES_URL, study_name=name)
    try:
        study.add_trial(optuna.create_trial(value=1.0, intermediate_values={0: 1.0}))
        assert _cli.main(["report", "--storage", url, "--study", name]) == 0
        out = capsys.readouterr().out
        assert "postgres:***@" in out
        assert all(spelling not in out for spelling in _spellings(password) + ["C R@ET"])
    finally:
        optuna.delete_study(study_name=name, storage=POSTGRES_URL)
