"""Priors over partitions as modules: a DRPM with learned size logits, a Chinese restaurant process.

A prior is called with the number of elements ``n`` and returns a distribution over ``K x n`` assignment
matrices, to be used in a model as ``pyro.sample("partition", prior(n))``. Its parameters are Pyro parameters
(the prior is a :class:`~pyro.nn.PyroModule`), learned with the rest of the model unless frozen.
"""

from __future__ import annotations

import math
from abc import ABCMeta, abstractmethod

import torch
from pyro.distributions import TorchDistribution
from pyro.nn import PyroModule
from torch import nn

from pyro_drpm.distributions import DRPM, ChineseRestaurantProcess

__all__ = ["CRPPrior", "DRPMPrior", "PartitionPrior"]


class _AbstractPyroModuleMeta(type(PyroModule), ABCMeta):
    pass


def _check_num_subsets(num_subsets) -> int:
    if isinstance(num_subsets, bool) or not isinstance(num_subsets, int) or num_subsets < 1:
        raise ValueError(f"num_subsets must be an integer >= 1, got {num_subsets!r}")
    return num_subsets


class PartitionPrior(PyroModule, metaclass=_AbstractPyroModuleMeta):
    """A prior over partitions of ``n`` elements into at most ``num_subsets`` subsets.

    :param num_subsets: the number of subsets ``K`` (the rows of a sample).
    """

    def __init__(self, num_subsets: int):
        super().__init__()
        self.num_subsets = _check_num_subsets(num_subsets)

    @abstractmethod
    def forward(self, num_elements: int, *, temperature: float = 1.0) -> TorchDistribution:
        """The prior over partitions of ``num_elements`` elements (``temperature``: of a relaxed ``rsample``)."""

    def init_from_weights(self, weights: torch.Tensor) -> None:
        """Set the prior's expected subset proportions to ``weights`` where the prior has such a parameter."""


class DRPMPrior(PartitionPrior):
    """``Y ~ DRPM(size_logits, 0)``: MVHG subset sizes with learned size logits, uniformly random members.

    With all score logits equal the ranking is uniform, so the prior is exchangeable (it depends on ``Y`` only
    through its subset sizes) and :math:`\\log p(Y) = \\log p_{\\mathrm{MVHG}}(\\mathbf n) + \\sum_k \\log n_k! -
    \\log n!`.

    Example::

        >>> prior = DRPMPrior(3)
        >>> prior(5).sample().shape
        torch.Size([3, 5])

    :param num_subsets: the number of subsets ``K``.
    :param size_logits: initial size logits, shape ``(K,)``; default zeros.
    :param learn_size_logits: whether the size logits are a learned parameter (else a fixed buffer).
    :param class_sizes: the MVHG urn (default: ``n`` balls per subset, see :class:`~pyro_drpm.distributions.DRPM`).
    :param relaxation: the relaxed sort of ``rsample``.
    :param dtype: the dtype of the distribution (default: that of the size logits); float64 keeps the
        log-probability of large partitions accurate.
    """

    def __init__(
        self,
        num_subsets: int,
        *,
        size_logits: torch.Tensor | None = None,
        learn_size_logits: bool = True,
        class_sizes: torch.Tensor | None = None,
        relaxation: str = "neuralsort",
        dtype: torch.dtype | None = None,
    ):
        super().__init__(num_subsets)
        logits = torch.zeros(num_subsets) if size_logits is None else torch.as_tensor(size_logits).clone()
        if logits.shape != (num_subsets,):
            raise ValueError(f"size_logits must have shape ({num_subsets},), got {tuple(logits.shape)}")
        if learn_size_logits:
            self.size_logits = nn.Parameter(logits)
        else:
            self.register_buffer("size_logits", logits)
        self.class_sizes = class_sizes
        self.relaxation = relaxation
        self.dtype = dtype

    def forward(self, num_elements: int, *, temperature: float = 1.0) -> DRPM:
        logits = self.size_logits if self.dtype is None else self.size_logits.to(self.dtype)
        return DRPM(
            logits,
            logits.new_zeros(num_elements),
            temperature=temperature,
            relaxation=self.relaxation,
            class_sizes=self.class_sizes,
        )

    def init_from_weights(self, weights: torch.Tensor) -> None:
        """``size_logits = logit(w_k)``: for any ``n`` the prior's mean subset sizes are then about ``n w_k``."""
        w = torch.as_tensor(weights, dtype=self.size_logits.dtype, device=self.size_logits.device)
        w = w.clamp(1e-4, 1 - 1e-4)
        with torch.no_grad():
            self.size_logits.copy_(w.log() - (-w).log1p())


class CRPPrior(PartitionPrior):
    """``Y ~ CRP(alpha)`` truncated to at most ``K`` blocks, with a learned concentration ``alpha``.

    The Chinese restaurant process prefers few large blocks ("rich get richer"); its concentration sets how
    many blocks a partition of ``n`` elements has a priori (about ``alpha log n``). See
    :class:`~pyro_drpm.distributions.ChineseRestaurantProcess`.

    Example::

        >>> prior = CRPPrior(4, concentration=0.5)
        >>> prior(6).sample().shape, round(prior.concentration.detach().item(), 3)
        (torch.Size([4, 6]), 0.5)

    :param num_subsets: the truncation ``K``.
    :param concentration: initial concentration ``alpha > 0``.
    :param learn_concentration: whether ``log alpha`` is a learned parameter (else fixed).
    :param dtype: the dtype of the distribution (default: float32, the parameter's).
    """

    def __init__(
        self,
        num_subsets: int,
        *,
        concentration: float = 1.0,
        learn_concentration: bool = True,
        dtype: torch.dtype | None = None,
    ):
        super().__init__(num_subsets)
        if not (math.isfinite(concentration) and concentration > 0):
            raise ValueError(f"concentration must be positive and finite, got {concentration}")
        log_concentration = torch.tensor(math.log(concentration))
        if learn_concentration:
            self.log_concentration = nn.Parameter(log_concentration)
        else:
            self.register_buffer("log_concentration", log_concentration)
        self.dtype = dtype

    @property
    def concentration(self) -> torch.Tensor:
        """The concentration ``alpha``."""
        log_concentration = self.log_concentration
        return (log_concentration if self.dtype is None else log_concentration.to(self.dtype)).exp()

    def forward(self, num_elements: int, *, temperature: float = 1.0) -> ChineseRestaurantProcess:
        return ChineseRestaurantProcess(self.concentration, self.num_subsets, num_elements)
