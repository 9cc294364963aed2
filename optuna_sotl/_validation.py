"""Argument checks shared by the public classes, with messages that name the argument."""

from __future__ import annotations

import numbers


def check_count(name: str, value: object, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r}.")
    if value < minimum:
        qualifier = "negative" if minimum == 0 else f"less than {minimum}"
        raise ValueError(f"{name} cannot be {qualifier}, got {name}={value}.")
    return int(value)
