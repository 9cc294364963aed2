"""Shared by the benchmark scripts: paths and the header every results file starts with."""

from __future__ import annotations

import datetime
import hashlib
import os
import platform
import shlex
import subprocess
import sys

import numpy as np


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "benchmarks", "results")
# The recorded learning curves are not in the repository: $OPTUNA_SOTL_DATA names the folder that
# holds them (docs/data.md says how to build spikenas_cifar10.npz).
DATA_ENV = "OPTUNA_SOTL_DATA"
DATA_DIR = os.environ.get(DATA_ENV) or None
DEFAULT_DATA = os.path.join(DATA_DIR, "spikenas_cifar10.npz") if DATA_DIR else None


def require_data(path: str | None) -> str:
    """``path``, or exit with a message that says how to get the learning curves."""
    if path and os.path.exists(path):
        return path
    problem = f"{path} does not exist" if path else f"{DATA_ENV} is not set and --data not given"
    raise SystemExit(
        f"{problem}. Build the file with `optuna-sotl curves convert spikenas "
        f"SpikeNAS-Bench/data/CIFAR10 DIR/spikenas_cifar10.npz` and `export {DATA_ENV}=DIR` "
        "(docs/data.md)."
    )


def portable(arg: str) -> str:
    """A command-line argument as anyone can type it from the repository's root, shell-quoted.

    Paths under ``$OPTUNA_SOTL_DATA`` are written through the variable, paths in the repository
    relative to its root, and other absolute paths by their file name only: a results file must
    not show the folders of the machine it was made on.
    """
    option, sep, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
    if not sep:
        option, value = "", arg
    if value.startswith("-") or not (os.path.isabs(value) or os.path.exists(value)):
        return shlex.quote(arg)
    path = os.path.abspath(value)
    prefix = shlex.quote(option + sep) if sep else ""
    if DATA_DIR and _inside(path, DATA_DIR):
        return f"{prefix}${DATA_ENV}/{shlex.quote(os.path.relpath(path, DATA_DIR))}"
    if _inside(path, REPO):
        return prefix + shlex.quote(os.path.relpath(path, REPO))
    return prefix + shlex.quote(os.path.basename(path))


def data_label(path: str) -> str:
    """A data file's name and a fingerprint: curve sets rebuilt on another machine (another CPU,
    library versions) can differ, and a reader must be able to tell. For a ``.npz`` curve set
    the fingerprint is the SHA-256 of its arrays but ``train_seconds`` (wall times, which differ
    on every rebuild, as does the archive's own time stamp), so two builds with the same curves
    carry the same one; for another file, the SHA-256 of its bytes."""
    name = os.path.basename(path)
    if not os.path.exists(path):
        return f"`{name}`"
    digest = hashlib.sha256()
    if path.endswith(".npz"):
        import numpy as np

        try:
            with np.load(path, allow_pickle=False) as arrays:
                for key in sorted(arrays.files):
                    if key == "train_seconds":
                        continue
                    array = np.ascontiguousarray(arrays[key])
                    digest.update(f"{key}:{array.dtype.str}:{array.shape}".encode())
                    digest.update(array.tobytes())
            return f"`{name}` (curves SHA-256 {digest.hexdigest()[:12]}, without `train_seconds`)"
        except ValueError:  # object arrays: no stable bytes to hash, so the file's
            digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return f"`{name}` (SHA-256 {digest.hexdigest()[:12]})"


def _inside(path: str, folder: str) -> bool:
    folder = os.path.abspath(folder)
    return os.path.commonpath([path, folder]) == folder


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def header(title: str, extra: list[str] | None = None) -> str:
    """A markdown header: command, date, machine and library versions."""
    import numpy
    import optuna
    import scipy

    command = " ".join(portable(arg) for arg in [os.path.abspath(sys.argv[0])] + sys.argv[1:])
    try:
        commit = subprocess.run(
            ["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "none (uncommitted tree)"
    target = os.environ.get("BENCH_TARGET", "")
    lines = [
        f"# {title}",
        "",
        f"- Command: `python {command}`"
        + (f" (run by `make -C benchmarks {target}`)" if target else ""),
        f"- Date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- Machine: {cpu_model()}, {os.cpu_count()} logical cores visible "
        f"({platform.system()} {platform.release()}); shared with other work, so absolute "
        "times are noisy — compare within a file only.",
        f"- Software: Python {platform.python_version()}, optuna {optuna.__version__}, "
        f"numpy {numpy.__version__}, scipy {scipy.__version__}; optuna-sotl commit {commit}",
    ]
    lines += [f"- {line}" for line in extra or []]
    return "\n".join(lines) + "\n"


def results_path(name: str) -> str:
    os.makedirs(RESULTS, exist_ok=True)
    return os.path.join(RESULTS, name)


def paired_ci_text(diff: np.ndarray, rng: np.random.Generator) -> str:
    """``mean [low, high]`` of paired differences with a 95 % bootstrap CI over them (5000
    resamples), in bold when the CI excludes 0: the cell the diagnosis tables print."""
    diff = np.asarray(diff, dtype=float)
    draws = rng.integers(0, diff.size, size=(5000, diff.size))
    low, high = np.percentile(diff[draws].mean(axis=1), [2.5, 97.5])
    text = f"{diff.mean():+.3f} [{low:+.3f}, {high:+.3f}]"
    return f"**{text}**" if low > 0 or high < 0 else text
