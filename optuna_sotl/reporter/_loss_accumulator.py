"""Sums minibatch losses of one epoch without synchronising an accelerator on every minibatch."""

from __future__ import annotations

import numbers
import sys
from typing import Any

import numpy as np


def _is_torch_tensor(value: object) -> bool:
    # Looking torch up in sys.modules keeps torch optional: a tensor can only exist once torch
    # has been imported by the caller.
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


class LossAccumulator:
    """Running sum and count of the minibatch losses of one epoch.

    Python and numpy numbers are summed as floats. Torch tensors are summed on their own device,
    detached and in at least float32, and read back once by :meth:`mean`, so a CUDA training loop
    is synchronised once per epoch instead of once per minibatch.
    """

    def __init__(self) -> None:
        self._float_sum = 0.0
        self._tensor_sum: Any = None
        self._count = 0

    @property
    def count(self) -> int:
        return self._count

    def add(self, loss: object, name: str = "loss") -> None:
        """Add one value; ``name`` is the argument named in error messages."""
        if _is_torch_tensor(loss):
            self._add_tensor(loss, name)
        elif isinstance(loss, (np.ndarray, np.generic)):
            self._add_float(self._numpy_to_float(loss, name))
        elif isinstance(loss, numbers.Real) and not isinstance(loss, bool):
            self._add_float(float(loss))
        else:
            raise TypeError(
                f"{name} must be a float, a numpy scalar or a one-element torch tensor, "
                f"got {type(loss).__name__}: {loss!r:.80}."
            )

    def mean(self) -> float:
        """The mean loss so far; reads a device tensor back, the one synchronisation per epoch."""
        if self._count == 0:
            raise ValueError("no minibatch loss was added, so the epoch has no mean.")
        total = self._float_sum
        if self._tensor_sum is not None:
            total += float(self._tensor_sum.item())
        return total / self._count

    def _add_float(self, value: float) -> None:
        self._float_sum += value
        self._count += 1

    @staticmethod
    def _numpy_to_float(loss: np.ndarray | np.generic, name: str) -> float:
        array = np.asarray(loss)
        if array.size != 1:
            raise ValueError(
                f"{name} must hold one element, got a numpy array of shape {array.shape}."
            )
        if array.dtype.kind not in "iuf":
            raise TypeError(
                f"{name} must be a real number, got a numpy value of dtype {array.dtype}."
            )
        return float(array.reshape(()))

    def _add_tensor(self, loss: Any, name: str) -> None:
        if loss.numel() != 1:
            raise ValueError(
                f"{name} must be a one-element tensor, got a tensor of shape {tuple(loss.shape)}."
            )
        if loss.dtype.is_complex or loss.dtype == sys.modules["torch"].bool:
            raise TypeError(f"{name} must be a real-valued tensor, got dtype {loss.dtype}.")
        value = loss.detach().reshape(())
        if value.dtype != sys.modules["torch"].float64:
            value = value.float()
        self._tensor_sum = value if self._tensor_sum is None else self._tensor_sum + value
        self._count += 1
