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

import importlib.util
import re
from typing import Any
from urllib.parse import urlsplit

import optuna


# ``scheme://user:password@host``: the password runs to the last '@' before the host, since
# people type unencoded '@' in passwords. Masking too much is harmless; too little is a leak.
_PASSWORD_IN_URL = re.compile(
    r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s'\"]*:)[^\s'\"]*@"
    r"(?=[^@\s'\"/?#]*(?:[/?#\s'\"]|$))"
)
# ``user:password@host`` typed without a scheme.
_PASSWORD_WITHOUT_SCHEME = re.compile(r"(?P<head>(?:^|[\s'\"])[^:/@\s'\"]+:)[^\s'\"/]*@")
# ``?password=...`` and its spellings, which some drivers accept in the query.
_PASSWORD_IN_QUERY = re.compile(r"(?P<head>[?&](?:password|passwd|pwd)=)[^&#\s'\"]+", re.I)


def mask_password(text: str) -> str:
    """Replace the password of every URL in ``text`` with ``***`` so that logs never show it."""
    text = _PASSWORD_IN_URL.sub(r"\g<head>***@", text)
    text = _PASSWORD_WITHOUT_SCHEME.sub(r"\g<head>***@", text)
    return _PASSWORD_IN_QUERY.sub(r"\g<head>***", text)


def open_storage(url: str, **rdb_kwargs: Any) -> optuna.storages.BaseStorage:
    """Open the storage ``url`` names; ``rdb_kwargs`` (heartbeat settings...) go to RDBStorage."""
    if not isinstance(url, str) or "://" not in url:
        raise ValueError(
            f"storage must be a URL such as sqlite:///study.db, got {mask_password(str(url))!r}."
        )
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    if re.split(r"[/?#]", rest, maxsplit=1)[0].count("@") > 1:
        # A driver would take the part after the first '@' for the host name and print it.
        raise ValueError(
            "storage URL has more than one '@' before its host: write '@' in the user name or "
            f"password as %40. Got {mask_password(url)!r}."
        )
    if scheme == "journal":
        path = url[len("journal://") :]
        if not path:
            raise ValueError(f"storage journal URL names no file: {mask_password(url)!r}.")
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(path))
    if scheme in ("redis", "rediss"):
        from optuna.storages.journal import JournalRedisBackend

        return optuna.storages.JournalStorage(JournalRedisBackend(url))
    if scheme == "grpc":
        parts = urlsplit(url)
        if parts.hostname is None or parts.port is None:
            raise ValueError(
                f"storage gRPC URL needs a host and a port, got {mask_password(url)!r}."
            )
        return optuna.storages.GrpcStorageProxy(host=parts.hostname, port=parts.port)
    if scheme == "postgresql" and importlib.util.find_spec("psycopg") is None:
        # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; our [postgres] extra is psycopg2.
        url = "postgresql+psycopg2://" + rest
    # A connection the server dropped (restart, idle timeout, pg_terminate_backend) is replaced
    # instead of failing the next trial write.
    rdb_kwargs.setdefault("engine_kwargs", {"pool_pre_ping": True})
    try:
        return optuna.storages.RDBStorage(url, **rdb_kwargs)
    except Exception as error:  # noqa: BLE001 - drivers put the URL, password too, in messages
        raise RuntimeError(
            f"cannot open storage {mask_password(url)}: {mask_password(str(error))}"
        ) from None
