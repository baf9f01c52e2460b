"""Schedules: a value (a temperature, a KL weight) as a function of the fraction of training done.

A schedule is an object called with ``progress`` in ``[0, 1]``; the training loop
(:func:`~pyro_drpm.infer.training.train_svi`) evaluates it before every step and passes the value to the model
and guide as a keyword argument, so no model holds state that the loop mutates.
"""

from __future__ import annotations

import math
from typing import Protocol

__all__ = ["ConstantSchedule", "ExponentialSchedule", "LinearSchedule", "Schedule"]


class Schedule(Protocol):
    """Anything that maps the fraction of training done, ``progress`` in ``[0, 1]``, to a float."""

    def __call__(self, progress: float) -> float: ...


def _check_positive(name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive and finite, got {value}")
    return value


def _clamp(progress: float) -> float:
    return min(max(float(progress), 0.0), 1.0)


class ConstantSchedule:
    """The same ``value`` throughout training.

    Example::

        >>> ConstantSchedule(0.5)(0.3)
        0.5
    """

    def __init__(self, value: float):
        self.value = float(value)

    def __call__(self, progress: float) -> float:
        return self.value

    def __repr__(self) -> str:
        return f"ConstantSchedule({self.value})"


class ExponentialSchedule:
    """Exponential interpolation ``initial * (final / initial) ** progress`` (the DRPM paper's temperature annealing).

    Example::

        >>> schedule = ExponentialSchedule(1.0, 0.25)
        >>> schedule(0.0), schedule(0.5), schedule(1.0), schedule(2.0)
        (1.0, 0.5, 0.25, 0.25)

    :param initial: the value at ``progress = 0``, positive.
    :param final: the value at ``progress = 1`` (and after), positive.
    """

    def __init__(self, initial: float, final: float):
        self.initial = _check_positive("initial", initial)
        self.final = _check_positive("final", final)

    def __call__(self, progress: float) -> float:
        return self.initial * (self.final / self.initial) ** _clamp(progress)

    def __repr__(self) -> str:
        return f"ExponentialSchedule({self.initial}, {self.final})"


class LinearSchedule:
    """Linear interpolation from ``initial`` to ``final``, reached at ``progress = end`` and kept afterwards.

    Example::

        >>> LinearSchedule(0.0, 1.0, end=0.5)(0.25)
        0.5

    :param initial: the value at ``progress = 0``.
    :param final: the value from ``progress = end`` on.
    :param end: the fraction of training at which ``final`` is reached, in ``(0, 1]``.
    """

    def __init__(self, initial: float, final: float, end: float = 1.0):
        if not 0.0 < float(end) <= 1.0:
            raise ValueError(f"end must lie in (0, 1], got {end}")
        self.initial, self.final, self.end = float(initial), float(final), float(end)

    def __call__(self, progress: float) -> float:
        fraction = min(_clamp(progress) / self.end, 1.0)
        return self.initial + (self.final - self.initial) * fraction

    def __repr__(self) -> str:
        return f"LinearSchedule({self.initial}, {self.final}, end={self.end})"
