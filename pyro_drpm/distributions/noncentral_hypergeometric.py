"""Fisher's multivariate noncentral hypergeometric distribution (exact), with a straight-through rsample."""

from __future__ import annotations

import itertools
import math

import torch
from pyro.distributions import TorchDistribution
from torch.distributions import constraints as torch_constraints
from torch.distributions import register_kl
from torch.distributions.utils import lazy_property

from pyro_drpm.distributions import _generating_polynomials as gp
from pyro_drpm.distributions import constraints
from pyro_drpm.distributions._checks import (
    check_event_shape,
    check_temperature,
    check_temperature_shape,
    check_values,
)
from pyro_drpm.distributions._enumeration import batch_support, check_support_size
from pyro_drpm.distributions.urn_plan_cache import UrnPlanCache
from pyro_drpm.ops import broadcast_shapes, gumbel_noise, log_binomial
from pyro_drpm.relaxations import gumbel_softmax, straight_through

__all__ = ["MVHG", "MultivariateNoncentralHypergeometric"]

_NAME = "MultivariateNoncentralHypergeometric"


def _as_tensor(value, name: str, dtype: torch.dtype, device) -> torch.Tensor:
    try:
        return torch.as_tensor(value, dtype=dtype, device=device)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"{_NAME}: `{name}` must be a tensor of numbers, got {value!r}") from error


class MultivariateNoncentralHypergeometric(TorchDistribution):
    """Fisher's multivariate noncentral hypergeometric distribution (MVHG) of the counts drawn from an urn.

    An urn holds ``class_sizes[k]`` balls of colour ``k``; ``total_count`` balls are drawn, colour ``k`` having
    importance weight :math:`w_k = e^{\\ell_k}`. **A sample** is a float tensor of shape
    ``batch_shape + (K,)`` of exact integer counts :math:`x_k`, with :math:`0 \\le x_k \\le m_k` and
    :math:`\\sum_k x_k = N`. It is stage one of the DRPM (the subset sizes, with ``class_sizes = total_count = n``).

    .. math::

        p(x) = \\frac{1}{P_0} \\prod_{k=1}^K \\binom{m_k}{x_k} w_k^{x_k}, \\qquad
        P_0 = [t^N] \\prod_{k=1}^K g_k(t), \\qquad g_k(t) = \\sum_{j=0}^{m_k} \\binom{m_k}{j} w_k^j t^j.

    The logits are shift-invariant (only weight ratios matter).

    **Numerics.** :math:`P_0` is the degree-:math:`N` coefficient of a product of polynomials with positive
    coefficients, computed exactly to rounding (``_generating_polynomials``): each :math:`g_k` is exponentially
    tilted into a binomial pmf, with one common tilt chosen so that the product peaks at :math:`N`. Each pmf is kept
    on the window where it has mass above ``eps64**2``, the K pmfs are multiplied by FFT in float64, and the tilt is
    undone in log space. The FFT length is about :math:`2 \\cdot 12 \\sqrt{\\mathrm{Var}\\, S}`, i.e. O(sqrt N), so
    the cost is O(K sqrt(N) log N) per urn, and :math:`\\log P_0` is exact to the rounding of its own
    magnitude. Gradients of :meth:`log_prob`
    are exact (autograd through the FFT). All internal work is float64; results are cast to the parameters'
    dtype, so float32 parameters and urns of 10^4 balls per class neither overflow nor lose accuracy.

    **Sampling.** :meth:`sample` is exact: class by class from the exact conditionals
    :math:`p(x_k = j \\mid x_{<k}) \\propto \\binom{m_k}{j} w_k^j [t^{r-j}] \\prod_{l > k} g_l(t)`, with
    :math:`r` the draws left. It uses suffix products of the generating polynomials; nothing is merged into an
    averaged class as in the released MVHG code [1]. Suffix coefficients below the FFT's rounding floor
    (~1e-14 of the total mass) are treated as zero; the probability this moves is of that order.
    :meth:`rsample` draws each of these exact conditionals with the Gumbel-max trick and relaxes it with a
    Gumbel-softmax at ``temperature`` [4]. With ``hard=True`` (default), the forward value is the exact integer
    count (straight-through) and gradients reach the logits through the soft expected counts
    :math:`\\sum_j j\\, \\mathrm{softmax}_j`. The last class takes :math:`N - \\sum_{k<K}` of the others, so
    relaxed counts always sum to :math:`N`. Later conditionals are conditioned on the hard counts. In the backward
    pass only, they also depend on the relaxed draws left, through a first-order term whose slope is a finite
    difference of :math:`\\log [t^{r-j}] \\prod_{l>k} g_l`; without it, the gradient of :math:`E[f(x)]` keeps a
    large bias at every temperature. Straight-through gradients stay biased (the bias against enumeration:
    ``benchmarks/results/distribution_notes.md``). With ``hard=False``, the relaxed
    counts are returned: they are not integers (and the last one may leave :math:`[0, m_K]`), so they lie outside
    the support.

    :attr:`mean`, :attr:`variance` and :meth:`entropy` are exact (from the exact marginals). ``enumerate_support``
    lists the support of a small urn (shared by the whole batch); ``has_enumerate_support`` is ``False`` on
    purpose (Pyro would drop guide weights of a reparameterised site).

    Example::

        >>> d = MultivariateNoncentralHypergeometric(
        ...     torch.tensor([5.0, 5.0, 5.0]), torch.tensor(5.0), torch.tensor([0.0, 1.0, -1.0])
        ... )
        >>> d.rsample(torch.Size([2])).shape
        torch.Size([2, 3])
        >>> d.log_prob(torch.tensor([1.0, 3.0, 1.0])).shape
        torch.Size([])

    :param class_sizes: balls of each colour :math:`m_k`, non-negative integers, shape ``(..., K)``.
    :param total_count: balls drawn :math:`N`, a non-negative integer ``<= sum(class_sizes)``; shape
        broadcastable to the batch shape.
    :param logits: log importance weights :math:`\\ell_k = \\log w_k`, finite, shape ``(..., K)``.
    :param temperature: positive Gumbel-softmax temperature of :meth:`rsample`.
    :param hard: straight-through (``True``, exact forward counts) or relaxed (``False``) :meth:`rsample`.
    :param plan_cache: an :class:`UrnPlanCache` shared by successive distributions over the same urn whose logits
        change a little between them (a learned prior, step after step): :meth:`log_prob` then reuses its tilt and
        windows while they still cover the new logits' mass, instead of solving for them again. The value is
        exact to rounding either way; sampling and the marginals always plan afresh.
    :param validate_args: as in ``torch.distributions``.

    References:
    [1] Sutter, Manduchi, Ryser, Vogt, "Learning Group Importance using the Differentiable Hypergeometric
    Distribution", ICLR 2023, arXiv:2203.01629, https://arxiv.org/abs/2203.01629.
    [2] Fog, "Calculation Methods for Wallenius' Noncentral Hypergeometric Distribution", Communications in
    Statistics - Simulation and Computation 37(2), 2008 (no arXiv version).
    [3] Fog, "Sampling Methods for Wallenius' and Fisher's Noncentral Hypergeometric Distributions",
    Communications in Statistics - Simulation and Computation 37(2), 2008 (no arXiv version).
    [4] Jang, Gu, Poole, "Categorical Reparameterization with Gumbel-Softmax", ICLR 2017, arXiv:1611.01144,
    https://arxiv.org/abs/1611.01144.
    """

    arg_constraints = {
        "class_sizes": constraints.nonnegative_integer_vector,
        "total_count": torch_constraints.nonnegative_integer,
        "logits": constraints.finite_real_vector,
    }
    has_rsample = True

    def __init__(
        self,
        class_sizes: torch.Tensor,
        total_count: torch.Tensor | int,
        logits: torch.Tensor,
        *,
        temperature: float | torch.Tensor = 1.0,
        hard: bool = True,
        plan_cache: UrnPlanCache | None = None,
        validate_args: bool | None = None,
    ):
        if plan_cache is not None and not isinstance(plan_cache, UrnPlanCache):
            raise ValueError(f"{_NAME}: `plan_cache` must be an UrnPlanCache or None, got {type(plan_cache).__name__}")
        self.plan_cache = plan_cache
        logits = torch.as_tensor(logits)
        if not logits.is_floating_point():
            logits = logits.to(torch.get_default_dtype())
        class_sizes = _as_tensor(class_sizes, "class_sizes", logits.dtype, logits.device)
        total_count = _as_tensor(total_count, "total_count", logits.dtype, logits.device)
        if logits.dim() < 1 or logits.shape[-1] < 1:
            raise ValueError(f"{_NAME}: `logits` must have shape (..., K) with K >= 1, got {tuple(logits.shape)}")
        if class_sizes.dim() < 1 or class_sizes.shape[-1] != logits.shape[-1]:
            raise ValueError(
                f"{_NAME}: `class_sizes` must have shape (..., K) with the K = {logits.shape[-1]} classes of "
                f"`logits`, got {tuple(class_sizes.shape)}"
            )
        try:
            batch_shape = broadcast_shapes(class_sizes.shape[:-1], total_count.shape, logits.shape[:-1])
        except RuntimeError as error:
            raise ValueError(
                f"{_NAME}: the batch shapes of `class_sizes` {tuple(class_sizes.shape[:-1])}, `total_count` "
                f"{tuple(total_count.shape)} and `logits` {tuple(logits.shape[:-1])} do not broadcast"
            ) from error
        num_classes = logits.shape[-1]
        self.class_sizes = class_sizes.expand(batch_shape + (num_classes,))
        self.total_count = total_count.expand(batch_shape)
        self.logits = logits.expand(batch_shape + (num_classes,))
        self.temperature = check_temperature_shape(temperature, _NAME)
        self.hard = bool(hard)
        super().__init__(batch_shape, torch.Size((num_classes,)), validate_args=validate_args)
        if self._validate_args:  # after the generic checks of `arg_constraints` (finite logits, integer counts)
            check_values(
                self.total_count <= self.class_sizes.sum(-1),
                _NAME,
                "total_count",
                lambda: f"at most the number of balls in the urn, sum(class_sizes) = {class_sizes.sum(-1).tolist()}",
                total_count,
            )
            check_temperature(temperature, _NAME)

    @torch_constraints.dependent_property(is_discrete=True, event_dim=1)
    def support(self):
        return constraints.IntegerCountVector(self.class_sizes, self.total_count)

    @property
    def num_classes(self) -> int:
        return self.logits.shape[-1]

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(MultivariateNoncentralHypergeometric, _instance)
        batch_shape = torch.Size(batch_shape)
        event = self.event_shape
        new.class_sizes = self.class_sizes.expand(batch_shape + event)
        new.total_count = self.total_count.expand(batch_shape)
        new.logits = self.logits.expand(batch_shape + event)
        new.temperature = self.temperature
        new.hard = self.hard
        new.plan_cache = self.plan_cache
        super(MultivariateNoncentralHypergeometric, new).__init__(batch_shape, event, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @classmethod
    def infer_shapes(cls, class_sizes, logits, total_count=(), **_):
        batch_shape = broadcast_shapes(class_sizes[:-1], total_count, logits[:-1])
        return batch_shape, logits[-1:]

    # -- exact numerics (float64 internally) ------------------------------------------------------------------

    def _float64(self):
        return (
            self.logits.to(torch.float64),
            self.class_sizes.to(torch.float64),
            self.total_count.to(torch.float64),
        )

    @lazy_property
    def _plan(self) -> gp.UrnPlan:
        return gp.cached_plan(*self._float64())

    @lazy_property
    def _normalizer_plan(self) -> gp.UrnPlan:
        """The plan of ``log P0`` alone: from the ``plan_cache`` where there is one."""
        if self.plan_cache is None:
            return self._plan
        return self.plan_cache.plan(*self._float64())

    def log_normalizer(self) -> torch.Tensor:
        """``log P0``, the log of the normalising constant (batch shape, differentiable in ``logits``)."""
        logits, sizes, total = self._float64()
        return gp.log_normalizer(logits, sizes, total, self._normalizer_plan).to(self.logits.dtype)

    def _marginals(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact marginal pmfs on each class's window of non-negligible counts, and those counts (float64)."""
        logits, sizes, total = self._float64()
        plan = self._plan
        return gp.marginal_pmfs(logits, sizes, total, plan), plan.counts.to(torch.float64)

    @property
    def mean(self):
        probs, counts = self._marginals()
        return (probs * counts).sum(-1).to(self.logits.dtype)

    @property
    def variance(self):
        probs, counts = self._marginals()
        mean = (probs * counts).sum(-1, keepdim=True)
        return (probs * (counts - mean) ** 2).sum(-1).to(self.logits.dtype)

    def entropy(self):
        logits, sizes, total = self._float64()
        probs, counts = self._marginals()
        log_binomial = torch.where(probs > 0, self._plan.log_binomial, torch.zeros_like(probs))
        expected_log_binomial = (probs * log_binomial).sum((-1, -2))
        expected_linear = (logits * (probs * counts).sum(-1)).sum(-1)
        log_p0 = gp.log_normalizer(logits, sizes, total, self._plan)
        return (log_p0 - expected_linear - expected_log_binomial).to(self.logits.dtype)

    # -- log_prob ---------------------------------------------------------------------------------------------

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        value = torch.as_tensor(value, device=self.logits.device)
        check_event_shape(value, self.event_shape, _NAME)
        valid = self.support.check(value.to(self.logits.dtype))
        # float64 throughout: log C(m, x) + x a and log P0 are large and cancel (float32 would lose ~1e-2)
        logits, sizes, total = self._float64()
        value = value.to(torch.float64)
        unnormalised = (log_binomial(sizes, value) + value * logits).sum(-1)
        log_prob = unnormalised - gp.log_normalizer(logits, sizes, total, self._normalizer_plan)
        log_prob = torch.where(valid, log_prob, torch.full_like(log_prob, -math.inf))
        return log_prob.to(self.logits.dtype)

    # -- sampling ---------------------------------------------------------------------------------------------

    def sample(self, sample_shape=torch.Size()):
        with torch.no_grad():
            return self._draw(torch.Size(sample_shape), relax=False)

    def rsample(self, sample_shape=torch.Size()):
        return self._draw(torch.Size(sample_shape), relax=True)

    def _draw(self, sample_shape: torch.Size, relax: bool) -> torch.Tensor:
        """Sequential exact draw, optionally with straight-through Gumbel-softmax relaxed counts."""
        logits, sizes, total = self._float64()
        plan = self._plan
        shape = sample_shape + self.batch_shape
        remaining = total.long().expand(shape)
        # The relaxed draws left: equal to `remaining` in value, carrying the relaxed counts' gradients.
        remaining_relaxed = total.expand(shape)
        counts, relaxed = [], []
        if self.num_classes > 1:
            log_pmfs, log_suffix, log_slopes = gp.suffix_log_pmfs(logits, sizes, plan, slopes=relax)
            windows, log_pmfs = plan.counts.unbind(-2), log_pmfs.unbind(-2)
            float_windows = plan.counts.to(torch.float64).unbind(-2)
            reach_suffix, sizes_long = plan.reach_suffix.long(), sizes.long().unbind(-1)
            for k in range(self.num_classes - 1):
                window = windows[k]  # the counts of class k with non-negligible probability
                left = plan.suffix[k].locate(remaining.unsqueeze(-1) - window)  # draws left after class k
                conditional = log_pmfs[k] + gp.Band.gather(log_suffix[k], left, -math.inf)
                if relax and k > 0:
                    # First-order straight-through dependence on the draws left: zero in value, it gives the
                    # conditional's logits the gradient d log P(S_{>k} = r - j) / dr (a finite difference).
                    shift = (remaining_relaxed - remaining_relaxed.detach()).unsqueeze(-1)
                    conditional = conditional + shift * gp.Band.gather(log_slopes[k], left, 0.0)
                # A row can only be empty if every reachable tail coefficient fell under the rounding floor, a
                # state of probability far below that floor; then take the feasible count nearest the window.
                # Its logits are zeroed so that the relaxation stays finite (its count is replaced below).
                lost = torch.isneginf(conditional).all(-1)
                safe = torch.where(lost.unsqueeze(-1), 0.0, conditional)
                if relax:
                    one_hot, soft = gumbel_softmax(safe, self.temperature)
                    choice = one_hot.argmax(-1, keepdim=True)
                else:  # the same Gumbel-max draw, without the relaxation
                    choice = (safe + gumbel_noise(safe.shape, safe)).argmax(-1, keepdim=True)
                hard = window.expand(safe.shape).gather(-1, choice).squeeze(-1)
                low = (remaining - reach_suffix[..., k]).clamp(min=0)
                rescue = window[..., window.shape[-1] // 2].clamp(min=low, max=torch.minimum(remaining, sizes_long[k]))
                hard = torch.where(lost, rescue, hard)
                counts.append(hard)
                remaining = remaining - hard
                if relax:
                    hard_float = hard.to(soft.dtype)
                    soft_count = torch.where(lost, hard_float, (soft * float_windows[k]).sum(-1))
                    relaxed.append(soft_count)
                    remaining_relaxed = remaining_relaxed - straight_through(hard_float, soft_count)
        counts.append(remaining)
        hard_counts = torch.stack(counts, dim=-1).to(torch.float64)
        if not relax:
            return hard_counts.to(self.logits.dtype)
        relaxed.append(total - sum(relaxed) if relaxed else total.expand(shape))
        soft_counts = torch.stack(relaxed, dim=-1)
        out = straight_through(hard_counts, soft_counts) if self.hard else soft_counts
        return out.to(self.logits.dtype)

    # -- enumeration ------------------------------------------------------------------------------------------

    def enumerate_support(self, expand=True):
        sizes = self.class_sizes.reshape(-1, self.num_classes)
        totals = self.total_count.reshape(-1)
        if sizes.shape[0] and not ((sizes == sizes[:1]).all() and (totals == totals[:1]).all()):
            # torch's convention for "not available for these parameters" (as Binomial with batched counts)
            raise NotImplementedError(f"{_NAME}.enumerate_support: the urn must be the same for the whole batch")
        upper = [int(m) for m in sizes[0].tolist()] if sizes.shape[0] else [0] * self.num_classes
        total = int(totals[0]) if totals.numel() else 0
        ranges = [range(min(m, total) + 1) for m in upper[:-1]]
        check_support_size(_NAME, math.prod(len(r) for r in ranges), "candidate count vectors")
        points = [
            (*head, total - sum(head)) for head in itertools.product(*ranges) if 0 <= total - sum(head) <= upper[-1]
        ]
        values = torch.tensor(points, dtype=self.logits.dtype, device=self.logits.device)
        return batch_support(values, self.batch_shape, self.event_shape, expand)


MVHG = MultivariateNoncentralHypergeometric


@register_kl(MultivariateNoncentralHypergeometric, MultivariateNoncentralHypergeometric)
def _kl_mvhg_mvhg(p, q):
    """``KL(p || q) = sum_k (a_k - b_k) E_p[x_k] - log P0_p + log P0_q``, exact, for two MVHGs on one urn."""
    try:
        sizes = torch.broadcast_tensors(p.class_sizes, q.class_sizes)
        totals = torch.broadcast_tensors(p.total_count, q.total_count)
    except RuntimeError as error:
        raise ValueError("kl_divergence(MVHG, MVHG): the two urns have incompatible shapes") from error
    if not (torch.equal(*sizes) and torch.equal(*totals)):
        raise ValueError("kl_divergence(MVHG, MVHG): both must have the same class_sizes and total_count")
    return ((p.logits - q.logits) * p.mean).sum(-1) - p.log_normalizer() + q.log_normalizer()
