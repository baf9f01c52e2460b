"""Mini-batching: random near-equal splits of a data set's indices, one epoch at a time."""

from __future__ import annotations

import torch

__all__ = ["minibatches"]


def minibatches(n: int, batch_size: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """A random split of ``range(n)`` into ``ceil(n / batch_size)`` index batches whose sizes differ by <= 1.

    Every point is used once per epoch and no batch is a tiny remainder, which matters when a batch is the set
    being partitioned (variational clustering).

    Example::

        >>> [len(b) for b in minibatches(10, 4, torch.Generator().manual_seed(0))]
        [4, 3, 3]
    """
    n_batches = max(1, -(-n // batch_size))
    order = torch.randperm(n, generator=generator)
    return list(torch.tensor_split(order, n_batches))
