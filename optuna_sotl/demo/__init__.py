"""``optuna-sotl demo``: a small, real NAS-Bench-201 search on noisy 8x8 digits, pruned by SoTL.

:func:`run_demo` needs torch and scikit-learn, imported only while it runs, so importing this
package stays light.
"""

from __future__ import annotations

from typing import Any
from typing import TYPE_CHECKING

from optuna_sotl.demo._config import DEFAULT_STORAGE


if TYPE_CHECKING:
    from optuna_sotl.demo._demo import DemoResult
    from optuna_sotl.demo._demo import run_demo


__all__ = ["DEFAULT_STORAGE", "DemoResult", "run_demo"]


def __getattr__(name: str) -> Any:
    # PEP 562: the run's module (multiprocessing, tqdm) is loaded on first use.
    if name in ("DemoResult", "run_demo"):
        from optuna_sotl.demo import _demo

        return getattr(_demo, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
