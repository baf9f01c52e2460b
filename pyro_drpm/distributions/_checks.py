"""Argument checks shared by the distributions; each raises ``ValueError`` naming the argument."""

from __future__ import annotations

import math

import torch

__all__ = ["check_temperature"]


def check_temperature(temperature, owner: str) -> float | torch.Tensor:
    """Validate a relaxation temperature: a positive, finite scalar (float or one-element tensor)."""
    if isinstance(temperature, torch.Tensor):
        if temperature.numel() != 1:
            raise ValueError(f"{owner}: `temperature` must be a scalar, got shape {tuple(temperature.shape)}")
        value = float(temperature.detach())
    else:
        try:
            value = float(temperature)
        except (TypeError, ValueError):
            raise ValueError(f"{owner}: `temperature` must be a positive number, got {temperature!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{owner}: `temperature` must be positive and finite, got {value}")
    return temperature
