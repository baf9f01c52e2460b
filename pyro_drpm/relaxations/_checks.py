"""Eager argument checks of the relaxations: shapes and Python numbers only (no tensor value is read)."""

from __future__ import annotations

import math

import torch

__all__ = ["check_number"]


def check_number(owner: str, name: str, value) -> None:
    """Raise ``ValueError`` naming ``name`` if ``value`` is a Python number that is not positive and finite.

    Tensors pass unchecked: reading their value would synchronise a device on every call.
    """
    if isinstance(value, torch.Tensor):
        return
    try:
        number = float(value)  # Python and NumPy numbers
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not (math.isfinite(number) and number > 0):
        raise ValueError(f"{owner}: `{name}` must be a positive, finite number, got {value!r}")
