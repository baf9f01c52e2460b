"""The differentiable random partition model (DRPM): subset sizes from an MVHG, their members from a ranking."""

from __future__ import annotations

import math

import torch
from pyro.distributions import TorchDistribution
from torch.distributions.utils import lazy_property

from pyro_drpm.distributions import constraints
from pyro_drpm.distributions._checks import (
    check_event_shape,
    check_temperature,
    check_temperature_shape,
    check_values,
)
from pyro_drpm.distributions._enumeration import assignment_matrices, batch_support, check_support_size
from pyro_drpm.distributions.noncentral_hypergeometric import MultivariateNoncentralHypergeometric
from pyro_drpm.distributions.ordered_blocks import (
    log_prob_ordered_blocks,
    log_prob_ordered_blocks_bounds,
)
from pyro_drpm.distributions.plackett_luce import gumbel_perturbed_logits
from pyro_drpm.ops import broadcast_shapes
from pyro_drpm.relaxations import RELAXED_SORTS
from pyro_drpm.relaxations.straight_through_sort import straight_through_sort
from pyro_drpm.relaxations.windows import soft_window_matrix, window_matrix

__all__ = ["DRPM"]

# Width (in ranks) of the logistic ramps whose derivative carries the size gradient through the window matrix.
# Against exact gradients by enumeration (n = 5, K = 3, temperatures 0.1 to 1), 0.5 gave about half the size-
# gradient bias of 0.25 or 1.0 for a quadratic objective (relative error 0.11-0.16 against 0.20-0.28); for a
# linear one 1.0 was best (about 0.65 against 0.75). The score gradients do not depend on it.
_WINDOW_SMOOTHING = 0.5


def _as_float_tensor(value, name: str) -> torch.Tensor:
    try:
        value = torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"DRPM: `{name}` must be a tensor of numbers, got {value!r}") from error
    return value if value.is_floating_point() else value.to(torch.get_default_dtype())


class DRPM(TorchDistribution):
    """Differentiable random partition model: a random partition of ``n`` elements into ``K`` ordered subsets.

    **A sample** is an assignment matrix ``Y`` of shape ``batch_shape + (K, n)``: ``Y[k, i] = 1`` iff element
    ``i`` is in subset ``k``. Every column is one-hot; rows may be empty (subsets of size 0).

    The model has two stages [1]. The subset sizes :math:`\\mathbf{n} = (n_1, \\dots, n_K)` are drawn from a
    multivariate Fisher noncentral hypergeometric distribution (MVHG) [2] with log importance weights
    ``size_logits`` :math:`\\log\\omega` (an urn of ``class_sizes`` balls per subset, ``n`` of them drawn); a
    ranking :math:`\\pi` of the elements is drawn from a Plackett-Luce distribution with log-scores
    ``score_logits`` :math:`\\log s`; subset 1 takes the :math:`n_1` top-ranked elements, subset 2 the next
    :math:`n_2`, and so on: :math:`Y = W(\\mathbf{n}) P_\\pi` with the window matrix
    :math:`W_{kr} = \\mathbb{1}[n_1 + \\dots + n_{k-1} \\le r < n_1 + \\dots + n_k]`. Its probability is

    .. math::

        p(Y) = p_{\\mathrm{MVHG}}(\\mathbf{n}(Y); \\omega) \\sum_{\\pi \\in \\Pi_Y} p_{\\mathrm{PL}}(\\pi; s)
             = p_{\\mathrm{MVHG}}(\\mathbf{n}(Y); \\omega) \\prod_{k=1}^K
               \\int_0^\\infty R_k e^{-R_k t} \\prod_{i \\in S_k} (1 - e^{-s_i t})\\, dt,

    where :math:`\\mathbf{n}(Y)` are the row sums, :math:`\\Pi_Y` the :math:`\\prod_k n_k!` rankings that yield
    ``Y``, :math:`S_k` the members of subset :math:`k` and :math:`R_k = \\sum_{i \\in S_{k+1} \\cup \\dots \\cup
    S_K} s_i` (the factor is 1 when :math:`R_k = 0`). The product form is the exponential-race identity:
    Plackett-Luce is the order in which independent clocks :math:`T_i \\sim \\mathrm{Exp}(s_i)` ring.

    **Log-probability.** :meth:`log_prob` is exact: the MVHG term is exact and each integral is computed in
    log space by Gauss-Legendre quadrature on an interval fitted to the block (see
    :mod:`pyro_drpm.distributions.ordered_blocks`), exact to quadrature error at the dtype's precision; the
    paper only bounds the sum (:meth:`log_prob_bounds`). It is differentiable in both parameter
    sets, and in ``value`` when ``value`` carries a gradient (a straight-through :meth:`rsample`): the MVHG term
    through its counts ``Y 1`` (``lgamma`` of real counts), the Plackett-Luce term through the soft extension
    :math:`\\sum_k \\log \\int R_k(Y) e^{-R_k(Y) t} \\prod_i (1 - e^{-s_i t})^{Y_{ki}} dt`, whose value at a 0/1
    ``Y`` is exact (see :func:`~pyro_drpm.distributions.ordered_blocks.log_race_terms`). So under
    ``Trace_ELBO`` a partition's ``log p(Y) - log q(Y)`` also acts through the sample, like any reparameterised
    site; the forward value is unchanged.

    **Sampling.** :meth:`sample` is exact. :meth:`rsample` draws the sizes with the MVHG's straight-through
    sampler and the ranking with Plackett-Luce's (a relaxed sort, ``relaxation``, both at ``temperature``),
    and returns :math:`Y = W P` with :math:`W` built in O(K n) from the relaxed sizes
    (:func:`~pyro_drpm.relaxations.windows.window_matrix`, whose gradient moves each subset boundary along a
    logistic ramp half a rank wide), so gradients reach both ``size_logits`` and ``score_logits``; with
    ``hard=True`` no n x n matrix is formed, hard or relaxed (the relaxed sort's gradient is computed in row
    chunks of its band, :func:`~pyro_drpm.relaxations.straight_through_sort.straight_through_sort`). With
    ``hard=True`` (default) the forward value is an exact 0/1 partition drawn from the exact DRPM law; the
    gradients are straight-through estimates, biased (their bias against enumeration:
    ``benchmarks/results/distribution_notes.md``). With ``hard=False`` it returns
    the relaxed matrix, which is not 0/1 and lies outside the support: use it outside ``pyro.sample`` or
    with validation off. For unbiased gradients use the score-function estimator, which the exact
    log-probability makes available: ``DRPM(...).has_rsample_(False)`` under ``TraceGraph_ELBO``, or for the
    size stage alone: :meth:`perturb_scores` and :meth:`fill_subsets` draw the two stages separately, so the
    sizes can come from ``sizes.sample()`` (trained by the score function of the exact MVHG pmf) while the
    ranking keeps its straight-through gradient.

    **Dispersion of the sizes.** ``class_sizes`` (the MVHG urn, default ``n`` balls per subset as in the
    paper) sets how concentrated the subset sizes can be; the logits only move their mean. With the default
    urn, the probability of equal sizes stays small whatever the logits (numbers in
    ``benchmarks/results/distribution_notes.md``), so a guide cannot concentrate on a balanced partition
    however it moves its logits. Smaller urns
    (down to :math:`\\sum_k m_k \\ge n`) concentrate the sizes; as the urn grows the sizes tend to a
    multinomial. The price of a small urn is support: a partition with a subset larger than its :math:`m_k`
    has probability 0, so a guide's urn must still hold every partition the posterior needs. Model and guide
    may use different urns; both log-probabilities stay exact.

    ``enumerate_support()`` lists all :math:`K^n` assignment matrices (up to 65536);
    ``has_enumerate_support`` is ``False`` on purpose, since Pyro's enumeration would drop the guide weights of
    a reparameterised site.

    Example::

        >>> d = DRPM(torch.zeros(3), torch.randn(5))
        >>> d.rsample().shape
        torch.Size([3, 5])
        >>> d.log_prob(d.sample(torch.Size([2]))).shape
        torch.Size([2])

    :param size_logits: log importance weights :math:`\\log\\omega` of the ``K`` subsets, shape ``(..., K)``;
        finite.
    :param score_logits: Plackett-Luce log-scores :math:`\\log s` of the ``n`` elements, shape ``(..., n)``;
        finite.
    :param temperature: positive temperature of both relaxations used by :meth:`rsample`.
    :param hard: straight-through (``True``, exact forward value) or relaxed (``False``) :meth:`rsample`.
    :param relaxation: the relaxed sort, ``"neuralsort"`` (as in the paper) or ``"softsort"``.
    :param class_sizes: the MVHG urn :math:`m_k`, non-negative integers of shape ``(..., K)`` with
        :math:`\\sum_k m_k \\ge n`; default ``n`` for every subset.
    :param validate_args: as in ``torch.distributions``.

    References:
    [1] Sutter, Ryser, Liebeskind, Vogt, "Differentiable Random Partition Models", NeurIPS 2023,
    arXiv:2305.16841, https://arxiv.org/abs/2305.16841.
    [2] Sutter, Manduchi, Ryser, Vogt, "Learning Group Importance using the Differentiable Hypergeometric
    Distribution", ICLR 2023, arXiv:2203.01629, https://arxiv.org/abs/2203.01629.
    [3] Grover, Wang, Zweig, Ermon, "Stochastic Optimization of Sorting Networks via Continuous Relaxations",
    ICLR 2019, arXiv:1903.08850, https://arxiv.org/abs/1903.08850.
    [4] Prillo, Eisenschlos, "SoftSort: A Continuous Relaxation for the argsort Operator", ICML 2020,
    arXiv:2006.16038, https://arxiv.org/abs/2006.16038.
    """

    arg_constraints = {
        "size_logits": constraints.finite_real_vector,
        "score_logits": constraints.finite_real_vector,
        "class_sizes": constraints.nonnegative_integer_vector,
    }
    support = constraints.assignment_matrix
    has_rsample = True
    has_enumerate_support = False
    #: the size stage's :class:`~pyro_drpm.distributions.UrnPlanCache` (none here; a prior's DRPM keeps one)
    plan_cache = None

    def __init__(
        self,
        size_logits: torch.Tensor,
        score_logits: torch.Tensor,
        *,
        temperature: float | torch.Tensor = 1.0,
        hard: bool = True,
        relaxation: str = "neuralsort",
        class_sizes: torch.Tensor | None = None,
        validate_args: bool | None = None,
    ):
        size_logits = _as_float_tensor(size_logits, "size_logits")
        score_logits = _as_float_tensor(score_logits, "score_logits")
        dtype = torch.promote_types(size_logits.dtype, score_logits.dtype)
        size_logits, score_logits = size_logits.to(dtype), score_logits.to(dtype)
        for name, logits, what in (
            ("size_logits", size_logits, "K >= 1 subsets"),
            ("score_logits", score_logits, "n >= 1 elements"),
        ):
            if logits.dim() < 1 or logits.shape[-1] < 1:
                raise ValueError(
                    f"DRPM: `{name}` must have shape (..., {what[0]}) with {what}, got {tuple(logits.shape)}"
                )
        num_subsets, n = size_logits.shape[-1], score_logits.shape[-1]
        if class_sizes is None:
            class_sizes = size_logits.new_full((num_subsets,), float(n))
        else:
            class_sizes = _as_float_tensor(class_sizes, "class_sizes").to(dtype=dtype, device=size_logits.device)
            if class_sizes.dim() == 0:
                class_sizes = class_sizes.expand(num_subsets)
            if class_sizes.shape[-1] != num_subsets:
                raise ValueError(
                    f"DRPM: `class_sizes` must have shape (..., K) with the K = {num_subsets} subsets of "
                    f"`size_logits`, got {tuple(class_sizes.shape)}"
                )
        try:
            batch_shape = broadcast_shapes(size_logits.shape[:-1], score_logits.shape[:-1], class_sizes.shape[:-1])
        except RuntimeError as error:
            raise ValueError(
                f"DRPM: the batch shapes of `size_logits` {tuple(size_logits.shape[:-1])}, `score_logits` "
                f"{tuple(score_logits.shape[:-1])} and `class_sizes` {tuple(class_sizes.shape[:-1])} do not broadcast"
            ) from error
        if relaxation not in RELAXED_SORTS:
            raise ValueError(f"DRPM: unknown `relaxation` {relaxation!r}; expected one of {sorted(RELAXED_SORTS)}")
        self.size_logits = size_logits.expand(batch_shape + (num_subsets,))
        self.score_logits = score_logits.expand(batch_shape + (n,))
        self.class_sizes = class_sizes.expand(batch_shape + (num_subsets,))
        self.temperature = check_temperature_shape(temperature, "DRPM")
        self.hard = bool(hard)
        self.relaxation = relaxation
        super().__init__(batch_shape, torch.Size((num_subsets, n)), validate_args=validate_args)
        if self._validate_args:  # after the generic checks of `arg_constraints` (finite logits, integer urn)
            check_values(
                self.class_sizes.sum(-1) >= n, "DRPM", "class_sizes", f"an urn of at least n = {n} balls", class_sizes
            )
            check_temperature(temperature, "DRPM")

    @property
    def num_subsets(self) -> int:
        return self.event_shape[0]

    @property
    def num_elements(self) -> int:
        return self.event_shape[1]

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(DRPM, _instance)
        batch_shape = torch.Size(batch_shape)
        new.size_logits = self.size_logits.expand(batch_shape + self.size_logits.shape[-1:])
        new.score_logits = self.score_logits.expand(batch_shape + self.score_logits.shape[-1:])
        new.class_sizes = self.class_sizes.expand(batch_shape + self.class_sizes.shape[-1:])
        new.temperature = self.temperature
        new.hard = self.hard
        new.relaxation = self.relaxation
        super(DRPM, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @classmethod
    def infer_shapes(cls, size_logits, score_logits, class_sizes=None, **_):
        batch_shape = broadcast_shapes(size_logits[:-1], score_logits[:-1], (class_sizes or (1,))[:-1])
        return batch_shape, torch.Size((size_logits[-1], score_logits[-1]))

    # -- the two stages ---------------------------------------------------------------------------------------

    @lazy_property
    def sizes(self) -> MultivariateNoncentralHypergeometric:
        """Stage one: the MVHG of the subset sizes (the row sums of ``Y``)."""
        total = torch.tensor(float(self.num_elements), dtype=self.size_logits.dtype, device=self.size_logits.device)
        return MultivariateNoncentralHypergeometric(
            self.class_sizes,
            total,
            self.size_logits,
            temperature=self.temperature,
            hard=self.hard,
            plan_cache=self.plan_cache,
            validate_args=False,
        )

    # -- sampling ---------------------------------------------------------------------------------------------

    def sample(self, sample_shape=torch.Size()):
        sample_shape = torch.Size(sample_shape)
        with torch.no_grad():
            counts = self.sizes.sample(sample_shape).long()
            shape = sample_shape + self.batch_shape + (self.num_elements,)
            perturbed = gumbel_perturbed_logits(self.score_logits, shape)
            ranking = perturbed.argsort(dim=-1, descending=True)  # ranking[r] = element at rank r
            rank = torch.arange(self.num_elements, device=counts.device).expand(shape).contiguous()
            block_of_rank = torch.searchsorted(counts.cumsum(-1), rank, right=True)
            block = torch.empty_like(block_of_rank).scatter_(-1, ranking, block_of_rank)
            one_hot = torch.nn.functional.one_hot(block, self.num_subsets)
            return one_hot.transpose(-1, -2).to(self.score_logits.dtype)

    def rsample(self, sample_shape=torch.Size()):
        sample_shape = torch.Size(sample_shape)
        counts = self.sizes.rsample(sample_shape)
        perturbed = self.perturb_scores(sample_shape)
        if not self.hard:
            soft_permutation = RELAXED_SORTS[self.relaxation](perturbed, self.temperature)
            return soft_window_matrix(counts, self.num_elements, _WINDOW_SMOOTHING) @ soft_permutation
        return self.fill_subsets(counts, perturbed)

    def perturb_scores(self, sample_shape=torch.Size()) -> torch.Tensor:
        """Gumbel-perturbed score logits, shape ``sample_shape + batch_shape + (n,)``: sorted in decreasing
        order they are an exact Plackett-Luce ranking (the second stage's randomness, independent of the sizes)."""
        shape = torch.Size(sample_shape) + self.batch_shape + (self.num_elements,)
        return gumbel_perturbed_logits(self.score_logits, shape)

    def fill_subsets(self, sizes: torch.Tensor, perturbed_scores: torch.Tensor) -> torch.Tensor:
        """The second stage: ``Y = W(sizes) P``, subset 1 taking the ``sizes[0]`` elements ranked first by
        ``perturbed_scores`` (from :meth:`perturb_scores`), subset 2 the next ``sizes[1]``, and so on.

        The value is an exact 0/1 partition; the permutation is straight-through (the relaxed sort at
        ``temperature``), so gradients reach ``score_logits``, and ``sizes`` (a straight-through MVHG sample or
        plain integers) gets the gradient of the window's boundaries. With ``sizes`` drawn by
        ``self.sizes.sample()`` (no gradient), this is the DRPM sample whose size stage is left to a
        score-function estimator. :meth:`rsample` is ``fill_subsets(self.sizes.rsample(), perturb_scores())``.

        :param sizes: subset sizes ``(..., K)`` summing to ``n``.
        :param perturbed_scores: ``(..., n)``, broadcastable with ``sizes``' batch dimensions.
        """
        # Y = W P_hard is a column gather of the exact window W, and neither pass forms an n x n matrix: the
        # backward computes the relaxed sort's VJP at W^T dY in row chunks (straight_through_sort).
        window = window_matrix(sizes, self.num_elements, _WINDOW_SMOOTHING)  # exact, straight-through
        return straight_through_sort(perturbed_scores, self.temperature, self.relaxation, left=window)

    # -- probabilities ----------------------------------------------------------------------------------------

    def _prepare(self, value):
        """``(valid, assignment, row sums)``: a one-hot stand-in replaces invalid values (masked to -inf later)."""
        if self._validate_args:
            self._validate_sample(value)  # raises unless every value is in the support
        value = torch.as_tensor(value, dtype=self.score_logits.dtype, device=self.score_logits.device)
        check_event_shape(value, self.event_shape, "DRPM")
        if self._validate_args:
            valid = torch.ones((), dtype=torch.bool, device=value.device)
        else:
            valid = self.support.check(value.detach())
        block = value.detach().argmax(-2)
        assignment = torch.nn.functional.one_hot(block, self.num_subsets).transpose(-1, -2).to(value.dtype)
        if value.requires_grad:
            # straight through: the one-hot value, with the gradient of the (relaxed) value
            assignment = assignment + (value - value.detach())
        return valid, assignment, assignment.sum(-1)

    def log_prob(self, value):
        valid, assignment, sizes = self._prepare(value)
        log_prob = self.sizes.log_prob(sizes) + log_prob_ordered_blocks(self.score_logits, assignment)
        return torch.where(valid, log_prob, torch.full_like(log_prob, -math.inf))

    def log_prob_bounds(self, value) -> tuple[torch.Tensor, torch.Tensor]:
        """The DRPM paper's lower and upper bounds on :meth:`log_prob`, for comparison.

        .. math::

            \\log p(\\mathbf{n}) + \\log |\\Pi_Y| + \\log \\min_{\\pi \\in \\Pi_Y} p(\\pi) \\le \\log p(Y) \\le
            \\log p(\\mathbf{n}) + \\log |\\Pi_Y| + \\log \\max_{\\pi \\in \\Pi_Y} p(\\pi),

        the extremes being the rankings that order every subset by increasing / decreasing score.

        :returns: ``(lower, upper)``, each of shape ``sample_shape + batch_shape``.
        """
        valid, assignment, sizes = self._prepare(value)
        log_sizes = self.sizes.log_prob(sizes)
        lower, upper = log_prob_ordered_blocks_bounds(self.score_logits, assignment)
        minus_inf = torch.full_like(log_sizes, -math.inf)
        return torch.where(valid, log_sizes + lower, minus_inf), torch.where(valid, log_sizes + upper, minus_inf)

    def enumerate_support(self, expand=True):
        num_subsets, n = self.event_shape
        check_support_size("DRPM", num_subsets**n, f"K ** n assignment matrices for K = {num_subsets}, n = {n}")
        values = assignment_matrices(num_subsets, n, self.score_logits.dtype, self.score_logits.device)
        return batch_support(values, self.batch_shape, self.event_shape, expand)
