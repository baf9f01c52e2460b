"""Shared numerics: log-space helpers and dtype-aware constants.

Everything here is a pure function of tensors. Constants come from ``torch.finfo`` of the argument's dtype so
that float32 and float64 behave alike, and nothing assumes a device.
"""

from __future__ import annotations

import torch

__all__ = [
    "broadcast_vectors",
    "gumbel_noise",
    "log_binomial",
    "log_factorial",
    "reverse_logcumsumexp",
    "tiny",
]


def tiny(like: torch.Tensor) -> float:
    """The smallest positive normal number of ``like``'s dtype.

    This is the one floor we apply before taking logarithms of quantities that are positive in exact arithmetic
    but may underflow to zero (uniform noise, probabilities): it keeps ``log`` finite without biasing anything
    representable.
    """
    return torch.finfo(like.dtype).tiny


def gumbel_noise(shape: torch.Size | tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """Standard Gumbel(0, 1) noise with ``like``'s dtype and device.

    Drawn as ``-log(E)`` with ``E ~ Exponential(1)``, floored at :func:`tiny` so the result is always finite.
    """
    exponential = torch.empty(shape, dtype=like.dtype, device=like.device).exponential_()
    return -exponential.clamp(min=tiny(like)).log()


def log_factorial(x: torch.Tensor) -> torch.Tensor:
    """``log(x!)`` for non-negative (integer-valued) ``x``, via ``lgamma``."""
    return torch.lgamma(x + 1)


def log_binomial(n: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """``log C(n, k)`` for integer-valued ``0 <= k <= n``; ``-inf`` where ``k < 0`` or ``k > n``."""
    n, k = torch.broadcast_tensors(torch.as_tensor(n), torch.as_tensor(k))
    inside = (k >= 0) & (k <= n)
    k_safe = torch.where(inside, k, torch.zeros_like(k))
    n_safe = torch.where(inside, n, torch.zeros_like(n))
    value = log_factorial(n_safe) - log_factorial(k_safe) - log_factorial(n_safe - k_safe)
    return torch.where(inside, value, torch.full_like(value, -float("inf")))


def reverse_logcumsumexp(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``out[i] = log sum_{j >= i} exp(x[j])`` along ``dim`` (the Plackett-Luce denominators)."""
    return torch.logcumsumexp(x.flip(dim), dim).flip(dim)


def broadcast_vectors(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Broadcast the batch dimensions of ``(..., n_j)`` tensors, keeping each one's own last dimension."""
    batch = torch.broadcast_shapes(*(t.shape[:-1] for t in tensors))
    return tuple(t.expand(batch + t.shape[-1:]) for t in tensors)
