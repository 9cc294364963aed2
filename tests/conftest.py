from __future__ import annotations

from collections.abc import Iterator
import os
from pathlib import Path
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


# The recorded learning curves are not in the repository (see docs/data.md): tests that need them
# find them through one setting, and say how to build them when it is missing.
DATA_ENV = "OPTUNA_SOTL_DATA"
_HOW_TO_BUILD = (
    f"set {DATA_ENV} to a folder holding spikenas_cifar10.npz: clone SpikeNAS-Bench "
    "(github.com/tju-sun-lab/SpikeNAS-Bench), run `optuna-sotl curves convert spikenas "
    f"SpikeNAS-Bench/data/CIFAR10 DIR/spikenas_cifar10.npz`, then `export {DATA_ENV}=DIR` "
    "(docs/data.md)"
)


_RAW_SAMPLE_HOW_TO = (
    "copy the fifteen data/CIFAR10/<id> folders of a SpikeNAS-Bench clone listed in docs/data.md "
    f"into ${DATA_ENV}/spikenas-raw-sample/CIFAR10/"
)


def data_path(name: str, how_to: str = _HOW_TO_BUILD) -> Path:
    """``$OPTUNA_SOTL_DATA/name``; skips the test when it is not there, fails it under CI=true."""
    folder = os.environ.get(DATA_ENV, "")
    if not folder:
        problem = f"{DATA_ENV} is not set"
    else:
        path = Path(folder) / name
        if path.exists():
            return path
        problem = f"{DATA_ENV}={folder} has no {name}"
    message = f"{problem}: {how_to}."
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def spikenas_path() -> Path:
    """The converted SpikeNAS-Bench CIFAR-10 curves, ``$OPTUNA_SOTL_DATA/spikenas_cifar10.npz``."""
    return data_path("spikenas_cifar10.npz")


@pytest.fixture
def raw_sample_dir() -> Path:
    """Fifteen of SpikeNAS-Bench's own files, ``$OPTUNA_SOTL_DATA/spikenas-raw-sample/``."""
    return data_path("spikenas-raw-sample", _RAW_SAMPLE_HOW_TO)
