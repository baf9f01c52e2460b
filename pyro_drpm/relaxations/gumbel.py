"""Gumbel-softmax (concrete) relaxation of a categorical draw."""

from __future__ import annotations

import torch

from pyro_drpm.ops import gumbel_noise
from pyro_drpm.relaxations._checks import check_number

__all__ = ["gumbel_softmax"]


def gumbel_softmax(
    logits: torch.Tensor,
    temperature: float | torch.Tensor,
    noise: torch.Tensor | None = None,
    dim: int = -1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw a categorical sample with the Gumbel-max trick and its Gumbel-softmax relaxation.

    .. math::

        g_j \\sim \\mathrm{Gumbel}(0, 1), \\qquad
        \\text{hard} = \\mathrm{onehot}(\\arg\\max_j (\\ell_j + g_j)), \\qquad
        \\text{soft} = \\mathrm{softmax}((\\ell + g) / \\tau).

    The hard one-hot is an exact sample of ``Categorical(logits)``; ``soft`` tends to it as
    :math:`\\tau \\to 0`. Entries of ``logits`` equal to ``-inf`` (impossible categories) get exactly zero weight
    in both.

    Example::

        >>> hard, soft = gumbel_softmax(torch.zeros(4, 3), temperature=0.5)
        >>> hard.shape, soft.shape
        (torch.Size([4, 3]), torch.Size([4, 3]))

    :param logits: unnormalised log-probabilities, categories along ``dim``.
    :param temperature: positive relaxation temperature :math:`\\tau` (a Python number is checked; a tensor is
        not, since reading it would synchronise a device).
    :param noise: optional Gumbel noise of ``logits``' shape (drawn here if omitted).
    :param dim: the category dimension.
    :returns: ``(hard, soft)``, both of ``logits``' shape and dtype.
    :raises ValueError: for 0-dimensional ``logits`` or a temperature number that is not positive and finite.

    References: [1] Jang, Gu, Poole, "Categorical Reparameterization with Gumbel-Softmax", arXiv:1611.01144.
    [2] Maddison, Mnih, Teh, "The Concrete Distribution", arXiv:1611.00712.
    """
    if logits.dim() < 1:
        raise ValueError(f"gumbel_softmax: `logits` must have a category dimension, got shape {tuple(logits.shape)}")
    check_number("gumbel_softmax", "temperature", temperature)
    if noise is None:
        noise = gumbel_noise(logits.shape, logits)
    perturbed = logits + noise
    soft = torch.softmax(perturbed / temperature, dim=dim)
    index = perturbed.argmax(dim=dim, keepdim=True)
    hard = torch.zeros_like(soft).scatter_(dim, index, 1.0)
    return hard, soft
