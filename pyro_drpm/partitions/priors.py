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

from pyro_drpm.distributions import ChineseRestaurantProcess, MultivariateNoncentralHypergeometric, UrnPlanCache
from pyro_drpm.partitions.special_cases import ExchangeableDRPM

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

    def log_prob_sizes(self, sizes: torch.Tensor) -> torch.Tensor:
        """``log p(Y)`` of every partition ``Y`` whose subset sizes (row sums) are ``sizes``, shape ``(..., K)``.

        The priors here are exchangeable (``p(Y)`` depends on ``Y`` only through its subset sizes), so this is
        the log-probability of one canonical ``Y`` with those sizes (elements taken in order, subset by subset);
        ``n = sizes.sum(-1)`` must be the same for the whole batch.
        """
        sizes = torch.as_tensor(sizes)
        num_elements = int(sizes.sum(-1).flatten()[0].round())
        rank = torch.arange(num_elements, device=sizes.device).expand(sizes.shape[:-1] + (num_elements,))
        block = torch.searchsorted(sizes.cumsum(-1).contiguous(), rank.contiguous(), right=True)
        assignment = torch.nn.functional.one_hot(block, self.num_subsets).transpose(-1, -2)
        distribution = self(num_elements)
        return distribution.log_prob(assignment.to(torch.float64))

    @abstractmethod
    def log_predictive_weights(self, counts: torch.Tensor, num_elements: int) -> torch.Tensor:
        """``log p(Y + {i -> k}) - log p(Y)`` up to a constant in ``k``: where a new element goes, ``(..., K)``.

        :param counts: the (possibly soft, non-integer) subset sizes ``(..., K)`` of the other elements.
        :param num_elements: the number of elements ``n`` of the partition the element joins.
        """


class DRPMPrior(PartitionPrior):
    """``Y ~ DRPM(size_logits, 0)``: MVHG subset sizes with learned size logits, uniformly random members.

    The distribution is an :class:`~pyro_drpm.partitions.ExchangeableDRPM` (the closed-form ``log_prob``).

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
        self._plan_cache = UrnPlanCache()

    @property
    def plan_cache(self) -> UrnPlanCache:
        """The size stage's log-normaliser plan, kept from step to step while the learned logits move a little
        (created on first use for priors pickled without one)."""
        if "_plan_cache" not in self.__dict__:
            self._plan_cache = UrnPlanCache()
        return self._plan_cache

    def forward(self, num_elements: int, *, temperature: float = 1.0) -> ExchangeableDRPM:
        logits = self.size_logits if self.dtype is None else self.size_logits.to(self.dtype)
        return ExchangeableDRPM(
            logits,
            logits.new_zeros(num_elements),
            temperature=temperature,
            relaxation=self.relaxation,
            class_sizes=self.class_sizes,
            plan_cache=self.plan_cache,
        )

    def _urn(self, num_elements: int, like: torch.Tensor) -> torch.Tensor:
        if self.class_sizes is None:
            return like.new_full((self.num_subsets,), float(num_elements))
        return torch.as_tensor(self.class_sizes, dtype=like.dtype, device=like.device)

    def log_prob_sizes(self, sizes: torch.Tensor) -> torch.Tensor:
        """The closed form for uniform scores,
        :math:`\\log p_{\\mathrm{MVHG}}(\\mathbf n) + \\sum_k \\log n_k! - \\log n!`."""
        logits = self.size_logits if self.dtype is None else self.size_logits.to(self.dtype)
        sizes = torch.as_tensor(sizes, dtype=logits.dtype, device=logits.device)
        n = sizes.sum(-1)
        urn = self._urn(int(n.flatten()[0].round()), logits)
        sizes_law = MultivariateNoncentralHypergeometric(
            urn, n, logits, plan_cache=self.plan_cache, validate_args=False
        )
        return sizes_law.log_prob(sizes) + torch.lgamma(sizes + 1).sum(-1) - torch.lgamma(n + 1)

    def log_predictive_weights(self, counts: torch.Tensor, num_elements: int) -> torch.Tensor:
        """:math:`\\log \\omega_k + \\log(m_k - c_k)`: the MVHG ratio :math:`p(\\mathbf c + e_k) / p(\\mathbf c)`
        times the ordered-blocks ratio :math:`(c_k + 1) / (n + 1)`, at the (soft) counts ``c``."""
        logits = self.size_logits if self.dtype is None else self.size_logits.to(self.dtype)
        counts = counts.to(logits.dtype)
        room = self._urn(num_elements, logits) - counts
        return logits + room.clamp(min=torch.finfo(logits.dtype).tiny).log()

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

    def log_predictive_weights(self, counts: torch.Tensor, num_elements: int) -> torch.Tensor:
        """:math:`\\log(c_k + \\alpha / K)`: the predictive of the symmetric Dirichlet(:math:`\\alpha / K`)
        mixture, whose limit as :math:`K \\to \\infty` is the CRP's (join a block of size :math:`c_k` with weight
        :math:`c_k`, open one of the empty ones with total weight :math:`\\alpha`) [Neal 2000, eq. 3.6], at
        soft counts ``c``.

        Reference: Neal, "Markov chain sampling methods for Dirichlet process mixture models", J. Comput. Graph.
        Stat. 9 (2000), https://doi.org/10.1080/10618600.2000.10474879.
        """
        alpha = self.concentration.to(counts.dtype)
        return (counts.clamp(min=0) + alpha / self.num_subsets).log()
