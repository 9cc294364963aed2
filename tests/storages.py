"""Every Optuna storage our code must work with, on real servers, behind one context manager.

Modelled on ``optuna/testing/storages.py``, but with the real PostgreSQL, MariaDB and Redis servers
of the project's machines instead of fakes, and a gRPC proxy that runs in its own process in front
of PostgreSQL the way it is deployed. Each supplier also gives a URL (see
``optuna_sotl._storage_url``) so that worker processes can open the same storage.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid

import optuna
import pytest

from optuna_sotl._storage_url import open_storage


POSTGRES_URL = os.environ.get(
    "OPTUNA_SOTL_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("OPTUNA_SOTL_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("OPTUNA_SOTL_REDIS_URL", "redis://127.0.0.1:6379/0")

# Every storage our users rely on. "grpc" is Optuna's gRPC proxy in front of PostgreSQL.
STORAGE_MODES = [
    "inmemory",
    "sqlite",
    "journal_file",
    "journal_redis",
    "postgresql",
    "mysql",
    "grpc",
]
# Storages several processes can share (in-memory cannot).
SHARED_STORAGE_MODES = [mode for mode in STORAGE_MODES if mode != "inmemory"]

_SERVER_OF_MODE = {
    "journal_redis": ("Redis", "127.0.0.1", 6379),
    "postgresql": ("PostgreSQL", "127.0.0.1", 5432),
    "mysql": ("MariaDB", "127.0.0.1", 3306),
    "grpc": ("PostgreSQL", "127.0.0.1", 5432),
}


def require_server(name: str, host: str, port: int) -> None:
    """Fail under CI=true when a server is unreachable (CI must test it); skip on a laptop."""
    try:
        with socket.create_connection((host, port), timeout=3):
            return
    except OSError as error:
        message = f"{name} at {host}:{port} is unreachable: {error}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: this test must run against the real server)")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GrpcProxyServer:
    """``optuna.storages.run_grpc_proxy_server`` in a child process, as deployed."""

    def __init__(self, backend_url: str) -> None:
        self.port = free_port()
        self.url = f"grpc://127.0.0.1:{self.port}"
        code = (
            "import optuna;"
            f"storage = optuna.storages.get_storage({backend_url!r});"
            "optuna.storages.run_grpc_proxy_server("
            f"storage, host='127.0.0.1', port={self.port})"
        )
        self._process = subprocess.Popen(
            [sys.executable, "-W", "ignore", "-c", code],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"gRPC proxy exited: {self._process.stderr.read().decode()[-2000:]}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        self.close()
        raise RuntimeError("gRPC proxy did not start within 60 s")

    def close(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()


class StorageSupplier:
    """Gives one storage of ``mode`` and its URL, and removes what the test wrote on exit."""

    def __init__(self, mode: str, tmp_path: os.PathLike[str], grpc_url: str | None) -> None:
        if mode not in STORAGE_MODES:
            raise ValueError(f"unknown storage mode {mode!r}")
        self.mode = mode
        self._tmp_path = tmp_path
        self._grpc_url = grpc_url
        self._prefix = f"optuna-sotl-test-{uuid.uuid4().hex[:12]}"
        self.url: str | None = None
        self._study_names: list[str] = []

    def __enter__(self) -> optuna.storages.BaseStorage:
        if self.mode in _SERVER_OF_MODE:
            require_server(*_SERVER_OF_MODE[self.mode])
        if self.mode == "inmemory":
            self.storage: optuna.storages.BaseStorage = optuna.storages.InMemoryStorage()
            return self.storage
        if self.mode == "sqlite":
            self.url = f"sqlite:///{os.path.join(self._tmp_path, self._prefix)}.db"
        elif self.mode == "journal_file":
            self.url = f"journal://{os.path.join(self._tmp_path, self._prefix)}.log"
        elif self.mode == "journal_redis":
            self.url = REDIS_URL
        elif self.mode == "postgresql":
            self.url = POSTGRES_URL
        elif self.mode == "mysql":
            self.url = MYSQL_URL
        else:
            assert self._grpc_url is not None
            self.url = self._grpc_url
        self.storage = self.open()
        return self.storage

    def open(self) -> optuna.storages.BaseStorage:
        """Another connection to the same storage, as a second worker would have."""
        assert self.url is not None
        if self.mode == "journal_redis":
            backend = optuna.storages.journal.JournalRedisBackend(self.url, prefix=self._prefix)
            return optuna.storages.JournalStorage(backend)
        return open_storage(self.url)

    def study_name(self) -> str:
        name = f"{self._prefix}-{uuid.uuid4().hex[:6]}"
        self._study_names.append(name)
        return name

    def __exit__(self, *exc_info: object) -> None:
        if self.mode in ("postgresql", "mysql", "grpc"):
            # The servers are shared by every test and session: remove this test's studies. Only
            # the names handed out are looked up; listing every study would race with other
            # processes deleting theirs.
            for name in self._study_names:
                try:
                    optuna.delete_study(study_name=name, storage=self.storage)
                except KeyError:
                    pass  # the test deleted it, or never created it
        if self.mode == "journal_redis":
            import redis

            client = redis.Redis.from_url(REDIS_URL)
            keys = list(client.scan_iter(match=f"{self._prefix}*"))
            if keys:
                client.delete(*keys)
        engine = getattr(self.storage, "engine", None)
        if engine is not None:
            engine.dispose()


@contextlib.contextmanager
def grpc_proxy_in_front_of_postgres() -> Iterator[str]:
    require_server("PostgreSQL", "127.0.0.1", 5432)
    server = GrpcProxyServer(POSTGRES_URL)
    try:
        yield server.url
    finally:
        server.close()
