"""The case registry that drives the generic contract tests (``tests/distributions/test_contracts.py``).

Every distribution contributes one module in this package defining ``CASES``, a list of :class:`Case`. A new
distribution joins the contract tests by adding such a module; nothing else needs editing.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field

import torch


@dataclass
class Case:
    """One example of a distribution for the generic contract tests.

    :param name: a short id for the test report.
    :param make: ``make(dtype) -> dict`` of constructor keyword arguments (tensors of that dtype). Tensors that
        should receive gradients are marked by name in ``grad_params``.
    :param dist_class: the distribution class.
    :param grad_params: names of keyword arguments that must receive finite gradients through ``rsample``
        and ``log_prob``.
    :param invalid_values: ``invalid_values(dist) -> list`` of values outside the support (event-shaped) that
        ``log_prob`` must reject under validation and score ``-inf`` without it.
    :param bad_params: list of ``(kwargs_update, message_fragment)`` of bad *values*: replacing those
        constructor arguments must raise ``ValueError`` whose message contains the fragment under validation,
        and construct without error (and without reading tensor values on the host) with validation off.
    :param eager_errors: the same for bad *shapes* and unknown options, which raise whatever ``validate_args``.
    :param shapes_from_tensors: ``False`` where the event shape is fixed by integer arguments, so that
        ``infer_shapes`` cannot know it from shapes alone and raises ``NotImplementedError``.
    """

    name: str
    dist_class: type
    make: Callable[[torch.dtype], dict]
    grad_params: tuple[str, ...] = ()
    invalid_values: Callable[[object], list] = lambda dist: []
    bad_params: list[tuple[dict, str]] = field(default_factory=list)
    eager_errors: list[tuple[dict, str]] = field(default_factory=list)
    shapes_from_tensors: bool = True

    def build(self, dtype=torch.float64, requires_grad=False, device="cpu", **overrides):
        kwargs = self.make(dtype)
        kwargs.update(overrides)
        kwargs = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
        if requires_grad:
            for name in self.grad_params:
                kwargs[name] = kwargs[name].detach().clone().requires_grad_(True)
        return self.dist_class(**kwargs), kwargs


def all_cases() -> list[Case]:
    cases = []
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        cases.extend(module.CASES)
    return cases
