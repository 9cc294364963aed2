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

import re
from typing import Any
from urllib.parse import urlsplit

import optuna


_PASSWORD_IN_URL = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*:)[^@\s]*(?=@)")


def mask_password(text: str) -> str:
    """Replace the password of every URL in ``text`` with ``***`` so that logs never show it."""
    return _PASSWORD_IN_URL.sub(r"\g<head>***", text)


def open_storage(url: str, **rdb_kwargs: Any) -> optuna.storages.BaseStorage:
    """Open the storage ``url`` names; ``rdb_kwargs`` (heartbeat settings...) go to RDBStorage."""
    if not isinstance(url, str) or "://" not in url:
        raise ValueError(
            f"storage must be a URL such as sqlite:///study.db, got {mask_password(str(url))!r}."
        )
    scheme = url.split("://", 1)[0].lower()
    if scheme == "journal":
        path = url[len("journal://") :]
        if not path:
            raise ValueError(f"storage journal URL names no file: {url!r}.")
        backend = optuna.storages.journal.JournalFileBackend(path)
        return optuna.storages.JournalStorage(backend)
    if scheme in ("redis", "rediss"):
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalRedisBackend(url))
    if scheme == "grpc":
        parts = urlsplit(url)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"storage gRPC URL needs a host and a port, got {url!r}.")
        return optuna.storages.GrpcStorageProxy(host=parts.hostname, port=parts.port)
    try:
        return optuna.storages.RDBStorage(url, **rdb_kwargs)
    except Exception as error:  # noqa: BLE001 - drivers put the URL, password too, in messages
        raise RuntimeError(
            f"cannot open storage {mask_password(url)}: {mask_password(str(error))}"
        ) from None
