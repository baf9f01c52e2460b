"""The Chinese restaurant process over labelled partitions of ``n`` elements into at most ``K`` subsets."""

from __future__ import annotations

import functools
import math

import torch
from pyro.distributions import TorchDistribution
from torch.distributions import constraints

from pyro_drpm.distributions import constraints as drpm_constraints
from pyro_drpm.distributions._checks import check_event_shape, check_values
from pyro_drpm.distributions._enumeration import assignment_matrices, batch_support, check_support_size

__all__ = ["ChineseRestaurantProcess"]

_NAME = "ChineseRestaurantProcess"


@functools.lru_cache(maxsize=32)
def _log_stirling_numbers(n: int, max_blocks: int, device: torch.device) -> torch.Tensor:
    """``log |s(n, j)|`` (unsigned Stirling numbers of the first kind) for ``j = 0..max_blocks``, float64.

    The recursion ``|s(i + 1, j)| = i |s(i, j)| + |s(i, j - 1)|`` in log space; it does not depend on the
    concentration, so one table serves every distribution with the same ``(n, K)`` on the same device.
    """
    row = torch.full((max_blocks + 1,), -math.inf, dtype=torch.float64, device=device)
    row[0] = 0.0
    for i in range(n):
        stay = row + (math.log(i) if i > 0 else -math.inf)
        shifted = torch.cat([row.new_full((1,), -math.inf), row[:-1]])
        row = torch.logaddexp(stay, shifted)
    return row


class ChineseRestaurantProcess(TorchDistribution):
    """Labelled partitions of ``num_elements`` elements into at most ``num_subsets`` subsets under a CRP prior.

    The Chinese restaurant process (CRP) with concentration :math:`\\alpha > 0` seats element ``i + 1`` at an
    occupied table of :math:`n_k` guests with probability :math:`n_k / (i + \\alpha)` and at a new table with
    probability :math:`\\alpha / (i + \\alpha)`. The probability of a partition with :math:`m` non-empty blocks of
    sizes :math:`n_1, \\dots, n_m` (Ewens' formula) is

    .. math::

        p_{\\mathrm{CRP}}(\\{S_1, \\dots, S_m\\}) = \\frac{\\alpha^m \\Gamma(\\alpha)}{\\Gamma(\\alpha + n)}
            \\prod_{k=1}^{m} \\Gamma(n_k),

    and the number of blocks :math:`m` has :math:`P(m) = |s(n, m)| \\alpha^m \\Gamma(\\alpha) / \\Gamma(\\alpha + n)`
    with :math:`|s(n, m)|` the unsigned Stirling numbers of the first kind.

    To sit next to a :class:`~pyro_drpm.distributions.DRPM` with ``K`` subsets, :class:`ChineseRestaurantProcess`
    is the CRP **truncated to at most K blocks and labelled uniformly**: the partition is drawn from the CRP
    conditioned on :math:`m \\le K`, and its blocks get distinct labels among the ``K`` rows uniformly at random.
    For an assignment matrix ``Y`` (``K x n``, one 1 per column) with :math:`m` non-empty rows,

    .. math::

        \\log p(Y) = m \\log \\alpha + \\log \\Gamma(\\alpha) - \\log \\Gamma(\\alpha + n) + \\sum_{k: n_k > 0}
            \\log \\Gamma(n_k) - \\log \\frac{K!}{(K - m)!} - \\log P(m \\le K).

    The normaliser :math:`P(m \\le K)` comes from the Stirling recursion
    :math:`|s(i + 1, j)| = i |s(i, j)| + |s(i, j - 1)|`, run in log space in float64 (``O(n K)``). The exact
    sampler seats the elements one by one with the truncation built in: with :math:`t` tables after ``i``
    elements, a new table is opened with probability proportional to :math:`\\alpha\\, W_{i+1}(t + 1)` and table
    ``k`` joined with probability proportional to :math:`n_k W_{i+1}(t)`, where :math:`W_i(t)` is the CRP weight of
    all ways to seat the remaining elements with at most ``K`` tables in the end (a backward recursion of the same
    kind); every new table takes a uniformly chosen free label.

    The sample is the ``K x n`` assignment matrix, as for the DRPM. The distribution has no reparameterised
    sampler (a partition prior: in a model its value comes from the guide). ``log_prob`` is differentiable in
    ``concentration`` and, when the value carries a gradient (a straight-through sample), in the value through
    :math:`\\log \\Gamma(n_k)` of the row sums of the non-empty rows.

    Example::

        >>> crp = ChineseRestaurantProcess(torch.tensor(1.0), num_subsets=3, num_elements=4)
        >>> support = crp.enumerate_support()
        >>> support.shape, round(float(crp.log_prob(support).logsumexp(0)), 10)
        (torch.Size([81, 3, 4]), 0.0)

    References: Aldous, "Exchangeability and related topics", 1985 (the restaurant); Ewens, "The sampling theory
    of selectively neutral alleles", Theor. Popul. Biol. 1972 (the partition probability); Pitman, "Combinatorial
    Stochastic Processes", 2006.

    :param concentration: :math:`\\alpha > 0`, a tensor whose shape is the batch shape.
    :param num_subsets: ``K``, the rows of the assignment matrix (the most blocks a partition may have).
    :param num_elements: ``n``, the elements partitioned.
    :param validate_args: as in ``torch.distributions``.
    """

    arg_constraints = {"concentration": constraints.positive}
    support = drpm_constraints.assignment_matrix
    has_enumerate_support = False

    def __init__(self, concentration, num_subsets: int, num_elements: int, *, validate_args=None):
        concentration = torch.as_tensor(concentration)
        if not concentration.is_floating_point():
            concentration = concentration.to(torch.get_default_dtype())
        if isinstance(num_subsets, bool) or int(num_subsets) != num_subsets or num_subsets < 1:
            raise ValueError(f"ChineseRestaurantProcess: `num_subsets` must be an integer >= 1, got {num_subsets!r}")
        if isinstance(num_elements, bool) or int(num_elements) != num_elements or num_elements < 1:
            raise ValueError(f"ChineseRestaurantProcess: `num_elements` must be an integer >= 1, got {num_elements!r}")
        self.concentration = concentration
        self.num_subsets, self.num_elements = int(num_subsets), int(num_elements)
        event_shape = torch.Size((self.num_subsets, self.num_elements))
        super().__init__(concentration.shape, event_shape, validate_args=validate_args)
        if self._validate_args:  # `arg_constraints` checks positivity; infinity passes it
            check_values(torch.isfinite(concentration), _NAME, "concentration", "positive and finite", concentration)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(ChineseRestaurantProcess, _instance)
        batch_shape = torch.Size(batch_shape)
        new.concentration = self.concentration.expand(batch_shape)
        new.num_subsets, new.num_elements = self.num_subsets, self.num_elements
        super(ChineseRestaurantProcess, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @classmethod
    def infer_shapes(cls, *args, **kwargs):
        raise NotImplementedError(
            "ChineseRestaurantProcess.infer_shapes: the event shape (num_subsets, num_elements) is given by "
            "integer arguments, not by the shapes of tensors; construct the distribution instead"
        )

    # -- probabilities ----------------------------------------------------------------------------------
    def log_truncation_mass(self) -> torch.Tensor:
        """``log P(m <= K)`` under the untruncated CRP, the normaliser of the truncation (batch shape)."""
        log_alpha = self.concentration.to(torch.float64).log()
        n, k = self.num_elements, self.num_subsets
        # log sum_{j <= K} |s(n, j)| alpha^j
        log_counts = _log_stirling_numbers(n, min(k, n), log_alpha.device)
        j = torch.arange(min(k, n) + 1, dtype=torch.float64, device=log_alpha.device)
        log_weights = (log_counts + j * log_alpha.unsqueeze(-1)).logsumexp(-1)
        return log_weights + torch.lgamma(log_alpha.exp()) - torch.lgamma(log_alpha.exp() + n)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        value = torch.as_tensor(value, dtype=self.concentration.dtype, device=self.concentration.device)
        check_event_shape(value, self.event_shape, _NAME)
        valid = self.support.check(value.detach())
        block = value.detach().argmax(-2)
        assignment = torch.nn.functional.one_hot(block, self.num_subsets).transpose(-1, -2).to(value.dtype)
        if value.requires_grad:
            assignment = assignment + (value - value.detach())  # straight through, as DRPM.log_prob
        counts = assignment.sum(-1).to(torch.float64)
        occupied = counts.detach() > 0
        blocks = occupied.sum(-1).to(torch.float64)
        alpha = self.concentration.to(torch.float64)
        n, k = self.num_elements, self.num_subsets
        safe_counts = torch.where(occupied, counts, torch.ones_like(counts))
        log_prob = (
            blocks * alpha.log()
            + torch.lgamma(alpha)
            - torch.lgamma(alpha + n)
            + torch.where(occupied, torch.lgamma(safe_counts), torch.zeros_like(counts)).sum(-1)
            - (math.lgamma(k + 1) - torch.lgamma(k - blocks + 1))
            - self.log_truncation_mass()
        )
        log_prob = torch.where(valid, log_prob, torch.full_like(log_prob, -math.inf))
        return log_prob.to(self.concentration.dtype)

    # -- sampling ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, sample_shape=torch.Size()):
        shape = torch.Size(sample_shape) + self.batch_shape
        n, k = self.num_elements, self.num_subsets
        log_alpha = self.concentration.to(torch.float64).log().expand(shape)
        # log W_i(t): the CRP weight (without the common 1 / (i + alpha) factors) of all ways to seat the rest
        # when i elements sit at t tables, such that at most K tables are open in the end
        device = self.concentration.device
        log_w = torch.full(shape + (n + 1, k + 2), -math.inf, dtype=torch.float64, device=device)
        log_w[..., n, : k + 1] = 0.0
        for i in range(n - 1, -1, -1):
            # W_i(t) = i W_{i+1}(t) + alpha W_{i+1}(t + 1): join one of the i seated guests' tables, or open one
            log_i = math.log(i) if i > 0 else -math.inf
            stay = log_i + log_w[..., i + 1, : k + 1]
            new = log_alpha.unsqueeze(-1) + log_w[..., i + 1, 1 : k + 2]
            log_w[..., i, : k + 1] = torch.logaddexp(stay, new)
        labels = torch.zeros(shape + (n,), dtype=torch.long, device=device)
        counts = torch.zeros(shape + (k,), dtype=torch.float64, device=device)
        tables = torch.zeros(shape, dtype=torch.long, device=device)
        for i in range(n):
            t = tables.unsqueeze(-1)
            log_new = log_alpha + log_w[..., i + 1, :].gather(-1, t + 1).squeeze(-1)
            log_join = log_w[..., i + 1, :].gather(-1, t).squeeze(-1) + (math.log(i) if i > 0 else -math.inf)
            p_new = torch.sigmoid(log_new - log_join) if i > 0 else torch.ones_like(log_new)
            opens = torch.rand(shape, dtype=torch.float64, device=device) < p_new
            # a new table takes a uniformly chosen free label; joining picks a table with probability n_k / i
            uniform = torch.rand(shape + (k,), dtype=torch.float64, device=device)
            free = torch.where(counts == 0, uniform, torch.zeros_like(counts))
            new_label = free.argmax(-1)
            flat = counts.reshape(-1, k)
            join_label = torch.multinomial(flat + (flat.sum(-1, keepdim=True) == 0), 1).reshape(shape)
            label = torch.where(opens, new_label, join_label)
            labels[..., i] = label
            counts.scatter_add_(-1, label.unsqueeze(-1), counts.new_ones(shape + (1,)))
            tables = tables + opens.long()
        one_hot = torch.nn.functional.one_hot(labels, k).transpose(-1, -2)
        return one_hot.to(self.concentration.dtype)

    def enumerate_support(self, expand=True):
        k, n = self.event_shape
        check_support_size(_NAME, k**n, f"K ** n assignment matrices for K = {k}, n = {n}")
        values = assignment_matrices(k, n, self.concentration.dtype, self.concentration.device)
        return batch_support(values, self.batch_shape, self.event_shape, expand)
