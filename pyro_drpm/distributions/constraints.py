"""Vectorised support and parameter constraints for combinatorial objects.

Each constraint's ``check`` returns a boolean tensor of the batch shape (the trailing ``event_dim`` dimensions are
reduced), as torch's ``Distribution._validate_sample`` expects.
"""

from __future__ import annotations

import torch
from torch.distributions import constraints

__all__ = [
    "assignment_matrix",
    "finite_real_vector",
    "nonnegative_integer_vector",
    "permutation_matrix",
    "IntegerCountVector",
]


class _FiniteRealVector(constraints.Constraint):
    """Real vectors with no NaN and no infinity (logits of distributions that need every category)."""

    is_discrete = False
    event_dim = 1

    def check(self, value):
        return torch.isfinite(value).all(dim=-1)

    def __repr__(self):
        return "FiniteRealVector()"


class _NonnegativeIntegerVector(constraints.Constraint):
    """Vectors of non-negative integers (an urn's class sizes).

    ``independent(nonnegative_integer, 1)`` would do, but its ``check`` fails on an empty batch (it reshapes a
    tensor of 0 elements with ``-1``).
    """

    is_discrete = True
    event_dim = 1

    def check(self, value):
        return ((value % 1 == 0) & (value >= 0)).all(dim=-1)

    def __repr__(self):
        return "NonnegativeIntegerVector()"


def _is_binary(value: torch.Tensor) -> torch.Tensor:
    return (value == 0) | (value == 1)


class _PermutationMatrix(constraints.Constraint):
    """Square 0/1 matrices with exactly one 1 in every row and every column."""

    is_discrete = True
    event_dim = 2

    def check(self, value):
        if value.dim() < 2 or value.shape[-1] != value.shape[-2]:
            return torch.zeros(value.shape[:-2], dtype=torch.bool, device=value.device)
        binary = _is_binary(value).all(dim=-1).all(dim=-1)
        rows = (value.sum(-1) == 1).all(dim=-1)
        cols = (value.sum(-2) == 1).all(dim=-1)
        return binary & rows & cols

    def __repr__(self):
        return "PermutationMatrix()"


class _AssignmentMatrix(constraints.Constraint):
    """``K x n`` 0/1 matrices whose every column has exactly one 1 (element ``i`` is in exactly one subset)."""

    is_discrete = True
    event_dim = 2

    def check(self, value):
        if value.dim() < 2:
            return torch.zeros(value.shape[:-2], dtype=torch.bool, device=value.device)
        binary = _is_binary(value).all(dim=-1).all(dim=-1)
        cols = (value.sum(-2) == 1).all(dim=-1)
        return binary & cols

    def __repr__(self):
        return "AssignmentMatrix()"


class IntegerCountVector(constraints.Constraint):
    """Vectors ``x`` of non-negative integers with ``x <= upper`` elementwise and ``sum(x) == total``.

    The parameters may be batched tensors; they broadcast against the value's batch shape.
    """

    is_discrete = True
    event_dim = 1

    def __init__(self, upper: torch.Tensor, total: torch.Tensor):
        self.upper = upper
        self.total = total
        super().__init__()

    def check(self, value):
        integer = (value == value.round()) & (value >= 0) & (value <= self.upper)
        total = value.sum(-1) == self.total
        return integer.all(dim=-1) & total

    def __repr__(self):
        return "IntegerCountVector(upper, total)"


finite_real_vector = _FiniteRealVector()
nonnegative_integer_vector = _NonnegativeIntegerVector()
permutation_matrix = _PermutationMatrix()
assignment_matrix = _AssignmentMatrix()
