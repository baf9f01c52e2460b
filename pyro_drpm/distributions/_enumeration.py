"""The tail shared by every ``enumerate_support``: the size limit and the batch layout of the support."""

from __future__ import annotations

import itertools

import torch

__all__ = ["MAX_SUPPORT_SIZE", "assignment_matrices", "batch_support", "check_support_size"]

# One limit for every distribution: enumeration is a testing and small-problem tool, and 2^16 points keep the
# largest enumerated tensor (points x event) at a few MB for the event sizes that reach it. What it allows:
# Plackett-Luce n <= 8 (8! = 40320 < 2^16 < 9!); DRPM and the CRP K^n <= 2^16 assignment matrices (e.g. K = 4,
# n = 8 or K = 2, n = 16); an MVHG urn whose first K - 1 classes span at most 2^16 candidate count vectors.
MAX_SUPPORT_SIZE = 1 << 16


def check_support_size(owner: str, size: int, what: str) -> None:
    """Raise ``ValueError`` if a support of ``size`` points (described by ``what``) is too large to list."""
    if size > MAX_SUPPORT_SIZE:
        raise ValueError(f"{owner}.enumerate_support: {what} = {size} points; at most {MAX_SUPPORT_SIZE}")


def assignment_matrices(num_subsets: int, num_elements: int, dtype: torch.dtype, device) -> torch.Tensor:
    """All ``K ** n`` assignment matrices ``(K ** n, K, n)``: every column one-hot."""
    blocks = torch.tensor(list(itertools.product(range(num_subsets), repeat=num_elements)), device=device)
    blocks = blocks.reshape(-1, num_elements)  # n = 0 would give one empty row; keep the 2-D layout
    return torch.nn.functional.one_hot(blocks, num_subsets).transpose(-1, -2).to(dtype)


def batch_support(values: torch.Tensor, batch_shape: torch.Size, event_shape: torch.Size, expand: bool):
    """Lay out the support points ``(S,) + event_shape`` as torch does: ``(S,) + (1,) * batch`` or expanded."""
    values = values.reshape((-1,) + (1,) * len(batch_shape) + tuple(event_shape))
    if expand:
        values = values.expand((-1,) + tuple(batch_shape) + tuple(event_shape))
    return values
