"""Shared by the benchmark scripts: paths and the header every results file starts with."""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
import sys


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "benchmarks", "results")
# The learning curves live outside the repository, in the sibling folder shared/ (also in CI).
DEFAULT_DATA = os.path.join(os.path.dirname(REPO), "shared", "data", "spikenas_cifar10.npz")


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

    command = " ".join(
        shlex.quote(arg) for arg in [os.path.relpath(sys.argv[0], REPO)] + sys.argv[1:]
    )
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
