"""Reading recorded learning curves from the documented ``.npz`` layout.

The layout (``docs/data.md``): ``train_loss`` and ``val_loss`` of shape ``(N, T)`` (column
``j`` is epoch ``j + 1``), the final result ``test_acc`` (higher is better) or ``test_loss`` (lower
is better) of shape ``(N,)``, and optionally ``val_acc`` / ``train_acc`` ``(N, T)``, ``ops``
``(N, E)`` strings with ``edges`` ``(E,)``, ``arch_id`` / ``params`` / ``train_seconds`` ``(N,)``.
Any ``N`` and ``T`` are accepted; nothing beyond the required keys is assumed.
"""

from __future__ import annotations

import dataclasses
import math
import os
import zipfile
import zlib

import numpy as np


_REQUIRED_CURVES = ("train_loss", "val_loss")
_OPTIONAL_CURVES = ("val_acc", "train_acc")
_RESULT_KEYS = ("test_acc", "test_loss")
_OPTIONAL_VECTORS = ("arch_id", "params", "train_seconds")


@dataclasses.dataclass(frozen=True)
class LearningCurves:
    """Per-epoch curves and final results of ``n_archs`` recorded training runs.

    Curves are float64 arrays of shape ``(n_archs, n_epochs)``; column ``j`` is epoch ``j + 1``.
    ``result`` is the final result (``test_acc`` or ``test_loss``, named by ``result_key``);
    :attr:`result_higher_is_better` says which way it points. Optional fields are ``None`` when the
    file does not have them.

    Example:

        .. code-block:: python

            import numpy as np
            from optuna_sotl.curves import LearningCurves

            curves = LearningCurves(
                train_loss=np.array([[2.0, 1.0], [2.0, 1.5]]),
                val_loss=np.array([[2.1, 1.2], [2.2, 1.7]]),
                result=np.array([90.0, 80.0]),
                result_key="test_acc",
            )
            assert curves.n_archs == 2 and curves.n_epochs == 2
    """

    train_loss: np.ndarray
    val_loss: np.ndarray
    result: np.ndarray
    result_key: str
    val_acc: np.ndarray | None = None
    train_acc: np.ndarray | None = None
    ops: np.ndarray | None = None
    edges: tuple[str, ...] | None = None
    arch_id: np.ndarray | None = None
    params: np.ndarray | None = None
    train_seconds: np.ndarray | None = None
    source: str = "<memory>"

    def __post_init__(self) -> None:
        if self.result_key not in _RESULT_KEYS:
            raise ValueError(
                f"result_key must be 'test_acc' or 'test_loss', got {self.result_key!r}."
            )

    @property
    def n_archs(self) -> int:
        return int(self.train_loss.shape[0])

    @property
    def n_epochs(self) -> int:
        return int(self.train_loss.shape[1])

    @property
    def result_higher_is_better(self) -> bool:
        return self.result_key == "test_acc"

    @property
    def val_metric(self) -> np.ndarray:
        """The curve a user would early-stop on: ``val_acc`` if present, else ``val_loss``."""
        return self.val_acc if self.val_acc is not None else self.val_loss

    @property
    def val_metric_key(self) -> str:
        return "val_acc" if self.val_acc is not None else "val_loss"

    @property
    def val_metric_higher_is_better(self) -> bool:
        return self.val_acc is not None


def load_curves(path: str | os.PathLike[str]) -> LearningCurves:
    """Load and check a learning-curve file in the documented ``.npz`` layout.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: when the file is not an ``.npz`` archive, a required key is missing, an array
            has the wrong shape or type, a curve row is all NaN or a final result is not finite;
            the message names the key.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"learning-curve file {path!r} does not exist.")
    if os.path.isdir(path):
        raise ValueError(f"learning-curve file {path!r} is a folder, not an .npz file.")
    _check_zip_magic(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path!r} is not a readable .npz archive: {error}") from None
    with archive:
        arrays = {key: _read(archive, key, path) for key in archive.files}
    return _check(arrays, path)


def _check_zip_magic(path: str) -> None:
    # numpy takes any file that is neither a zip nor an .npy for a pickle and says so, which
    # misleads for an empty, text or random file: name what the file is instead.
    with open(path, "rb") as file:
        head = file.read(6)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return
    if not head:
        raise ValueError(f"{path!r} is empty (0 bytes), not an .npz archive.")
    if head == b"\x93NUMPY":
        raise ValueError(f"{path!r} holds one .npy array, not an .npz archive of named arrays.")
    raise ValueError(f"{path!r} is not an .npz archive (a zip file): it starts with {head!r}.")


def _read(archive: np.lib.npyio.NpzFile, key: str, path: str) -> np.ndarray:
    _check_declared_size(archive, key, path)
    try:
        return archive[key]
    except ValueError as error:
        if "pickle" in str(error):
            # allow_pickle=False refuses object arrays: say which key holds one.
            raise ValueError(
                f"{path!r}: key {key!r} cannot be read without pickle (it holds object data)."
            ) from None
        raise ValueError(f"{path!r}: key {key!r} cannot be read: {error}") from None
    except (OSError, EOFError, MemoryError, zipfile.BadZipFile, zlib.error) as error:
        raise ValueError(
            f"{path!r}: key {key!r} is corrupt: {type(error).__name__}: {error}"
        ) from None


_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def _check_declared_size(archive: np.lib.npyio.NpzFile, key: str, path: str) -> None:
    # A corrupt header may declare 10**12 elements: numpy would try to allocate terabytes before
    # noticing the data is not there. Compare the declared size with the stored one first.
    zipped = archive.zip
    if zipped is None:
        return  # not read from a zip file: nothing to compare with
    member = key if key in zipped.namelist() else key + ".npy"
    try:
        stored = zipped.getinfo(member).file_size
        with zipped.open(member) as file:
            version = np.lib.format.read_magic(file)
            read_header = _HEADER_READERS.get(version)
            if read_header is None:
                return  # a newer .npy version: numpy checks it when reading
            shape, _, dtype = read_header(file)
            header_size = file.tell()
    except Exception as error:  # noqa: BLE001 - any corrupt header: one message naming the key
        raise ValueError(
            f"{path!r}: key {key!r} has no valid .npy header: {type(error).__name__}: {error}"
        ) from None
    if dtype.hasobject:
        return  # reading it is refused with its own message
    declared = math.prod(shape) * dtype.itemsize
    if declared > stored - header_size:
        raise ValueError(
            f"{path!r}: key {key!r} declares shape {shape} of {dtype} ({declared:,} bytes) but "
            f"holds {max(stored - header_size, 0):,} bytes: the file is truncated or corrupt."
        )


def _check(arrays: dict[str, np.ndarray], path: str) -> LearningCurves:
    for key in _REQUIRED_CURVES:
        if key not in arrays:
            raise ValueError(f"{path!r} has no {key!r} key (keys: {sorted(arrays)}).")
    result_key = next((key for key in _RESULT_KEYS if key in arrays), None)
    if result_key is None:
        raise ValueError(
            f"{path!r} has neither 'test_acc' nor 'test_loss' key (keys: {sorted(arrays)})."
        )

    train_loss = _curve(arrays, "train_loss", path, None)
    shape = train_loss.shape
    curves = {key: _curve(arrays, key, path, shape) for key in _REQUIRED_CURVES[1:]}
    for key in _OPTIONAL_CURVES:
        if key in arrays:
            curves[key] = _curve(arrays, key, path, shape)
    n_archs = shape[0]

    result = _vector(arrays, result_key, path, n_archs, numeric=True)
    bad = np.flatnonzero(~np.isfinite(result))
    if bad.size:
        raise ValueError(
            f"{path!r}: {result_key!r} must be finite, got {result[bad[0]]} at row {bad[0]} "
            f"({bad.size} non-finite rows)."
        )
    vectors = {
        key: _vector(arrays, key, path, n_archs, numeric=True)
        for key in _OPTIONAL_VECTORS
        if key in arrays
    }
    ops, edges = _ops(arrays, path, n_archs)
    return LearningCurves(
        train_loss=train_loss,
        result=result,
        result_key=result_key,
        ops=ops,
        edges=edges,
        source=path,
        **curves,
        **vectors,
    )


def _curve(
    arrays: dict[str, np.ndarray], key: str, path: str, shape: tuple[int, ...] | None
) -> np.ndarray:
    array = arrays[key]
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{path!r}: {key!r} must be numeric, got dtype {array.dtype}.")
    if shape is None:
        if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
            raise ValueError(
                f"{path!r}: {key!r} must have shape (N, T) with N, T >= 1, got {array.shape}."
            )
    elif array.shape != shape:
        raise ValueError(
            f"{path!r}: {key!r} must have the shape of 'train_loss' {shape}, got {array.shape}."
        )
    array = array.astype(np.float64)
    empty = np.flatnonzero(np.isnan(array).all(axis=1))
    if empty.size:
        raise ValueError(
            f"{path!r}: {key!r} row {empty[0]} is all NaN ({empty.size} such rows); "
            "every architecture needs at least one recorded epoch."
        )
    return array


def _vector(
    arrays: dict[str, np.ndarray], key: str, path: str, n_archs: int, *, numeric: bool
) -> np.ndarray:
    array = arrays[key]
    if array.shape != (n_archs,):
        raise ValueError(f"{path!r}: {key!r} must have shape ({n_archs},), got {array.shape}.")
    if numeric and array.dtype.kind not in "iuf":
        raise ValueError(f"{path!r}: {key!r} must be numeric, got dtype {array.dtype}.")
    return array.astype(np.float64) if array.dtype.kind == "f" else array


def _ops(
    arrays: dict[str, np.ndarray], path: str, n_archs: int
) -> tuple[np.ndarray | None, tuple[str, ...] | None]:
    if "ops" not in arrays:
        return None, None
    ops = arrays["ops"]
    if ops.ndim != 2 or ops.shape[0] != n_archs or ops.shape[1] < 1:
        raise ValueError(f"{path!r}: 'ops' must have shape ({n_archs}, E), got {ops.shape}.")
    if ops.dtype.kind not in "US":
        raise ValueError(f"{path!r}: 'ops' must hold strings, got dtype {ops.dtype}.")
    ops = ops.astype(str)
    if "edges" not in arrays:
        # Edge names are only labels for the search's parameters; number them when absent.
        return ops, tuple(f"edge{i}" for i in range(ops.shape[1]))
    edges = arrays["edges"]
    if edges.shape != (ops.shape[1],) or edges.dtype.kind not in "US":
        raise ValueError(
            f"{path!r}: 'edges' must be {ops.shape[1]} strings (one per column of 'ops'), "
            f"got shape {edges.shape} dtype {edges.dtype}."
        )
    names = tuple(str(edge) for edge in edges)
    if len(set(names)) != len(names):
        raise ValueError(f"{path!r}: 'edges' names must be unique, got {names}.")
    return ops, names
