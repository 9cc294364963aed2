"""One storage URL for every Optuna storage, so that commands and workers can share a study.

``optuna.storages.get_storage`` understands database URLs only. Our commands accept:

* ``sqlite:///FILE``, ``postgresql://...``, ``mysql+pymysql://...``: Optuna's RDB storage;
* ``journal:///PATH`` (or ``journal://relative/path``): a ``JournalStorage`` on a
  ``JournalFileBackend`` file;
* ``redis://HOST:PORT/DB``: a ``JournalStorage`` on a ``JournalRedisBackend``;
* ``grpc://HOST:PORT``: a ``GrpcStorageProxy`` to a server started with
  ``optuna.storages.run_grpc_proxy_server``.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from collections.abc import Iterator
import importlib.util
import os
import re
from typing import Any
from urllib.parse import quote
from urllib.parse import quote_plus
from urllib.parse import unquote
from urllib.parse import urlsplit
import warnings

import optuna


# Where a password starts: right after ``scheme://user:`` (the user holds no ':', '/', '@' or
# space) or, for ``user:password@host`` typed without a scheme, after ``user:`` at a word start.
_SCHEME_USER = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:")
_BARE_USER = re.compile(r"(?:^|(?<=[\s'\"(=,\[]))[^:/@\s'\"]+:(?!//)")
# Where it ends: an '@' followed by a host (name, IPv4 or [IPv6]), an optional port and the end
# of the authority. The *last* such '@' on the line ends it, since people type unencoded '@',
# quotes and spaces in passwords; an '@' followed by a quote (``'root'@'host'`` in a MySQL
# message) is not a host. Masking too much is harmless; too little is a leak.
_AT_HOST = re.compile(
    r"@(?:\[[0-9A-Za-z:.%]*\]|[A-Za-z0-9._~%\-]+)(?::[A-Za-z0-9_%.\-]*)?(?=$|[/?#\s'\"),;\]>])"
)
# ``?password=...`` and its spellings, which some drivers accept in the query.
_PASSWORD_IN_QUERY = re.compile(r"(?P<head>[?&;](?:password|passwd|pwd)=)[^&\r\n]+", re.I)
# A password shorter than this is not searched for verbatim: replacing every "ab" in a message
# would garble it. The URL-shaped masking above still hides it.
_MIN_VERBATIM = 4


def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    """``--storage URL`` and ``--study NAME``, the same for every command that opens a study."""
    parser.add_argument("--storage", required=True, help="the study's storage URL")
    parser.add_argument(
        "--study", help="the study's name; may be left out when the storage holds one study"
    )


def study_name_in(storage: optuna.storages.BaseStorage, name: str | None, where: str) -> str:
    """``--study``'s name checked against the storage, or its only study when left out."""
    names = optuna.get_all_study_names(storage)
    listed = ", ".join(repr(n) for n in sorted(names)[:20]) or "none"
    if name is None:
        if len(names) == 1:
            return names[0]
        raise ValueError(f"--study is needed: {where} holds {len(names)} studies ({listed}).")
    if name not in names:
        raise ValueError(f"--study {name!r} is not in {where}; its studies: {listed}.")
    return name


def mask_password(text: str, *, secrets_of: Iterable[str] = ()) -> str:
    """Replace every password in ``text`` with ``***`` so that logs and errors never show it.

    Passwords inside URLs (``scheme://user:PASSWORD@host``, ``user:PASSWORD@host``,
    ``?password=PASSWORD``) are found by their shape, whatever characters they hold. The
    passwords of the URLs in ``secrets_of`` (the storage URLs a command was given) are also
    removed wherever they appear, as typed, URL-decoded and URL-encoded.

    Example:

        .. code-block:: python

            masked = mask_password("postgresql://me:S3'CR T@db.example/nas")
            assert masked == "postgresql://me:***@db.example/nas"
    """
    text = _mask_userinfo(text)
    text = _PASSWORD_IN_QUERY.sub(r"\g<head>***", text)
    for secret in sorted(_spellings(secrets_of), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def password_of(url: str) -> str | None:
    """The password of ``url`` as typed (still URL-encoded), or None when it has none."""
    if not isinstance(url, str):
        return None
    spans = list(_password_spans(url))
    if spans:
        start, end = spans[0]
        return url[start:end]
    query = _PASSWORD_IN_QUERY.search(url)
    return url[query.end("head") : query.end()] if query else None


def _mask_userinfo(text: str) -> str:
    pieces = []
    position = 0
    for start, end in _password_spans(text):
        pieces.append(text[position:start])
        pieces.append("***")
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def _password_spans(text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each password in ``text``, in order and not overlapping."""
    candidates = sorted(
        [(m.end(), True) for m in _SCHEME_USER.finditer(text)]
        + [(m.end(), False) for m in _BARE_USER.finditer(text)]
    )
    covered = 0
    for start, after_scheme in candidates:
        if start < covered:
            continue
        line_end = len(text)
        for stop in "\n\r":
            found = text.find(stop, start)
            if found != -1:
                line_end = min(line_end, found)
        if not after_scheme:
            # Without a scheme, a space ends the password: ``error: ... @host`` is prose.
            space = re.search(r"\s", text[start:line_end])
            line_end = start + space.start() if space else line_end
        ats = [m.start() for m in _AT_HOST.finditer(text, start, line_end)]
        if ats:
            yield start, ats[-1]
            covered = ats[-1]


def _spellings(urls: Iterable[str]) -> set[str]:
    spellings = set()
    for url in urls:
        password = password_of(url)
        if not password:
            continue
        decoded = unquote(password)
        for spelling in (password, decoded, quote(decoded, safe=""), quote_plus(decoded)):
            if len(spelling) >= _MIN_VERBATIM and spelling != "***":
                spellings.add(spelling)
    return spellings


def open_storage(url: str, **rdb_kwargs: Any) -> optuna.storages.BaseStorage:
    """Open the storage ``url`` names; ``rdb_kwargs`` (heartbeat settings...) go to RDBStorage.

    Raises:
        ValueError: when ``url`` is malformed.
        ImportError: when the URL's driver is not installed; the message names the extra
            (``pip install 'optuna-sotl[postgres]'``...).
        RuntimeError: when an RDB storage cannot be opened; the message masks the password.
    """
    if not isinstance(url, str) or "://" not in url:
        raise ValueError(
            f"storage must be a URL such as sqlite:///study.db, got {mask_password(str(url))!r}."
        )
    masked = mask_password(url, secrets_of=[url])
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    if re.split(r"[/?#]", rest, maxsplit=1)[0].count("@") > 1:
        # A driver would take the part after the first '@' for the host name and print it.
        raise ValueError(
            "storage URL has more than one '@' before its host: write '@' in the user name or "
            f"password as %40. Got {masked!r}."
        )
    if scheme in ("journal", "redis", "rediss", "grpc"):
        with warnings.catch_warnings():
            # Optuna marks these "experimental"; the user chose one knowingly, and a command's
            # output (an error included) should be what it says, not two lines of warning.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return _open_journal_or_grpc(url, scheme, masked)
    url = _with_installed_driver(url, scheme, rest, masked)
    # A connection the server dropped (restart, idle timeout, pg_terminate_backend) is replaced
    # instead of failing the next trial write.
    rdb_kwargs.setdefault("engine_kwargs", {"pool_pre_ping": True})
    try:
        return optuna.storages.RDBStorage(url, **rdb_kwargs)
    except Exception as error:  # noqa: BLE001 - drivers put the URL, password too, in messages
        raise RuntimeError(
            f"cannot open storage {masked}: {mask_password(one_line(error), secrets_of=[url])}"
        ) from None


def _open_journal_or_grpc(url: str, scheme: str, masked: str) -> optuna.storages.BaseStorage:
    if scheme == "journal":
        path = url[len("journal://") :]
        if not path:
            raise ValueError(f"storage journal URL names no file: {masked!r}.")
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(path))
    if scheme in ("redis", "rediss"):
        _require("redis", "the Redis client", "redis", masked)
        from optuna.storages.journal import JournalRedisBackend

        return optuna.storages.JournalStorage(JournalRedisBackend(url))
    parts = urlsplit(url)
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"storage gRPC URL needs a host and a port, got {masked!r}.")
    _require("grpc", "gRPC", "grpc", masked)
    return optuna.storages.GrpcStorageProxy(host=parts.hostname, port=parts.port)


def open_existing_storage(url: str) -> optuna.storages.BaseStorage:
    """Open ``url`` to read studies it already holds, for commands that must not create one.

    A SQLite or journal file that does not exist is an error (opening it would create an empty
    file), and so is a server that does not answer: both raise ``ValueError`` naming the storage
    with its password masked, instead of a driver's traceback.
    """
    masked = mask_password(str(url), secrets_of=[str(url)])
    _check_file_exists(url, masked)
    try:
        storage = open_storage(url)
        # Journal storages read the log when opened; a gRPC proxy connects on first use.
        storage.get_all_studies()
    except (ValueError, ImportError):
        raise
    except RuntimeError as error:  # open_storage's RDB failure: already names the storage
        raise ValueError(str(error)) from None
    except Exception as error:  # noqa: BLE001 - redis, grpc: messages may hold the URL
        raise ValueError(
            f"cannot reach storage {masked}: {type(error).__name__}: "
            f"{mask_password(one_line(error), secrets_of=[url])}"
        ) from None
    return storage


def one_line(error: BaseException) -> str:
    """``error``'s message on one line (gRPC's span several; its ``details()`` says it all)."""
    details = getattr(error, "details", None)
    text = details() if callable(details) else None
    text = text if isinstance(text, str) and text else str(error)
    text = " ".join(text.split())
    return text if len(text) <= 500 else text[:497] + "..."


def _check_file_exists(url: str, masked: str) -> None:
    scheme, _, rest = str(url).partition("://")
    scheme = scheme.lower()
    if scheme == "journal":
        path = rest
    elif scheme.split("+")[0] == "sqlite":
        path = urlsplit(url).path[1:] if rest.startswith("/") else ""
        if not path or path == ":memory:":
            raise ValueError(f"storage {masked} is an in-memory database: it holds no study.")
    else:
        return
    if path and not os.path.isfile(path):
        raise ValueError(f"storage {masked}: the file {path!r} does not exist.")


# dialect+driver -> (module to import, what it is, the extra that installs it or None)
_DRIVERS = {
    "postgresql+psycopg2": ("psycopg2", "the PostgreSQL driver psycopg2", "postgres"),
    "postgresql+psycopg": ("psycopg", "the PostgreSQL driver psycopg 3", None),
    "postgresql+pg8000": ("pg8000", "the PostgreSQL driver pg8000", None),
    "mysql+pymysql": ("pymysql", "the MySQL driver PyMySQL", "mysql"),
    "mariadb+pymysql": ("pymysql", "the MySQL driver PyMySQL", "mysql"),
    "mysql+mysqldb": ("MySQLdb", "the MySQL driver mysqlclient", None),
    "mysql+mysqlconnector": ("mysql.connector", "the MySQL driver mysql-connector", None),
}


def _with_installed_driver(url: str, scheme: str, rest: str, masked: str) -> str:
    """``url`` with a driver that is installed, or ImportError naming the extra to install."""
    if scheme == "postgresql":
        if _installed("psycopg"):
            return url  # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3
        # Our [postgres] extra is psycopg2.
        scheme, url = "postgresql+psycopg2", "postgresql+psycopg2://" + rest
    elif scheme in ("mysql", "mariadb"):
        if _installed("MySQLdb"):
            return url  # SQLAlchemy's default MySQL driver
        # Our [mysql] extra is PyMySQL.
        scheme, url = scheme + "+pymysql", scheme + "+pymysql://" + rest
    if scheme in _DRIVERS:
        _require(*_DRIVERS[scheme], masked)
    return url


def _require(module: str, what: str, extra: str | None, masked: str) -> None:
    if _installed(module):
        return
    fix = f"pip install 'optuna-sotl[{extra}]'" if extra else f"install {what.split()[-1]}"
    raise ImportError(f"storage {masked} needs {what}, which is not installed: {fix}.")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module set to None
        return False
