"""Sums minibatch losses of one epoch without synchronising an accelerator on every minibatch."""

from __future__ import annotations

import math
import numbers
import sys
from typing import Any

import numpy as np


# Tensor losses are summed as float64 times 2**-64 (see _add_tensor).
_TENSOR_SCALE_EXPONENT = 64


def _to_float(loss: numbers.Real, name: str) -> float:
    try:
        return float(loss)
    except OverflowError:  # an int or Fraction beyond the float range
        raise ValueError(f"{name} is too large for a float, got {loss!r:.80}.") from None


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
        # The float sum is kept as ``_float_sum * 2**_halvings``: two finite losses near the
        # float maximum must not add up to inf (which would prune the trial), and halving on
        # overflow keeps every other sum bit for bit what plain addition gives.
        self._float_sum = 0.0
        self._halvings = 0
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
            self._add_float(_to_float(loss, name))
        else:
            raise TypeError(
                f"{name} must be a float, a numpy scalar or a one-element torch tensor, "
                f"got {type(loss).__name__}: {loss!r:.80}."
            )

    def mean(self) -> float:
        """The mean loss so far; reads a device tensor back, the one synchronisation per epoch."""
        if self._count == 0:
            raise ValueError("no minibatch loss was added, so the epoch has no mean.")
        mean = math.ldexp(self._float_sum / self._count, self._halvings)
        if self._tensor_sum is not None:
            tensor_mean = float(self._tensor_sum.item()) / self._count
            if self._tensor_sum.dtype == sys.modules["torch"].float64:
                tensor_mean = math.ldexp(tensor_mean, _TENSOR_SCALE_EXPONENT)
            mean += tensor_mean
        return mean

    def _add_float(self, value: float) -> None:
        scaled = math.ldexp(value, -self._halvings)
        total = self._float_sum + scaled
        while math.isinf(total) and math.isfinite(scaled) and math.isfinite(self._float_sum):
            self._halvings += 1
            self._float_sum /= 2.0
            scaled /= 2.0
            total = self._float_sum + scaled
        self._float_sum = total
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
        try:
            return float(array.reshape(()))
        except OverflowError:
            raise ValueError(f"{name} is too large for a float, got {loss!r:.80}.") from None

    def _add_tensor(self, loss: Any, name: str) -> None:
        if loss.numel() != 1:
            raise ValueError(
                f"{name} must be a one-element tensor, got a tensor of shape {tuple(loss.shape)}."
            )
        if loss.dtype.is_complex or loss.dtype == sys.modules["torch"].bool:
            raise TypeError(f"{name} must be a real-valued tensor, got dtype {loss.dtype}.")
        torch = sys.modules["torch"]
        value = loss.detach().reshape(())
        if value.device.type == "mps":
            # MPS has no float64: float32 there, which overflows past 3.4e38 in all.
            value = value.float()
        else:
            # float64, scaled by an exact power of two: a sum of float32 or float64 losses cannot
            # overflow (it would take 2**64 maximal losses), and the scaling costs no bits for
            # any loss above 1e-289. One tiny kernel per minibatch either way.
            value = value.to(torch.float64) * 2.0**-_TENSOR_SCALE_EXPONENT
        self._tensor_sum = value if self._tensor_sum is None else self._tensor_sum + value
        self._count += 1
