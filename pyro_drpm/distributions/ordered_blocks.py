"""The Plackett-Luce probability that a ranking fills given blocks in a given order (exact, via a clock race).

For scores :math:`s_i = e^{\\ell_i}` and an assignment matrix ``Y`` whose rows are the blocks
:math:`S_1, \\dots, S_K` (filled in that order, rows may be empty), this module computes

.. math::

    \\log \\sum_{\\pi \\in \\Pi_Y} p_{PL}(\\pi; s),

the log-probability that a Plackett-Luce ranking puts all of :math:`S_1` first, then all of :math:`S_2`, and so
on, in any order inside each block. It is the permutation part of the DRPM's log-probability; the paper only
bounds it (:func:`log_prob_ordered_blocks_bounds`).

**The identity.** A Plackett-Luce ranking is the order in which independent exponential clocks
:math:`T_i \\sim \\mathrm{Exp}(s_i)` ring. By memorylessness the event factorises over blocks:

.. math::

    \\sum_{\\pi \\in \\Pi_Y} p(\\pi) = \\prod_k q(S_k; R_k), \\qquad
    q(S; R) = \\int_0^\\infty R e^{-R t} \\prod_{i \\in S} (1 - e^{-s_i t})\\, dt
            = \\int_{-\\infty}^{\\infty} e^{f(u)}\\, du,

    f(u) = u - e^u + \\sum_{i \\in S} \\log\\big(1 - \\exp(-e^{u + a_i})\\big), \\qquad a_i = \\ell_i - \\log R,

with :math:`R_k` the total score of the later blocks (:math:`t = e^u / R`), and :math:`q = 1` for an empty block
or the last non-empty one.

**Numerics.** :math:`f` is concave (every factor is a log-concave CDF), so the integrand is unimodal with a
mode in :math:`[0, \\log(|S| + 1)]`. For every block we find the mode (safeguarded Newton) and, on each side,
the point where :math:`f` has dropped by ``D`` below its maximum (Newton from outside, which for a concave
function never overshoots, so an unfinished iteration only widens the interval). Each side gets its own
Gauss-Legendre rule; ``D`` and the node count follow the dtype (:func:`_quadrature_settings`). Everything is
in log space, so float32 logits of magnitude 1e3 and blocks of thousands of elements stay finite. The cost is
``O(num_nodes * n)`` time per partition; the node-by-element terms are formed in chunks, and the gradient with
respect to the logits is computed analytically in a custom backward pass from the same chunks, so memory stays
``O(n * (K + num_nodes))`` per partition plus one chunk. The interval is chosen without gradient: the integral
does not depend on it (up to quadrature error).

The accuracy is checked in float64 against inclusion-exclusion in 80-digit arithmetic and against mpmath
quadrature (measurements: ``benchmarks/results/distribution_notes.md``). A fixed interval would need many more
nodes and fails for blocks of thousands of elements, whose integrand is only :math:`O(1/\\sqrt{|S|})` wide.

References: [1] Sutter, Ryser, Liebeskind, Vogt, "Differentiable Random Partition Models", NeurIPS 2023,
arXiv:2305.16841 (the two-stage model and the bounds). [2] Plackett (1975) and Luce (1959) for the ranking model;
its clock-race representation is classical (e.g. Yellott, J. Math. Psych. 1977).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from pyro.ops.provenance import detach_provenance
from torch.autograd.function import once_differentiable

from pyro_drpm.compilation import compiled_kernel
from pyro_drpm.ops import broadcast_shapes, expm1, reverse_logcumsumexp

__all__ = [
    "log_prob_ordered_blocks",
    "log_prob_ordered_blocks_bounds",
    "log_race_terms",
]

_CHUNK_ELEMENTS = 1 << 21  # node-by-element terms formed at once (8 MB in float32)


def _quadrature_settings(dtype: torch.dtype) -> tuple[float, float, int]:
    """``(x_small, drop, num_nodes)`` for ``dtype``: the precision-dependent constants of the integral (the search
    for its interval has its own, :func:`_newton_steps`).

    - ``x_small = log(eps)``: below it, ``log(1 - exp(-e^x)) = x - e^x / 2`` to within ``eps`` relative, and
      the direct formula would take the log of an underflowing number.
    - ``drop = log(1 / eps) + 4``: the integrand is cut where it has fallen by ``exp(-drop)`` below its
      maximum; for a log-concave integrand the neglected tail mass is then below ``eps`` relative.
    - ``num_nodes``: Gauss-Legendre nodes in total (3/4 left of the mode, 1/4 right). Worst errors in
      ``log q`` relative to ``max(1, |log q|)``, measured in float64 over single elements with ``a`` in
      [-40, 40] and blocks of 2-1000 elements, shifts in [-30, 30] and score spreads up to 1e4: 64 nodes
      2e-9, 96 nodes 2e-12, 128 nodes 1e-13. The hardest cases are small blocks that are almost surely first
      (long, slowly decaying left tail). In float32 (``drop`` about 20, half the float64 interval) 48 nodes
      are at the rounding: over 300 random blocks (2-1000 elements, log-score spreads up to 9, shifts of
      +-30) the worst error is 2e-7 against 128 float32 nodes and 1e-6 against float64, as with 64 nodes
      (the float32 block sums' own rounding); 32 nodes give 6e-6.
    """
    eps = torch.finfo(dtype).eps
    num_nodes = 128 if eps < 1e-10 else 48
    return math.log(eps), math.log(1.0 / eps) + 4.0, num_nodes


def _newton_steps(dtype: torch.dtype) -> int:
    """Newton steps for the mode and for each end of the integration interval: 3 in float64, 2 below.

    Over 300 random blocks (2-1000 elements, log-score spreads up to 9, shifts of +-30, every third block tiny
    and almost surely first), ``log q`` after 2 (3) steps differs from that after 30 by at most 1e-14 (3e-15)
    relative in float64 and by the rounding (2e-7) in float32; an unfinished end only widens the interval
    (see :func:`_integration_range`), which the quadrature absorbs.
    """
    return 3 if torch.finfo(dtype).eps < 1e-10 else 2


def _log1mexp_exp(x: torch.Tensor, x_small: float) -> torch.Tensor:
    """``log(1 - exp(-exp(x)))``, finite for every finite ``x`` (0 for large ``x``, about ``x`` for small)."""
    y = x.clamp(min=x_small).exp()  # may overflow to inf for large x: exp(-inf) = 0, log1p(0) = 0
    # the usual two-branch log(1 - e^{-y}) (Maechler 2012), plus the series x - y / 2 where y underflows
    direct = torch.where(y < math.log(2.0), torch.log(-expm1(-y)), torch.log1p(-torch.exp(-y)))
    return torch.where(x < x_small, x - 0.5 * x.exp(), direct)


def _dlog1mexp_exp(x: torch.Tensor, x_small: float) -> torch.Tensor:
    """The derivative of :func:`_log1mexp_exp`: ``h = y / expm1(y)`` with ``y = e^x`` (``1 - e^x / 2`` below
    ``x_small``).

    ``y`` is capped below ``finfo.max`` so that ``y / expm1(y)`` is ``0 / inf``-free (it underflows to 0).
    """
    cap = math.log(torch.finfo(x.dtype).max) - 1.0
    y = x.clamp(min=x_small, max=cap).exp()
    return torch.where(x < x_small, 1.0 - 0.5 * x.exp(), y / expm1(y))


@functools.lru_cache(maxsize=32)
def _gauss_legendre(num_nodes: int, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Gauss-Legendre nodes on ``[-1, 1]`` and their log-weights, ``(num_nodes, 1)`` each (never modified)."""
    nodes, weights = np.polynomial.legendre.leggauss(num_nodes)
    return (
        torch.as_tensor(nodes, dtype=dtype, device=device).unsqueeze(-1),
        torch.as_tensor(np.log(weights), dtype=dtype, device=device).unsqueeze(-1),
    )


def _block_sums(values: torch.Tensor, block: torch.Tensor, num_blocks: int) -> torch.Tensor:
    """Sum ``values`` (``(B, c, n)``) over the elements of each block: ``(B, c, num_blocks)``."""
    out = values.new_zeros(values.shape[:-1] + (num_blocks,))
    return out.scatter_add_(-1, block.unsqueeze(-2).expand_as(values), values)


def _at_elements(per_block: torch.Tensor, block: torch.Tensor) -> torch.Tensor:
    """Read ``per_block`` (``(B, c, K)``) at every element's block: ``(B, c, n)``."""
    return per_block.gather(-1, block.unsqueeze(-2).expand(per_block.shape[:-1] + block.shape[-1:]))


def _search_terms(u, a, block, x_small, *, value: bool, curvature: bool):
    """What the search for the integration range needs at ``u`` (``(B, c, K)``), per block: ``sum_i h(u + a_i)``
    (so ``f'(u) = 1 - e^u + sum h``) and, as asked, ``sum_i h'(u + a_i)`` (``f''(u) = -e^u + sum h'``) and
    ``f(u)``; returned in that order.

    The terms use the short forms ``h = y / expm1(y)`` and ``log(1 - e^-y) = log(-expm1(-y))`` with
    ``y = e^x`` kept in ``[eps, finfo.max / e]``, ``x`` itself below ``log eps``: each within the dtype's
    epsilon (absolute) of the exact terms of :func:`_log1mexp_exp` and :func:`_dlog1mexp_exp`. That moves ``f``
    by at most ``|S| eps`` and the ends of the interval by that over ``|f'|``, far inside the margin ``drop``;
    the integral itself is always formed from the exact terms.
    """
    x = _at_elements(u, block) + a.unsqueeze(-2)
    num_blocks = u.shape[-1]
    cap = math.log(torch.finfo(x.dtype).max) - 1.0
    y = x.clamp(min=x_small, max=cap).exp()
    h = y / expm1(y)
    terms = [_block_sums(h, block, num_blocks)]
    if curvature:
        terms.append(_block_sums(h * (1.0 - y - h), block, num_blocks))
    if value:
        log_cdf = torch.where(x < x_small, x, torch.log(-expm1(-y)))
        terms.append(u - u.exp() + _block_sums(log_cdf, block, num_blocks))
    return terms


@torch.no_grad()
def _integration_range(a, block, sizes, x_small, drop):
    """Mode and the two ends of each block's integration interval, shapes ``(B, K)``."""
    tiny = torch.finfo(a.dtype).tiny
    steps = _newton_steps(a.dtype)

    # Mode: f'(u) = 1 - e^u + sum_i h(u + a_i) vanishes where phi(u) = log(1 + sum_i h) - u does; phi is
    # decreasing and nearly linear (exactly so when all h are 0 or 1), so Newton on phi converges in a few
    # steps. Bracket: phi(0) > 0 and phi(log(m + 1)) < 0 since 0 < h < 1; fall back to bisection outside it.
    lo = torch.zeros_like(sizes).unsqueeze(-2)
    hi = torch.log1p(sizes).unsqueeze(-2)
    mode = 0.5 * hi
    for _ in range(steps):
        excess, excess_slope = _search_terms(mode, a, block, x_small, value=False, curvature=True)  # sum h, sum h'
        phi = torch.log1p(excess) - mode
        slope = excess_slope / (1.0 + excess) - 1.0  # d phi / du < 0
        rising = phi > 0
        lo = torch.where(rising, mode, lo)
        hi = torch.where(rising, hi, mode)
        step = mode - phi / slope.clamp(max=-tiny)
        mode = torch.where((step >= lo) & (step <= hi), step, 0.5 * (lo + hi))
    _, excess_slope, peak = _search_terms(mode, a, block, x_small, value=True, curvature=True)
    curvature = excess_slope - mode.exp()  # f''(mode)
    level = peak - drop

    # Both ends at once, side = +1 (left, where f' > 0) and -1 (right). Start each at the nearer of a Gaussian
    # guess (where a parabola with the peak's curvature drops by `drop`) and a point known to be outside:
    # f(u) <= min(u, (m + 1) u + sum_i a_i) on the left and f(u) <= u - e^u <= -e^u / 2 on the right, both on
    # the correct side of the mode because f(mode) <= mode - e^mode. Newton on a concave function lands
    # outside the level set after one step from anywhere on that side of the mode and then converges
    # monotonically, so every iterate brackets the mass; steps that leave the side are rejected.
    side = torch.tensor([[1.0], [-1.0]], dtype=a.dtype, device=a.device)
    reach = (2.0 * drop / (-curvature).clamp(min=1.0)).sqrt()
    total = _block_sums(a.unsqueeze(-2), block, sizes.shape[-1])
    outside = torch.cat(
        [torch.maximum(level, (level - total) / (sizes.unsqueeze(-2) + 1)), torch.log(2.0 * (drop - peak))], -2
    )
    guess = mode - side * reach
    first = 1.0 - guess.exp() + _search_terms(guess, a, block, x_small, value=False, curvature=False)[0]
    u = torch.where((side * first > 0) & (side * (guess - outside) > 0), guess, outside)
    for _ in range(steps):
        excess, value = _search_terms(u, a, block, x_small, value=True, curvature=False)
        first = 1.0 - u.exp() + excess
        step = u - (value - level) / (side * first).clamp(min=tiny) * side
        u = torch.where(torch.isfinite(step) & (side * first > 0), step, u)
    mode = mode.squeeze(-2)
    return u[..., 0, :].minimum(mode), mode, u[..., 1, :].maximum(mode)


def _split_rules(num_nodes: int, dtype: torch.dtype, device: torch.device):
    """The Gauss-Legendre rules of the two sides of the mode: ``3 num_nodes // 4`` nodes left, the rest right."""
    num_left = 3 * num_nodes // 4
    return _gauss_legendre(num_left, dtype, device), _gauss_legendre(num_nodes - num_left, dtype, device)


def _nodes_and_log_weights(left, mode, right, rules):
    """Gauss-Legendre nodes on ``[left, mode]`` and ``[mode, right]``, shapes ``(B, num_nodes, K)``, with the two
    rules of :func:`_split_rules`.

    Three quarters of the nodes go to the left side: it is the longer one (the integrand decays there at
    rate ``|S| + 1`` at most, against ``e^u`` on the right), and this split measured 10-100x more accurate than
    an even one at the same cost.
    """
    pieces_u, pieces_w = [], []
    for a, b, (x, log_w) in ((left, mode, rules[0]), (mode, right, rules[1])):
        centre, radius = (0.5 * (a + b)).unsqueeze(-2), (0.5 * (b - a)).unsqueeze(-2)
        pieces_u.append(centre + radius * x)
        pieces_w.append(log_w + radius.clamp(min=torch.finfo(left.dtype).tiny).log())
    return torch.cat(pieces_u, -2), torch.cat(pieces_w, -2)


def _log_integrand_at_nodes(a, block, nodes, log_weights, x_small, chunk):
    """``log w_j + f_k(u_j)`` for every node and block, ``(B, num_nodes, K)``, formed ``chunk`` nodes at a time."""
    num_nodes, num_blocks = nodes.shape[-2:]
    sums = []
    for start in range(0, num_nodes, chunk):
        x = _at_elements(nodes[:, start : start + chunk], block) + a.unsqueeze(-2)
        sums.append(_block_sums(_log1mexp_exp(x, x_small), block, num_blocks))
    return log_weights + nodes - nodes.exp() + torch.cat(sums, -2)


class _RaceIntegral(torch.autograd.Function):
    """``log q_k`` for all blocks by quadrature, with an analytic, chunked backward pass to ``a``.

    Also returns the quadrature's posterior over the nodes (``(B, num_nodes, K)``, no gradient), which the value
    gradient reuses instead of integrating again.
    """

    @staticmethod
    def forward(ctx, a, block, nodes, log_weights, x_small):
        chunk = max(1, _CHUNK_ELEMENTS // max(1, a.numel()))
        log_terms = _log_integrand_at_nodes(a, block, nodes, log_weights, x_small, chunk)
        log_q = log_terms.logsumexp(-2)
        posterior = (log_terms - log_q.unsqueeze(-2)).exp()
        ctx.save_for_backward(a, block, nodes, posterior)
        ctx.x_small, ctx.chunk = x_small, chunk
        ctx.mark_non_differentiable(posterior)
        return log_q, posterior

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_log_q, _):
        a, block, nodes, posterior = ctx.saved_tensors
        grad_a = _race_integral_gradient(a, block, nodes, posterior, ctx.x_small, ctx.chunk)
        return grad_a * grad_log_q.gather(-1, block), None, None, None, None


def _race_integral_gradient(a, block, nodes, posterior, x_small, chunk):
    """``d log q_k / d a_i = sum_j posterior[j, k] g'(u[j, k] + a_i)`` for every element ``i`` of ``S_k``,
    ``(B, n)``, formed ``chunk`` nodes at a time."""
    grad_a = torch.zeros_like(a)
    for start in range(0, nodes.shape[-2], chunk):
        x = _at_elements(nodes[:, start : start + chunk], block) + a.unsqueeze(-2)
        weight = _at_elements(posterior[:, start : start + chunk], block)
        grad_a += (weight * _dlog1mexp_exp(x, x_small)).sum(-2)
    return grad_a


def _masked_logsumexp(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``logsumexp`` over the last dim of the entries where ``mask`` holds; ``-inf`` (with zero gradient,
    never NaN) where it holds nowhere."""
    shift = torch.where(mask, x, torch.full_like(x, -math.inf)).amax(-1, keepdim=True).detach()
    shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))
    # mask before exponentiating: exp of an unmasked overflow would turn the zero gradient into 0 * inf
    total = torch.where(mask, x - shift, torch.full_like(x, -math.inf)).exp().sum(-1)
    nonempty = total > 0
    safe = torch.where(nonempty, total, torch.ones_like(total))
    return torch.where(nonempty, safe.log() + shift.squeeze(-1), torch.full_like(total, -math.inf))


def _blocks(score_logits: torch.Tensor, assignment: torch.Tensor):
    """Broadcast, flatten the batch, and return ``(logits (B, n), block (B, n), K, batch_shape)``."""
    num_blocks, n = assignment.shape[-2:]
    if score_logits.shape[-1] != n:
        raise ValueError(f"`score_logits` has {score_logits.shape[-1]} elements but `assignment` has {n} columns")
    batch_shape = broadcast_shapes(score_logits.shape[:-1], assignment.shape[:-2])
    # The block indices are data, taken from the plain tensor under Pyro's provenance tracking: TraceGraph_ELBO
    # wraps sampled values in a provenance-tracking subclass, and a custom autograd Function applied to such a
    # tensor silently drops its gradient (seen with torch 2.13, pyro 1.9.2).
    block = detach_provenance(assignment).argmax(-2)
    block = block.expand(batch_shape + (n,)).reshape(-1, n)
    logits = score_logits.expand(batch_shape + (n,)).reshape(-1, n)
    return logits, block, num_blocks, batch_shape


def log_race_terms(score_logits: torch.Tensor, assignment: torch.Tensor, num_nodes: int | None = None) -> torch.Tensor:
    """The per-block factors ``log q(S_k; R_k)`` of :func:`log_prob_ordered_blocks`, shape ``(..., K)``.

    ``q`` is the probability that every clock of block ``k`` rings before any clock of the later blocks; it is
    exactly 1 (``log q = 0``) for an empty block and for the last non-empty one.

    **Gradient in the assignment.** When ``assignment`` requires grad (a straight-through sample whose forward
    value is 0/1), the result is differentiated as the soft extension

    .. math::

        \\log q_k(W) = \\log \\int_0^\\infty R_k e^{-R_k t} \\prod_i (1 - e^{-s_i t})^{W_{ki}} dt, \\qquad
        R_k = \\sum_{j > k} \\sum_i W_{ji} s_i,

    which equals ``log q`` at a 0/1 ``W``: ``d log q_k / d W_ki`` is the integrand-weighted average of
    ``log(1 - exp(-e^{u + l_i - log R_k}))`` over the same quadrature nodes (also for elements outside the block
    and for empty blocks), and ``R_k`` passes its gradient to the blocks' ``a_i``. Blocks with nothing after
    them (``R_k = 0``) have ``q = 1`` and pass no gradient; the test suite checks it against a dense trapezoid
    rule differentiated by autograd.

    :param score_logits: Plackett-Luce log-scores, ``(..., n)``.
    :param assignment: 0/1 assignment matrices ``(..., K, n)`` (every column one-hot; not checked here).
    :param num_nodes: Gauss-Legendre nodes per block (at least 2); default from the dtype.
    """
    logits, block, num_blocks, batch_shape = _blocks(score_logits, assignment)
    num_nodes = num_nodes or _quadrature_settings(logits.dtype)[2]
    if num_nodes < 2:
        raise ValueError(f"`num_nodes` must be at least 2, got {num_nodes}")
    weights = None
    if assignment.requires_grad and torch.is_grad_enabled():
        # the value carries a gradient (a straight-through sample): see _membership_slopes
        n = block.shape[-1]
        weights = assignment.to(logits.dtype).expand(batch_shape + (num_blocks, n)).reshape(-1, num_blocks, n)
    rules = _split_rules(num_nodes, logits.dtype, logits.device)
    return _race_terms(logits, block, weights, num_blocks, rules).reshape(batch_shape + (num_blocks,))


@compiled_kernel
def _race_terms(logits, block, weights, num_blocks, rules):
    """:func:`log_race_terms` of flat inputs, ``(B, K)``: ``logits`` and ``block`` ``(B, n)``, the assignment as
    ``weights`` ``(B, K, n)`` when its gradient is wanted (else ``None``), the two Gauss-Legendre ``rules`` of
    :func:`_split_rules`."""
    x_small, drop, _ = _quadrature_settings(logits.dtype)
    k = torch.arange(num_blocks, device=block.device)
    member = block.unsqueeze(-2) == k.unsqueeze(-1)  # (B, K, n)
    later = block.unsqueeze(-2) > k.unsqueeze(-1)
    sizes = member.sum(-1).to(logits.dtype)
    log_rest = _masked_logsumexp(logits.unsqueeze(-2), later)  # log R_k, -inf if nothing comes later
    has_rest = torch.isfinite(log_rest)
    certain = (sizes == 0) | ~has_rest  # q = 1 exactly
    log_rest = torch.where(has_rest, log_rest, torch.zeros_like(log_rest))
    if weights is not None:
        log_rest = log_rest + _log_rest_tangent(logits.detach(), log_rest.detach(), weights, has_rest)
    certain_element = certain.gather(-1, block)
    a = torch.where(certain_element, torch.zeros_like(logits), logits - log_rest.gather(-1, block))

    left, mode, right = _integration_range(a.detach(), block, sizes, x_small, drop)
    nodes, log_weights = _nodes_and_log_weights(left, mode, right, rules)
    log_q, posterior = _RaceIntegral.apply(a, block, nodes, log_weights, x_small)
    log_q = torch.where(certain, torch.zeros_like(log_q), log_q)
    if weights is not None:
        with torch.no_grad():
            slopes = _membership_slopes(posterior, logits.detach(), log_rest.detach(), nodes, x_small)
        slopes = torch.where(has_rest.unsqueeze(-1), slopes, torch.zeros_like(slopes))
        log_q = log_q + ((weights - weights.detach()) * slopes).sum(-1)
    return log_q


def _log_rest_tangent(logits, log_rest, weights, has_rest):
    """Zero in value; its gradient is that of ``log R_k = log sum_i (sum_{j > k} W_ji) e^{l_i}`` in the weights.

    ``d log R_k / d W_ji = e^{l_i - log R_k}`` for every ``j > k``; blocks with nothing after them (``R_k = 0``)
    get no gradient (their factor is exactly 1 on the support). The exponent is capped at half the dtype's
    range so that an element far above the later ones gives a huge but finite slope.
    """
    later = weights.flip(-2).cumsum(-2).flip(-2) - weights  # sum_{j > k} W_j, (B, K, n)
    cap = 0.5 * math.log(torch.finfo(logits.dtype).max)
    ratio = (logits.unsqueeze(-2) - log_rest.unsqueeze(-1)).clamp(max=cap).exp()
    ratio = torch.where(has_rest.unsqueeze(-1), ratio, torch.zeros_like(ratio))
    return ((later - later.detach()) * ratio).sum(-1)


def _membership_slopes(posterior, logits, log_rest, nodes, x_small):
    """``d log q_k / d W_ki = E_k[log(1 - exp(-e^{u + l_i - log R_k}))]`` for every block and element, ``(B, K, n)``.

    ``E_k`` averages over the quadrature nodes of block ``k`` weighted by ``posterior`` (the integrand's, from the
    forward pass), i.e. over the (log-)time at which the block's last clock rings; elements outside a block
    enter its integrand with weight 0. With ``x = u + c``, ``c = l_i - log R_k``, the term is split in two:

    - ``log(-expm1(-y))`` with ``y = max(e^u e^c, eps)`` (an outer product: one exponential per node and per
      element instead of one per pair), to within ``eps`` in absolute terms, enough for a gradient. Both factors
      are clamped to half the dtype's exponent range, so their product neither overflows nor meets ``0 * inf``.
      This is the only part formed node by element (in place, chunked).
    - ``min(x - log eps, 0)``, which adds back ``x`` itself where the floor holds (there ``e^x / 2 < eps``). Its
      average is piecewise linear in ``c``: ``P(t) (c - log eps) + U(t)`` with ``P`` and ``U`` the cumulative
      posterior mass and ``u``-moment of the nodes below ``t = log eps - c``, read by a sorted search, so it
      costs ``O(n log num_nodes)`` per block.
    """
    cap = 0.5 * math.log(torch.finfo(logits.dtype).max)
    shifted = logits.unsqueeze(-2) - log_rest.unsqueeze(-1)  # c, (B, K, n)
    nodes, posterior = nodes.transpose(-1, -2), posterior.transpose(-1, -2)  # (B, K, num_nodes)
    exp_shifted = shifted.clamp(-cap, cap).exp().unsqueeze(-2)
    neg_exp_nodes = nodes.clamp(-cap, cap).exp().neg_()
    floor = math.exp(x_small)
    slopes = torch.zeros_like(shifted)
    chunk = max(1, _CHUNK_ELEMENTS // max(1, shifted.numel()))
    for start in range(0, nodes.shape[-1], chunk):
        terms = torch.mul(neg_exp_nodes[..., start : start + chunk, None], exp_shifted).clamp_(max=-floor)  # -y
        terms = expm1(terms, inplace=True).neg_().log_()  # (B, K, c, n)
        slopes += (posterior[..., None, start : start + chunk] @ terms).squeeze(-2)
    # sum_j p_j min(u_j + c - x_small, 0) = sum over the nodes with u_j < x_small - c of p_j (u_j + c - x_small)
    nodes, order = nodes.sort(-1)  # ascending already as the quadrature places them; sorting keeps any order safe
    posterior = posterior.gather(-1, order)
    zero = posterior.new_zeros(posterior.shape[:-1] + (1,))
    mass = torch.cat([zero, posterior.cumsum(-1)], -1)
    moment = torch.cat([zero, (posterior * nodes).cumsum(-1)], -1)
    below = torch.searchsorted(nodes.contiguous(), (x_small - shifted).contiguous())  # nodes below, (B, K, n)
    return slopes + mass.gather(-1, below) * (shifted - x_small) + moment.gather(-1, below)


def log_prob_ordered_blocks(
    score_logits: torch.Tensor, assignment: torch.Tensor, num_nodes: int | None = None
) -> torch.Tensor:
    """Exact ``log sum_{pi in Pi_Y} p_PL(pi; exp(score_logits))``: the blocks of ``Y`` come out in row order.

    .. math::

        \\log \\sum_{\\pi \\in \\Pi_Y} p(\\pi; s) = \\sum_k \\log q(S_k; R_k)

    (see the module docstring for ``q`` and how it is integrated). Differentiable in ``score_logits``, and in
    ``assignment`` when it requires grad (see :func:`log_race_terms`). For equal scores the result is
    :math:`\\sum_k \\log n_k! - \\log n!`.

    Example::

        >>> Y = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
        >>> log_prob_ordered_blocks(torch.zeros(3), Y).exp()  # 2! 1! / 3!
        tensor(0.3333)

    :param score_logits: Plackett-Luce log-scores ``(..., n)``.
    :param assignment: assignment matrices ``(..., K, n)``, 0/1 with one 1 per column (not checked here);
        batch dimensions broadcast against those of ``score_logits``.
    :param num_nodes: Gauss-Legendre nodes per block; default 128 in float64, 48 in lower precision.
    :returns: shape ``broadcast(score_logits.shape[:-1], assignment.shape[:-2])``.
    """
    return log_race_terms(score_logits, assignment, num_nodes).sum(-1)


def log_prob_ordered_blocks_bounds(
    score_logits: torch.Tensor, assignment: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The DRPM paper's bounds on :func:`log_prob_ordered_blocks`: ``(lower, upper)``.

    .. math::

        |\\Pi_Y| \\min_{\\pi \\in \\Pi_Y} p(\\pi) \\le \\sum_{\\pi \\in \\Pi_Y} p(\\pi)
        \\le |\\Pi_Y| \\max_{\\pi \\in \\Pi_Y} p(\\pi), \\qquad |\\Pi_Y| = \\prod_k n_k!,

    where the maximum (minimum) is the ranking that takes the blocks in order and orders each block by
    decreasing (increasing) score.

    :param score_logits: Plackett-Luce log-scores ``(..., n)``.
    :param assignment: assignment matrices ``(..., K, n)``.
    :returns: two tensors of the broadcast batch shape.

    Reference: Sutter et al., "Differentiable Random Partition Models", arXiv:2305.16841.
    """
    logits, block, _, batch_shape = _blocks(score_logits, assignment)
    log_size = torch.lgamma(assignment.sum(-1).to(logits.dtype) + 1).sum(-1)
    bounds = []
    for descending in (False, True):
        # a stable sort by block after a sort by score keeps the score order inside every block
        by_score = logits.detach().argsort(-1, descending=descending)
        by_block = block.gather(-1, by_score).sort(dim=-1, stable=True).indices
        ranked = logits.gather(-1, by_score.gather(-1, by_block))
        log_pl = (ranked - reverse_logcumsumexp(ranked)).sum(-1)
        bounds.append(log_pl.reshape(batch_shape) + log_size.expand(batch_shape))
    return bounds[0], bounds[1]
