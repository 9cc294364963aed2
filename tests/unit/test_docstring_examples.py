"""Every public class has an ``Example:`` in its docstring, and every example runs."""

from __future__ import annotations

import inspect
from pathlib import Path
import textwrap

import optuna
import pytest

import optuna_sotl


PUBLIC_CLASSES = sorted(optuna_sotl.__all__)


def code_blocks(docstring: str) -> list[str]:
    """The bodies of the ``.. code-block:: python`` directives in ``docstring``, dedented."""
    lines = docstring.splitlines()
    blocks = []
    for index, line in enumerate(lines):
        if line.strip() != ".. code-block:: python":
            continue
        indent = len(line) - len(line.lstrip())
        body = []
        for following in lines[index + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            body.append(following)
        blocks.append(textwrap.dedent("\n".join(body)).strip() + "\n")
    return blocks


@pytest.mark.parametrize("name", PUBLIC_CLASSES)
def test_public_class_has_a_short_docstring_with_an_example(name: str) -> None:
    docstring = inspect.getdoc(getattr(optuna_sotl, name)) or ""
    prose = docstring.split("Example:")[0].strip().splitlines()
    assert "Example:" in docstring and code_blocks(docstring), f"{name} has no example"
    # Optuna's class docstrings run 5 to 17 lines of prose before their example.
    assert len(prose) <= 17, f"{name}: {len(prose)} lines before the example"


@pytest.mark.parametrize("name", PUBLIC_CLASSES)
def test_docstring_example_runs(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    blocks = code_blocks(inspect.getdoc(getattr(optuna_sotl, name)) or "")
    assert blocks
    for block in blocks:
        source = f"<{name} docstring example>"
        exec(compile(block, source, "exec"), {"__name__": "__docstring_example__"})
