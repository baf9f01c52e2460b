"""Urn policies for a DRPM guide: how many balls of each colour the MVHG stage may draw.

The urn sets how concentrated a DRPM's subset sizes can be (its logits only move their mean): with ``n`` balls
per colour the sizes are close to multinomial, with an urn that holds exactly ``n`` balls they are
deterministic. A policy maps the expected subset sizes ``c`` (``(..., K)``, summing to ``n``) to the urn
``m`` (or ``None`` for the DRPM default of ``n`` balls per colour).
"""

from __future__ import annotations

import torch

__all__ = ["CountsUrn", "FullUrn", "largest_remainder_round"]


def largest_remainder_round(counts: torch.Tensor, total: int) -> torch.Tensor:
    """Non-negative integers summing to ``total`` that differ from ``counts`` (summing to ``total``) by < 1.

    Example::

        >>> largest_remainder_round(torch.tensor([1.4, 1.3, 2.3]), 5)
        tensor([2., 1., 2.])
    """
    counts = counts.detach()
    floor = counts.floor()
    missing = total - floor.sum(-1, keepdim=True)
    order = (counts - floor).argsort(-1, descending=True).argsort(-1)  # rank of each remainder
    return floor + (order < missing).to(counts.dtype)


class FullUrn:
    """The DRPM default: ``n`` balls of every colour, so any subset may take every element.

    Example::

        >>> FullUrn()(torch.tensor([2.0, 3.0]), 5) is None
        True
    """

    def __call__(self, counts: torch.Tensor, num_elements: int) -> torch.Tensor | None:
        return None

    def __repr__(self) -> str:
        return "FullUrn()"


class CountsUrn:
    """An urn of the rounded expected sizes plus ``slack`` balls per colour.

    With ``slack = 0`` the urn holds exactly ``n`` balls (the expected sizes rounded by largest remainders), so
    the sizes are deterministic and all the randomness of the partition is in the ranking; each extra ball lets
    a subset grow by one.

    Example::

        >>> CountsUrn(slack=1)(torch.tensor([1.4, 3.6]), 5)
        tensor([3., 5.])

    :param slack: non-negative number of extra balls per colour.
    """

    def __init__(self, slack: int = 0):
        if isinstance(slack, bool) or int(slack) != slack or slack < 0:
            raise ValueError(f"slack must be a non-negative integer, got {slack!r}")
        self.slack = int(slack)

    def __call__(self, counts: torch.Tensor, num_elements: int) -> torch.Tensor:
        if self.slack == 0:
            return largest_remainder_round(counts, num_elements)
        return (counts.detach().ceil() + self.slack).clamp(max=num_elements)

    def __repr__(self) -> str:
        return f"CountsUrn(slack={self.slack})"
