"""Output files of the CLI commands, checked before any work starts.

A command that computes for minutes and then cannot write its result has wasted those minutes:
every command checks all of its output paths first, with :func:`check_output_paths`.
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Mapping
import os


def check_output_paths(
    paths: Mapping[str, str | os.PathLike[str] | None], *, stdout_ok: Collection[str] = ()
) -> None:
    """Raise ``ValueError`` naming the option when an output path cannot be written.

    ``paths`` maps each option (``"--csv"``) to its value (None: not given). An option in
    ``stdout_ok`` may be ``-`` (standard output). Nothing is created or truncated.

    Example:

        .. code-block:: python

            check_output_paths({"--csv": "-", "--plot": "rank.png"}, stdout_ok={"--csv"})
    """
    seen: dict[str, str] = {}
    for option, path in paths.items():
        if path is None or (option in stdout_ok and os.fspath(path) == "-"):
            continue
        path = os.fspath(path)
        _check_one(option, path)
        key = os.path.realpath(path)
        if key in seen:
            raise ValueError(f"{seen[key]} and {option} name the same file {path!r}.")
        seen[key] = option


def _check_one(option: str, path: str) -> None:
    if not path:
        raise ValueError(f"{option} needs a file name, got an empty string.")
    if os.path.isdir(path):
        raise ValueError(f"{option} {path!r} is a folder; give a file name in it.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"{option} {path!r}: the folder {folder!r} does not exist.")
    if os.path.exists(path):
        if not os.access(path, os.W_OK):
            raise ValueError(f"{option} {path!r} exists and is not writable.")
    elif not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {path!r}: the folder {folder!r} is not writable.")
