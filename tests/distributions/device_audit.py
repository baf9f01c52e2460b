"""Torch-function modes that record, on any machine, what would go wrong on an accelerator.

:func:`deviceless_factories` records tensors created in the package by a factory (``torch.zeros``,
``torch.rand``, ...) without a ``device`` argument: on a GPU they would land on the CPU. :func:`host_reads`
records reads of tensor values on the host (``bool``, ``float``, ``item``, ``tolist``...): on a GPU each one is a
synchronisation. Both report the package's source line that made the call.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import torch
from torch.overrides import TorchFunctionMode

import pyro_drpm

PACKAGE = Path(pyro_drpm.__file__).resolve().parent

# Factories that take a `device`; `*_like` and `Tensor.new_*` inherit the device of their argument instead.
_FACTORIES = {
    torch.arange,
    torch.empty,
    torch.eye,
    torch.full,
    torch.linspace,
    torch.ones,
    torch.rand,
    torch.randint,
    torch.randn,
    torch.randperm,
    torch.tensor,
    torch.zeros,
}
_HOST_READS = {
    torch.Tensor.__bool__,
    torch.Tensor.__float__,
    torch.Tensor.__int__,
    torch.Tensor.__index__,
    torch.Tensor.item,
    torch.Tensor.tolist,
    torch.Tensor.cpu,
    torch.Tensor.numpy,
}


def _package_caller(parts: tuple[str, ...]) -> str | None:
    """``file:line`` of the innermost frame in one of the package's sub-packages ``parts``, if any."""
    frame = sys._getframe(2)
    while frame is not None:
        path = Path(frame.f_code.co_filename).resolve()
        if PACKAGE in path.parents:
            relative = path.relative_to(PACKAGE)
            if not parts or relative.parts[0] in parts:
                return f"{relative}:{frame.f_lineno} ({frame.f_code.co_name})"
            return None
        frame = frame.f_back
    return None


class _Recorder(TorchFunctionMode):
    def __init__(self, record, parts):
        super().__init__()
        self.record, self.parts, self.found = record, parts, []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.record(func, args, kwargs):
            caller = _package_caller(self.parts)
            if caller is not None:
                self.found.append(f"{getattr(func, '__name__', func)} at {caller}")
        return func(*args, **kwargs)


def _deviceless(func, args, kwargs) -> bool:
    if func is torch.as_tensor:  # a tensor argument keeps its device; other data lands on the default one
        return "device" not in kwargs and not (args and isinstance(args[0], torch.Tensor))
    return func in _FACTORIES and "device" not in kwargs


@contextlib.contextmanager
def deviceless_factories(parts: tuple[str, ...] = ("distributions", "relaxations", "ops.py")):
    """Record factory calls without ``device`` made from the package's ``parts`` (the list is yielded)."""
    recorder = _Recorder(_deviceless, parts)
    with recorder:
        yield recorder.found


@contextlib.contextmanager
def host_reads(parts: tuple[str, ...] = ()):
    """Record reads of tensor values on the host made from the package (the list is yielded)."""
    recorder = _Recorder(lambda func, args, kwargs: func in _HOST_READS, parts)
    with recorder:
        yield recorder.found
