"""Argument checks shared by the distributions; each raises ``ValueError`` naming the argument.

Shape checks run eagerly (they need no device data). Value checks (:func:`check_temperature`,
:func:`check_values`) are called only under ``self._validate_args``: each ``.all()``/``.any()`` on a tensor is a
host synchronisation, and Pyro's contract is that construction with validation off never raises on values.
"""

from __future__ import annotations

import math

import torch

__all__ = ["check_event_shape", "check_temperature", "check_temperature_shape", "check_values"]


def check_temperature_shape(temperature, owner: str) -> float | torch.Tensor:
    """The eager part of a temperature check: a number or a one-element tensor (no device data is read)."""
    if isinstance(temperature, torch.Tensor):
        if temperature.numel() != 1:
            raise ValueError(f"{owner}: `temperature` must be a scalar, got shape {tuple(temperature.shape)}")
        return temperature
    if isinstance(temperature, bool):
        raise ValueError(f"{owner}: `temperature` must be a positive number, got {temperature!r}")
    try:
        float(temperature)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: `temperature` must be a positive number, got {temperature!r}") from None
    return temperature


def check_temperature(temperature, owner: str) -> None:
    """Validate a relaxation temperature's value: positive and finite (0 is rejected, not read as a hard limit)."""
    value = float(temperature.detach()) if isinstance(temperature, torch.Tensor) else float(temperature)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{owner}: `temperature` must be positive and finite, got {value}")


def check_values(valid: torch.Tensor, owner: str, name: str, requirement, value) -> None:
    """Raise ``ValueError`` naming ``name`` and showing ``value`` unless every entry of ``valid`` holds.

    ``requirement`` is a string, or a function returning one, called only to build the message (so that a
    message that shows tensor values reads them only when the check fails).
    """
    if not bool(valid.all()):
        shown = value.detach().cpu().tolist() if isinstance(value, torch.Tensor) else value
        requirement = requirement() if callable(requirement) else requirement
        raise ValueError(f"{owner}: `{name}` must be {requirement}, got {shown}")


def check_event_shape(value: torch.Tensor, event_shape: torch.Size, owner: str) -> None:
    """Raise ``ValueError`` unless ``value``'s trailing dimensions are ``event_shape`` (a shape check: eager)."""
    if value.shape[value.dim() - len(event_shape) :] != event_shape or value.dim() < len(event_shape):
        raise ValueError(f"{owner}: `value` must end in the event shape {tuple(event_shape)}, got {tuple(value.shape)}")
