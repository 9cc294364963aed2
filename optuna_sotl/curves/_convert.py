"""Converting a public benchmark's release into the documented ``.npz`` layout.

SpikeNAS-Bench (Sun et al., IEEE Transactions on Artificial Intelligence, 2024) ships one folder
per trained architecture, ``data/<DATASET>/<arch id>/train_process.txt``::

    architecture id: 10671
    model parameters: 17917668
    epoch, train_acc, train_loss, val_acc, val_loss
    0.000, 21.856, 2.046, 29.328, 1.902
    ...
    test accuracy: 87.640
    firing rate of layers: ...
    Elapsed time: 1.0hour54.0minute13.8second

:func:`convert_spikenas` reads such a folder and writes the layout :func:`load_curves` reads
(docs/data.md). The figures are the benchmark's: this only re-packs them.

Example:

    .. code-block:: python

        from optuna_sotl.curves import convert_spikenas, load_curves

        summary = convert_spikenas("SpikeNAS-Bench/data/CIFAR10", "spikenas_cifar10.npz")
        print(summary.describe())
        curves = load_curves("spikenas_cifar10.npz")
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
import math
import os
import re
from typing import Any

import numpy as np


#: SpikeNAS-Bench's edge operations, by index: an architecture id is the sum over edges ``e`` of
#: ``op_index * 5 ** e``.
SPIKENAS_OPS: tuple[str, ...] = (
    "none",
    "skip_connect",
    "lif_conv3x3_th0.5",
    "lif_conv3x3_th1.0",
    "lif_conv3x3_th1.5",
)
#: The cell's edges in the order of the id's base-5 digits, least significant first.
SPIKENAS_EDGES: tuple[str, ...] = ("0->1", "0->2", "0->3", "1->2", "1->3", "2->3")
N_SPIKENAS_ARCHS = len(SPIKENAS_OPS) ** len(SPIKENAS_EDGES)

FILE_NAME = "train_process.txt"
_HEADER = ("epoch", "train_acc", "train_loss", "val_acc", "val_loss")
_ELAPSED = re.compile(
    r"Elapsed time:\s*([0-9.]+)\s*hours?\s*([0-9.]+)\s*minutes?\s*([0-9.]+)\s*seconds?\s*$"
)


_Fail = Callable[[int, str], ValueError]


@dataclass(frozen=True)
class _Run:
    arch_id: int
    params: int
    rows: np.ndarray  # (epochs, 4): train_acc, train_loss, val_acc, val_loss
    test_acc: float
    train_seconds: float


@dataclass(frozen=True)
class ConvertSummary:
    """What :func:`convert_spikenas` wrote and what it left out.

    Attributes:
        out_path: The file written.
        n_found: Architecture folders with a ``train_process.txt``.
        n_written: Runs written (rows of the file).
        n_epochs: The epochs of every written run.
        other_schedules: Runs left out for another epoch count: epochs -> runs.
        unfinished: Arch ids of runs left out because their file has no test accuracy.
    """

    out_path: str
    n_found: int
    n_written: int
    n_epochs: int
    other_schedules: dict[int, int] = field(default_factory=dict)
    unfinished: tuple[int, ...] = ()

    def describe(self) -> str:
        """One paragraph for the terminal."""
        text = (
            f"Wrote {self.n_written} of {self.n_found} runs ({self.n_epochs} epochs each) to "
            f"{self.out_path}."
        )
        if self.other_schedules:
            counts = ", ".join(
                f"{epochs} epochs: {count}"
                for epochs, count in sorted(self.other_schedules.items())
            )
            n = sum(self.other_schedules.values())
            text += f" Left out {n} run{'s' * (n != 1)} on another schedule ({counts})."
        if self.unfinished:
            n = len(self.unfinished)
            shown = ", ".join(str(arch) for arch in self.unfinished[:5])
            more = ", ..." if n > 5 else ""
            text += (
                f" Left out {n} unfinished run{'s' * (n != 1)} (no test accuracy: {shown}{more})."
            )
        return text


def convert_spikenas(
    src_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    epochs: int | None = None,
    progress: bool = False,
) -> ConvertSummary:
    """Convert a SpikeNAS-Bench dataset folder (``data/<DATASET>``) into the ``.npz`` layout.

    Every ``<arch id>/train_process.txt`` under ``src_dir`` is read. Runs are kept when they
    trained for ``epochs`` epochs (by default the count most runs have; the release trained most
    architectures for 100 epochs and some for 200, and the two schedules' curves do not compare)
    and their file ends with a test accuracy; the rest are counted in the summary. Rows are
    sorted by architecture id. The file is written only when everything was read.

    Raises:
        FileNotFoundError: ``src_dir`` does not exist, or ``out_path``'s folder does not.
        ValueError: no run to convert, or a file that does not follow the format (the message
            names the file and line).
    """
    src = os.fspath(src_dir)
    out = os.fspath(out_path)
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int)):
        raise TypeError(f"epochs must be an int, got {epochs!r}.")
    if epochs is not None and epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}.")
    if not os.path.isdir(src):
        raise FileNotFoundError(f"SRC_DIR {src!r} is not a folder.")
    out_dir = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(out_dir):
        raise FileNotFoundError(f"the folder of OUT ({out_dir!r}) does not exist.")
    paths = _run_files(src)

    runs: list[_Run] = []
    unfinished: list[int] = []
    from tqdm import tqdm

    for path in tqdm(paths, desc="reading", unit="file", disable=not progress, leave=False):
        run = _read_run(path)
        if isinstance(run, int):
            unfinished.append(run)
        else:
            runs.append(run)
    if not runs:
        raise ValueError(f"no finished run (with a test accuracy) in {src!r}.")

    counts = Counter(len(run.rows) for run in runs)
    if epochs is None:
        # The most common schedule; on a tie the longer one, so the choice never depends on
        # the order the folders were listed in.
        epochs = max(counts, key=lambda n: (counts[n], n))
    elif epochs not in counts:
        found = ", ".join(f"{n} ({counts[n]} runs)" for n in sorted(counts))
        raise ValueError(f"epochs={epochs}: no run has that many epochs; found {found}.")
    kept = sorted((run for run in runs if len(run.rows) == epochs), key=lambda run: run.arch_id)
    _write(out, kept)
    return ConvertSummary(
        out_path=out,
        n_found=len(paths),
        n_written=len(kept),
        n_epochs=epochs,
        other_schedules={n: c for n, c in counts.items() if n != epochs},
        unfinished=tuple(sorted(unfinished)),
    )


def _run_files(src: str) -> list[str]:
    """The ``<arch id>/train_process.txt`` files directly under ``src``, by id."""
    found = []
    with os.scandir(src) as entries:
        for entry in entries:
            path = os.path.join(entry.path, FILE_NAME)
            if entry.is_dir() and entry.name.isdigit() and os.path.isfile(path):
                found.append((int(entry.name), path))
    ids = Counter(arch_id for arch_id, _ in found)
    twice = sorted(path for arch_id, path in found if ids[arch_id] > 1)
    if twice:  # e.g. folders 7 and 007: which one holds the run is not for us to guess
        raise ValueError(f"two folders for one architecture id: {', '.join(twice[:2])}.")
    if not found:
        # A common slip is to give the clone or its data/ folder: name the dataset folders.
        candidates = [
            os.path.join(parent, name)
            for parent in ("", "data")
            if os.path.isdir(os.path.join(src, parent))
            for name in sorted(os.listdir(os.path.join(src, parent)))
            if _has_runs(os.path.join(src, parent, name))
        ]
        hint = (
            f"; give a dataset folder such as {os.path.join(src, candidates[0])!r}"
            if candidates
            else " (give SpikeNAS-Bench's dataset folder, e.g. SpikeNAS-Bench/data/CIFAR10)"
        )
        raise ValueError(f"no <arch id>/{FILE_NAME} directly in SRC_DIR {src!r}{hint}.")
    return [path for _, path in sorted(found)]


def _has_runs(folder: str) -> bool:
    if not os.path.isdir(folder):
        return False
    with os.scandir(folder) as entries:
        return any(
            entry.name.isdigit() and os.path.isfile(os.path.join(entry.path, FILE_NAME))
            for entry in entries
        )


def _read_run(path: str) -> _Run | int:
    """The run in one file, or its arch id when the run has no test accuracy (unfinished)."""
    with open(path, encoding="utf-8", errors="replace") as file:
        lines = [line.strip() for line in file]
    # Blank lines carry nothing; keep each line's number for the error messages.
    numbered = [(number, line) for number, line in enumerate(lines, start=1) if line]

    def fail(number: int, problem: str) -> ValueError:  # the one place that shapes the message
        return ValueError(f"{path}:{number}: {problem}")

    if len(numbered) < 3:
        raise fail(len(lines), f"too short for a {FILE_NAME} ({len(numbered)} lines)")
    arch_id = _int_field(numbered[0], "architecture id", fail)
    folder = os.path.basename(os.path.dirname(path))
    if int(folder) != arch_id:
        raise fail(numbered[0][0], f"architecture id {arch_id} but the folder is {folder!r}")
    if not 0 <= arch_id < N_SPIKENAS_ARCHS:
        raise fail(
            numbered[0][0], f"architecture id {arch_id} is not in 0..{N_SPIKENAS_ARCHS - 1}"
        )
    params = _int_field(numbered[1], "model parameters", fail)
    number, header = numbered[2]
    if tuple(part.strip() for part in header.split(",")) != _HEADER:
        raise fail(number, f"expected the header {', '.join(_HEADER)!r}, got {header!r}")

    rows: list[list[float]] = []
    test_acc = train_seconds = None
    for number, line in numbered[3:]:
        if line.startswith("test accuracy"):
            test_acc = _float_field((number, line), "test accuracy", fail)
        elif line.startswith("firing rate"):
            continue  # per-layer spiking rates: not part of the layout
        elif line.startswith("Elapsed time"):
            match = _ELAPSED.match(line)
            if match is None:
                raise fail(number, f"expected 'Elapsed time: AhourBminuteCsecond', got {line!r}")
            hours, minutes, seconds = (float(group) for group in match.groups())
            train_seconds = hours * 3600.0 + minutes * 60.0 + seconds
        elif test_acc is None:
            rows.append(_epoch_row(number, line, len(rows), fail))
        else:
            raise fail(number, f"unexpected line after the test accuracy: {line!r}")
    if test_acc is None:
        return arch_id
    if not rows:
        raise fail(numbered[2][0], "no epoch row before the test accuracy")
    if train_seconds is None:
        raise fail(numbered[-1][0], "no 'Elapsed time:' line after the test accuracy")
    return _Run(arch_id, params, np.array(rows, dtype=np.float32), test_acc, train_seconds)


def _int_field(numbered: tuple[int, str], name: str, fail: _Fail) -> int:
    number, line = numbered
    key, _, value = line.partition(":")
    if key.strip() != name or not value.strip().isdigit():
        raise fail(number, f"expected '{name}: N', got {line!r}")
    return int(value)


def _float_field(numbered: tuple[int, str], name: str, fail: _Fail) -> float:
    number, line = numbered
    key, _, value = line.partition(":")
    try:
        parsed = float(value)
    except ValueError:
        parsed = math.nan
    if key.strip() != name or not math.isfinite(parsed):
        raise fail(number, f"expected '{name}: X', got {line!r}")
    return parsed


def _epoch_row(number: int, line: str, index: int, fail: _Fail) -> list[float]:
    parts = line.split(",")
    try:
        values = [float(part) for part in parts]
    except ValueError:
        values = []
    if len(values) != len(_HEADER) or not all(math.isfinite(v) for v in values):
        raise fail(number, f"expected {len(_HEADER)} numbers ({', '.join(_HEADER)}), got {line!r}")
    if values[0] != index:
        raise fail(number, f"expected epoch {index}, got {parts[0].strip()!r}")
    return values[1:]


def _write(out: str, runs: list[_Run]) -> None:
    arch_id = np.array([run.arch_id for run in runs], dtype=np.int64)
    digits = (arch_id[:, None] // len(SPIKENAS_OPS) ** np.arange(len(SPIKENAS_EDGES))) % len(
        SPIKENAS_OPS
    )
    width = max(len(op) for op in SPIKENAS_OPS)
    rows = np.stack([run.rows for run in runs])  # (N, T, 4)
    arrays = {
        "arch_id": arch_id,
        "ops": np.array(SPIKENAS_OPS, dtype=f"<U{width}")[digits],
        "edges": np.array(SPIKENAS_EDGES),
        "params": np.array([run.params for run in runs], dtype=np.int64),
        "train_seconds": np.array([run.train_seconds for run in runs], dtype=np.float32),
        "train_loss": rows[:, :, 1],
        "train_acc": rows[:, :, 0],
        "val_loss": rows[:, :, 3],
        "val_acc": rows[:, :, 2],
        "test_acc": np.array([run.test_acc for run in runs], dtype=np.float32),
    }
    # Written beside the target and renamed: an interrupted run leaves no half-written file.
    tmp = f"{out}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as file:
            # numpy's stubs type **kwds together with the allow_pickle flag; the keys here are
            # array names only.
            savez: Any = np.savez_compressed
            savez(file, **{key: np.ascontiguousarray(value) for key, value in arrays.items()})
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
