"""An amortised DRPM: networks map an input to the size and score logits of a partition of its elements."""

from __future__ import annotations

import torch
from pyro.nn import PyroModule
from torch import nn

from pyro_drpm.distributions import DRPM

__all__ = ["AmortisedDRPM", "ElementScores", "PooledSizes"]


class AmortisedDRPM(PyroModule):
    """``inputs -> DRPM(size_net(inputs), score_net(inputs))``, one partition per input.

    ``size_net`` maps the inputs to the ``K`` size logits (shape ``(..., K)``) and ``score_net`` to the ``n``
    score logits of the elements (shape ``(..., n)``); the batch dimensions ``...`` become the DRPM's batch shape.
    Two layouts are common:

    - one partition per example of a units-vector (multitask learning: ``inputs`` of shape ``(B, d)``, a
      ``Linear(d, K)`` and a ``Linear(d, n)``);
    - one partition of a *set* of elements with features (clustering: ``inputs`` of shape ``(n, d)``; wrap
      per-element networks in :class:`ElementScores` and :class:`PooledSizes`).

    Example::

        >>> amortised = AmortisedDRPM(nn.Linear(4, 2), nn.Linear(4, 6))
        >>> q = amortised(torch.randn(8, 4), temperature=0.5)
        >>> q.batch_shape, q.event_shape
        (torch.Size([8]), torch.Size([2, 6]))

    :param size_net: module ``inputs -> (..., K)`` size logits.
    :param score_net: module ``inputs -> (..., n)`` score logits.
    :param class_sizes: the MVHG urn (default ``n`` balls per subset).
    :param relaxation: the relaxed sort of ``rsample``.
    :param dtype: the dtype of the distribution (default: the networks' output dtype).
    """

    def __init__(
        self,
        size_net: nn.Module,
        score_net: nn.Module,
        *,
        class_sizes: torch.Tensor | None = None,
        relaxation: str = "neuralsort",
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        self.size_net = size_net
        self.score_net = score_net
        self.class_sizes = class_sizes
        self.relaxation = relaxation
        self.dtype = dtype

    def forward(self, inputs: torch.Tensor, *, temperature: float = 1.0, hard: bool = True) -> DRPM:
        size_logits, score_logits = self.size_net(inputs), self.score_net(inputs)
        if self.dtype is not None:
            size_logits, score_logits = size_logits.to(self.dtype), score_logits.to(self.dtype)
        return DRPM(
            size_logits,
            score_logits,
            temperature=temperature,
            hard=hard,
            relaxation=self.relaxation,
            class_sizes=self.class_sizes,
        )


class _SetNetwork(nn.Module):
    """A network ``net`` applied to a set of elements with features, shape ``(..., n, d)``."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net


class ElementScores(_SetNetwork):
    """A per-element network ``(..., n, d) -> (..., n, 1)`` as a score network ``(..., n, d) -> (..., n)``.

    Example::

        >>> ElementScores(nn.Linear(3, 1))(torch.randn(5, 3)).shape
        torch.Size([5])
    """

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).squeeze(-1)


class PooledSizes(_SetNetwork):
    """Size logits of a set: ``(..., n, d) -> mean over the n elements -> net -> (..., K)``.

    Example::

        >>> PooledSizes(nn.Linear(3, 4))(torch.randn(2, 5, 3)).shape
        torch.Size([2, 4])
    """

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features.mean(-2))
