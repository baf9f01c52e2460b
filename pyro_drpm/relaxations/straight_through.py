"""The straight-through estimator: a hard forward value with the gradient of a soft one."""

from __future__ import annotations

import torch

__all__ = ["straight_through"]


def straight_through(hard: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
    """Return ``hard`` in the forward pass and route gradients through ``soft``.

    Computed as ``hard + (soft - soft.detach())``: the bracket is exactly zero in floating point, so the forward
    value is bit-for-bit ``hard`` (an exact discrete sample), while its Jacobian is that of ``soft``.

    Example::

        >>> soft = torch.tensor([0.2, 0.8], requires_grad=True)
        >>> straight_through(torch.tensor([0.0, 1.0]), soft)
        tensor([0., 1.], grad_fn=<AddBackward0>)

    Reference: Bengio, Leonard, Courville, "Estimating or Propagating Gradients Through Stochastic Neurons",
    arXiv:1308.3432.
    """
    return hard + (soft - soft.detach())
