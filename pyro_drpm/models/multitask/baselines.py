"""Baselines of the partitioned network: every head sees every unit, or a fixed even split of the units."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pyro_drpm.models.multitask.base import MultitaskNet

__all__ = ["FixedSplitMultitaskNet", "SharedMultitaskNet"]


class SharedMultitaskNet(MultitaskNet):
    """Hard parameter sharing: every head sees all ``n_units`` features (the mask is all ones).

    Example::

        >>> net = SharedMultitaskNet(nn.Linear(5, 8), [nn.Linear(8, 3), nn.Linear(8, 2)], 8)
        >>> outputs, mask = net(torch.randn(4, 5))
        >>> tuple(mask.shape), float(mask.min())
        ((4, 2, 8), 1.0)
    """

    def masks(self, x: torch.Tensor, features: torch.Tensor, *, temperature: float) -> torch.Tensor:
        return features.new_ones(features.shape[0], self.n_tasks, self.n_units)


class FixedSplitMultitaskNet(MultitaskNet):
    """A fixed partition of the units into contiguous, near-equal blocks: task ``t`` always sees block ``t``.

    Block sizes differ by at most one (the first ``n_units mod n_tasks`` blocks get the extra unit).

    Example::

        >>> net = FixedSplitMultitaskNet(nn.Linear(5, 5), [nn.Linear(5, 3), nn.Linear(5, 2)], 5)
        >>> net(torch.randn(1, 5))[1][0]
        tensor([[1., 1., 1., 0., 0.],
                [0., 0., 0., 1., 1.]])

    :param n_units: the width of the features, at least the number of tasks.
    """

    def __init__(self, encoder: nn.Module, heads: Sequence[nn.Module], n_units: int, *, rescale: bool = True):
        super().__init__(encoder, heads, n_units, rescale=rescale)
        if self.n_units < self.n_tasks:
            raise ValueError(
                f"n_units = {self.n_units} must be at least the number of tasks (len(heads) = {self.n_tasks})"
            )
        block = torch.arange(self.n_units).tensor_split(self.n_tasks)
        split = torch.zeros(self.n_tasks, self.n_units)
        for t, units in enumerate(block):
            split[t, units] = 1.0
        self.register_buffer("split", split)

    def masks(self, x: torch.Tensor, features: torch.Tensor, *, temperature: float) -> torch.Tensor:
        return self.split.to(features.dtype).expand(features.shape[0], -1, -1)
