from __future__ import annotations

from collections.abc import Iterator
import os
import warnings

import optuna
import pytest

from tests.storages import grpc_proxy_in_front_of_postgres
from tests.storages import STORAGE_MODES
from tests.storages import StorageSupplier


optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


@pytest.fixture(scope="session")
def grpc_url() -> Iterator[str]:
    with grpc_proxy_in_front_of_postgres() as url:
        yield url


@pytest.fixture(params=STORAGE_MODES)
def storage_supplier(
    request: pytest.FixtureRequest, tmp_path: os.PathLike[str]
) -> Iterator[StorageSupplier]:
    """One supplier per storage mode; ``with storage_supplier as storage:`` opens it."""
    grpc_url = request.getfixturevalue("grpc_url") if request.param == "grpc" else None
    yield StorageSupplier(request.param, tmp_path, grpc_url)


@pytest.fixture
def storage(storage_supplier: StorageSupplier) -> Iterator[optuna.storages.BaseStorage]:
    with storage_supplier as opened:
        yield opened


@pytest.fixture
def make_study(
    storage_supplier: StorageSupplier, storage: optuna.storages.BaseStorage
) -> object:
    """``make_study(**create_study_kwargs)``: a freshly named study on the parametrised storage."""

    def make(**kwargs: object) -> optuna.Study:
        return optuna.create_study(
            storage=storage, study_name=storage_supplier.study_name(), **kwargs
        )

    return make
