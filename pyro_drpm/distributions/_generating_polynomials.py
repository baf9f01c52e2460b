"""Exact numerics of Fisher's multivariate noncentral hypergeometric distribution.

Everything here works on the *generating polynomials* of the urn's colours,

    g_k(t) = sum_{j=0}^{m_k} C(m_k, j) w_k^j t^j = (1 + w_k t)^{m_k},

whose product's coefficient at degree ``N`` is the normaliser ``P0``. All coefficients are positive, so the
product has no cancellation; the work is to compute it fast without losing relative accuracy.

**Exponential tilting.** Substituting ``t -> s t`` and dividing by ``g_k(s)`` turns ``g_k`` into the pmf of a
``Binomial(m_k, p_k)``, ``p_k = sigmoid(logit_k + log s)``, and the product into the pmf of the sum ``S`` of
these independent binomials:

    P0 = P(S = N) * prod_k (1 + w_k s)^{m_k} / s^N.

This is an identity for every ``s``; we pick ``log s`` (the saddle point) so that ``E[S] = N``. Then ``P(S = N)``
sits at the mode of a well-behaved pmf and the product of the K tilted pmfs can be formed in plain float64 by FFT:
the rounding error is a small multiple of float64's epsilon *in units of the total mass 1*, so ``P(S = N)`` comes
out to ~1e-15 relative and every coefficient carrying non-negligible probability to ~1e-13. The pmfs themselves are
evaluated in log space, so nothing overflows for any finite logits or urn size.

**Windows and bands.** By Bernstein's inequality a sum of Bernoullis with mean ``mu`` and variance ``v`` puts at
most ``exp(-c)`` on each side beyond ``mu +- radius(v)``, ``radius(v) = c/3 + sqrt(c^2/9 + 2 c v)``. With
``c = _TAIL_EXPONENT`` (``exp(-c) = eps^2``, far below the rounding error) we keep each tilted pmf only on its
window ``mu_k +- radius(v_k)`` (a shifted polynomial), and read any product only inside *its* band
``mu +- radius(v)``: the band is shorter than the FFT length, so the circular convolution folds only negligible
mass onto it. The FFT length is thus ~``2 radius(var S)``, i.e. O(sqrt N), not O(N). Coefficients outside a band,
and below :func:`rounding_floor` where logarithms are taken, are treated as zero: they are below what float64 can
resolve. Coefficients that are impossible (beyond the urn's reach) are exactly zero.

Gradients: everything is differentiable in the logits (autograd through the FFT) with the tilt and the windows
held fixed; as the identity above holds for *every* ``s``, the gradient at fixed ``s`` is the exact gradient.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from pyro_drpm.ops import broadcast_shapes

__all__ = []

# Safeguarded Newton. The tilt only has to centre S near N (within a fraction of its standard deviation, which is
# >= ~0.5 when it matters); any tilt gives exact results, a poor one only costs dynamic range.
_TILT_ITERATIONS = 40
_TILT_TOLERANCE = 1e-3
# The window/band tail exponent: exp(-c) = eps64^2 ~ 5e-32 per side, negligible next to rounding errors of ~1e-16.
_TAIL_EXPONENT = 2.0 * math.log(1.0 / torch.finfo(torch.float64).eps)


def rounding_floor(num_factors: int, fft_len: int) -> float:
    """Coefficients of an FFT product of ``num_factors`` pmfs below this value are indistinguishable from noise.

    The FFT's rounding error on a product of K probability vectors is bounded by about ``K * log2(L) * eps64``
    in units of the total mass (measured errors are ~100x smaller). This is the module's one tolerance; it is
    absolute because the tilted pmfs have total mass at most one.
    """
    return max(num_factors, 1) * max(math.log2(max(fft_len, 2)), 1.0) * torch.finfo(torch.float64).eps


def _radius(variance: torch.Tensor) -> torch.Tensor:
    c = _TAIL_EXPONENT
    return c / 3 + torch.sqrt(c * c / 9 + 2 * c * variance)


def next_fast_len(n: int) -> int:
    """The smallest ``2^a 3^b 5^c >= n`` (sizes that pocketfft and cuFFT transform fastest)."""
    n = max(int(n), 1)
    best = 1 << (n - 1).bit_length()
    power5 = 1
    while power5 < best:
        power35 = power5
        while power35 < best:
            candidate = power35
            while candidate < n:
                candidate *= 2
            best = min(best, candidate)
            power35 *= 3
        power5 *= 5
    return best


def solve_tilt(logits: torch.Tensor, sizes: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
    """``lam = log s`` with ``sum_k m_k sigmoid(logit_k + lam) = N`` (no gradient).

    ``N = 0`` and ``N = sum m`` have no finite solution; the target then moves half a ball inside, which keeps
    ``P(S = N)`` of order one.
    """
    with torch.no_grad():
        urn = sizes.sum(-1)
        inset = (urn / 2).clamp(max=0.5)
        target = torch.minimum(torch.maximum(total, inset), urn - inset)
        empty = urn <= 0
        base = torch.where(empty, 0.0, torch.log(target) - torch.log(urn - target))
        active = sizes > 0
        high = torch.where(active, logits, -math.inf).amax(-1)
        low = torch.where(active, logits, math.inf).amin(-1)
        # sum_k m_k sigmoid(a_k + lam) lies between urn * sigmoid(min a + lam) and urn * sigmoid(max a + lam)
        lo = torch.where(empty, 0.0, base - high)
        hi = torch.where(empty, 0.0, base - low)
        lam = (lo + hi) / 2
        for iteration in range(_TILT_ITERATIONS):
            p = torch.sigmoid(logits + lam.unsqueeze(-1))
            mean = (sizes * p).sum(-1)
            slope = (sizes * p * (1 - p)).sum(-1)
            if iteration % 4 == 3 and not ((mean - target).abs() > _TILT_TOLERANCE).any():
                break
            lo = torch.where(mean < target, lam, lo)
            hi = torch.where(mean >= target, lam, hi)
            newton = lam - (mean - target) / slope
            lam = torch.where((newton > lo) & (newton < hi), newton, (lo + hi) / 2)
        return lam


@dataclass
class Band:
    """Where a product of tilted pmfs is read: degree ``d`` sits at FFT index ``(d - offset) mod L``.

    Degrees outside ``[lower, upper]`` (the Bernstein band intersected with ``[0, reach]``) are zero.
    """

    offset: torch.Tensor
    lower: torch.Tensor
    upper: torch.Tensor
    length: int

    def locate(self, degree: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """FFT indices of the long tensor ``degree`` (last dimension: the points of one row) and whether each
        lies in the band; the band's fields broadcast against ``degree.shape[:-1]``."""
        inside = (degree >= self.lower.unsqueeze(-1)) & (degree <= self.upper.unsqueeze(-1))
        return torch.remainder(degree - self.offset.unsqueeze(-1), self.length), inside

    @staticmethod
    def gather(values: torch.Tensor, located: tuple[torch.Tensor, torch.Tensor], zero: float) -> torch.Tensor:
        """``values[..., index]`` where inside the band, else ``zero``; ``values`` has shape ``(..., L)``."""
        index, inside = located
        batch = broadcast_shapes(values.shape[:-1], index.shape[:-1])
        picked = values.expand(batch + values.shape[-1:]).gather(-1, index.expand(batch + index.shape[-1:]))
        return torch.where(inside, picked, zero)

    def read(self, values: torch.Tensor, degree: torch.Tensor, zero: float) -> torch.Tensor:
        """``values[..., (degree - offset) mod L]`` where ``degree`` is in the band, else ``zero``."""
        return self.gather(values, self.locate(degree), zero)

    def __getitem__(self, k: int) -> Band:
        """The band of the ``k``-th product when the fields carry a trailing product dimension."""
        return Band(self.offset[..., k], self.lower[..., k], self.upper[..., k], self.length)


def _band(mean, variance, offset, reach, length) -> Band:
    radius = _radius(variance)
    lower = (mean - radius).ceil().clamp(min=0)
    upper = torch.minimum((mean + radius).floor(), reach)
    return Band(offset.long(), lower.long(), upper.long(), length)


@dataclass
class UrnPlan:
    """Everything about an urn that does not need gradients (tilt, windows, bands, FFT length).

    :ivar lam: the tilt ``log s``, batch shape.
    :ivar counts: the counts of each class's window, ``lo_k + i`` for ``i < width``, ``(..., K, width)`` long.
    :ivar log_binomial: ``log C(m_k, j)`` on the windows, ``-inf`` where ``j > m_k``, ``(..., K, width)``.
    :ivar full: band of ``S`` (all classes).
    :ivar suffix: band of ``S_{>k}``, for ``k = 0..K-2`` (batch shape + ``(K-1,)``).
    :ivar others: band of ``S_{-k}`` (all classes but ``k``), batch shape + ``(K,)``.
    :ivar reach_suffix: ``sum_{l > k} m_l``, batch shape + ``(K,)`` (larger degrees are impossible).
    :ivar fft_len: the FFT length ``L``.
    :ivar floor: :func:`rounding_floor` of the product.
    """

    lam: torch.Tensor
    counts: torch.Tensor
    log_binomial: torch.Tensor
    full: Band
    suffix: Band
    others: Band
    reach_suffix: torch.Tensor
    fft_len: int
    floor: float

    @functools.cached_property
    def footprint(self) -> tuple[np.ndarray, ...]:
        """Host copies of what :func:`covers` compares: ``lam``, each window's first and last count, the band
        of ``S``."""
        return (
            _host(self.lam),
            _host(self.counts[..., 0]),
            _host(self.counts[..., -1]),
            _host(self.full.lower),
            _host(self.full.upper),
        )


def _margin(variance: torch.Tensor) -> torch.Tensor:
    """The extra counts a reusable plan keeps on each side of a window or band: one standard deviation + 2."""
    return variance.sqrt() + 2


def make_plan(logits: torch.Tensor, sizes: torch.Tensor, total: torch.Tensor, *, margins: bool = False) -> UrnPlan:
    """Build the :class:`UrnPlan` of float64 ``logits``/``sizes`` ``(..., K)`` and ``total`` ``(...)``.

    With ``margins``, every window and the FFT length keep :func:`_margin` more counts than needed, so that the plan
    still covers the urn after its logits move a little (see ``UrnPlanCache``); the results are the same.
    """
    with torch.no_grad():
        lam = solve_tilt(logits, sizes, total)
        p = torch.sigmoid(logits + lam.unsqueeze(-1))
        mean = sizes * p
        var = mean * (1 - p)
        radius = _radius(var) + (_margin(var) if margins else 0.0)
        hi = torch.minimum(torch.minimum((mean + radius).ceil(), sizes), total.unsqueeze(-1))
        lo = torch.minimum((mean - radius).floor().clamp(min=0), hi)
        full_radius = _radius(var.sum(-1)) + (_margin(var.sum(-1)) if margins else 0.0)
        stats = [(hi - lo).max(), full_radius.max(), sizes.max()] if lo.numel() else [lo.new_zeros(())] * 3
        span, band, m_max = torch.stack(stats).tolist()
        width = int(span) + 1
        fft_len = next_fast_len(max(width, 2 * math.ceil(band) + 2))

        counts = lo.long().unsqueeze(-1) + torch.arange(width, device=lo.device)
        m = sizes.long().unsqueeze(-1)
        log_factorial = torch.lgamma(torch.arange(int(m_max) + 1, dtype=sizes.dtype, device=sizes.device) + 1)
        inside = counts <= m
        log_binomial = (
            log_factorial[m] - log_factorial[counts.clamp(max=int(m_max))] - log_factorial[(m - counts).clamp(min=0)]
        )
        log_binomial = torch.where(inside, log_binomial, -math.inf)

        urn = sizes.sum(-1, keepdim=True)
        reach_suffix = urn - sizes.cumsum(-1)
        mean_suffix = mean.sum(-1, keepdim=True) - mean.cumsum(-1)
        var_suffix = var.sum(-1, keepdim=True) - var.cumsum(-1)
        lo_suffix = lo.sum(-1, keepdim=True) - lo.cumsum(-1)
        return UrnPlan(
            lam=lam,
            counts=counts,
            log_binomial=log_binomial,
            full=_band(mean.sum(-1), var.sum(-1), lo.sum(-1), urn.squeeze(-1), fft_len),
            suffix=_band(
                mean_suffix[..., :-1], var_suffix[..., :-1], lo_suffix[..., :-1], reach_suffix[..., :-1], fft_len
            ),
            others=_band(
                mean.sum(-1, keepdim=True) - mean,
                var.sum(-1, keepdim=True) - var,
                lo.sum(-1, keepdim=True) - lo,
                urn - sizes,
                fft_len,
            ),
            reach_suffix=reach_suffix,
            fft_len=fft_len,
            floor=rounding_floor(sizes.shape[-1], fft_len),
        )


# Plans of the last few urns (with their logits), so that distributions rebuilt with the same parameters (a prior
# with fixed logits, evaluation, a model and a guide that share an urn) skip the tilt solve and the windows.
_PLAN_CACHE: OrderedDict = OrderedDict()
_PLAN_CACHE_SIZE = 8


def cached_plan(logits: torch.Tensor, sizes: torch.Tensor, total: torch.Tensor) -> UrnPlan:
    """:func:`make_plan`, reusing the plan of an earlier call with the same values, shapes, dtype and device.

    The key is the parameters' bytes (a host copy of ``B * (2K + 1)`` numbers); the plan's tensors are never
    modified after construction, so sharing them is safe. Tensors that cannot be read back (e.g. under tracing)
    are planned afresh.
    """
    try:
        with torch.no_grad():
            values = torch.cat([logits.reshape(-1), sizes.reshape(-1), total.reshape(-1)]).cpu().numpy().tobytes()
    except (RuntimeError, TypeError):
        return make_plan(logits, sizes, total)
    key = (values, logits.shape, sizes.shape, total.shape, logits.dtype, str(logits.device))
    plan = _PLAN_CACHE.get(key)
    if plan is None:
        plan = _PLAN_CACHE[key] = make_plan(logits, sizes, total)
        while len(_PLAN_CACHE) > _PLAN_CACHE_SIZE:
            _PLAN_CACHE.popitem(last=False)
    else:
        _PLAN_CACHE.move_to_end(key)
    return plan


def _host(values) -> np.ndarray:
    return np.asarray(torch.as_tensor(values).detach().cpu().numpy(), dtype=np.float64)


def _host_radius(variance: np.ndarray) -> np.ndarray:
    c = _TAIL_EXPONENT
    return c / 3 + np.sqrt(c * c / 9 + 2 * c * variance)


def covers(plan: UrnPlan, logits, sizes, total) -> bool:
    """Whether ``plan`` (made for other logits of the same urn) gives :func:`log_normalizer` and its gradient
    exactly at ``logits``.

    The identity behind the tilt holds for every tilt, so the plan's ``lam`` serves any logits; what must hold is
    what :func:`make_plan` guarantees for its own logits. With the tilted pmfs at the new logits (means ``mu_k``,
    variances ``v_k``, and ``mu``, ``v`` for their sum ``S``): each window contains ``mu_k +- radius(v_k)``
    (within ``[0, min(m_k, N)]``), so truncating it drops at most ``exp(-c)`` per side; the FFT length exceeds
    ``|N - mu| + radius(v_k) + radius(v - v_k)`` for every ``k`` (so also ``|N - mu| + radius(v)``), so no mass
    above ``exp(-c)`` folds onto degree ``N`` of ``S``, nor onto the degrees ``N - j`` of the leave-one-out sums
    ``S_{-k}`` that the gradient reads for the counts ``j`` that carry mass; ``N`` lies in the plan's band; and
    ``|N - mu| <= sqrt(v) + 1``, so ``P(S = N)`` stays near the mode and keeps its relative accuracy. A fresh
    plan meets all of it (``L >= 2 radius(v) + 2`` and ``radius(v_k) + radius(v - v_k) <= 2 radius(v)``). The
    check runs on host copies (a few dozen numbers).
    """
    lam, first, last, lower, upper = plan.footprint
    logits, sizes, total = _host(logits), _host(sizes), _host(total)
    z = logits + lam[..., None]
    p = 0.5 + 0.5 * np.tanh(0.5 * z)  # sigmoid without overflow
    mean = sizes * p
    var = mean * (0.5 - 0.5 * np.tanh(0.5 * z))
    radius = _host_radius(var)
    hi = np.minimum(np.minimum(np.ceil(mean + radius), sizes), total[..., None])
    lo = np.minimum(np.maximum(np.floor(mean - radius), 0.0), hi)
    windows = (lo >= first) & (hi <= last)
    offset = np.abs(total - mean.sum(-1))
    spread = var.sum(-1)
    reach = radius + _host_radius(np.maximum(spread[..., None] - var, 0.0))
    band = (total >= lower) & (total <= upper)
    fft = offset + np.maximum(reach.max(-1), _host_radius(spread)) < plan.fft_len
    centred = offset <= np.sqrt(spread) + 1
    return bool(windows.all() and (band & fft & centred).all())


def log_tilted_pmfs(logits: torch.Tensor, sizes: torch.Tensor, plan: UrnPlan) -> torch.Tensor:
    """``log Binomial(j; m_k, sigmoid(z_k))``, ``z_k = logit_k + lam``, on the windows: ``(..., K, width)``.

    Uses ``j log p + (m - j) log(1 - p) = j z + m log(1 - p)``.
    """
    z = logits + plan.lam.unsqueeze(-1)
    const = (sizes * F.logsigmoid(-z)).unsqueeze(-1)
    return torch.addcmul(plan.log_binomial + const, plan.counts.to(z.dtype), z.unsqueeze(-1))


def log_tilt_correction(logits: torch.Tensor, sizes: torch.Tensor, total: torch.Tensor, plan: UrnPlan):
    """``log prod_k (1 + w_k s)^{m_k} - N log s``: the factor between ``P(S = N)`` and ``P0``."""
    # -logsigmoid(-z) = log(1 + e^z) exactly; F.softplus turns linear above 20 and would drop e^-z per ball.
    return -(sizes * F.logsigmoid(-(logits + plan.lam.unsqueeze(-1)))).sum(-1) - total * plan.lam


def _rfft(values: torch.Tensor, n: int) -> torch.Tensor:
    """``torch.fft.rfft`` along the last axis; an empty batch gives an empty spectrum (MKL rejects it)."""
    if values.numel() == 0:
        dtype = torch.promote_types(values.dtype, torch.complex64)
        return torch.zeros(values.shape[:-1] + (n // 2 + 1,), dtype=dtype, device=values.device)
    return torch.fft.rfft(values, n=n, dim=-1)


def _irfft(spectrum: torch.Tensor, n: int) -> torch.Tensor:
    """``torch.fft.irfft`` along the last axis; an empty batch gives an empty result (MKL rejects it)."""
    if spectrum.numel() == 0:
        return spectrum.real.new_zeros(spectrum.shape[:-1] + (n,))
    return torch.fft.irfft(spectrum, n=n, dim=-1)


def _spectra(log_pmfs: torch.Tensor, plan: UrnPlan) -> list[torch.Tensor]:
    """The rffts of the K tilted pmfs, as a list (``unbind`` once: per-class indexing would make the backward
    pass fill a full-size zero tensor per class)."""
    return list(_rfft(log_pmfs.exp(), plan.fft_len).unbind(-2))


def _running_products(spectra: list[torch.Tensor], reverse: bool = False) -> list[torch.Tensor]:
    """Inclusive running products of the spectra (from the last class if ``reverse``).

    A Python loop rather than ``cumprod``: complex ``cumprod`` and its backward are an order of magnitude slower
    on CPU, and K is small.
    """
    products = []
    for factor in reversed(spectra) if reverse else spectra:
        products.append(factor if not products else products[-1] * factor)
    return products[::-1] if reverse else products


def _leave_one_out(spectra: list[torch.Tensor], before: list[torch.Tensor]) -> torch.Tensor:
    """The spectra of the leave-one-out sums ``S_{-k}``, stacked ``(..., K, L // 2 + 1)``, from the prefix
    products ``before`` (:func:`_running_products`) and the suffix products (at least 2 classes)."""
    num_classes = len(spectra)
    after = _running_products(spectra, reverse=True)
    middle = [before[k - 1] * after[k + 1] for k in range(1, num_classes - 1)]
    return torch.stack([after[1], *middle, before[num_classes - 2]], dim=-2)


def _log_normalizer_value(logits, sizes, total, plan: UrnPlan):
    """``log P0`` and what its gradient reuses: the tilted pmfs, their spectra and the spectra's running
    products."""
    log_pmfs = log_tilted_pmfs(logits, sizes, plan)
    spectra = _spectra(log_pmfs, plan)
    before = _running_products(spectra)
    pmf = _irfft(before[-1], plan.fft_len)
    at_total = plan.full.read(pmf, total.long().unsqueeze(-1), 0.0).squeeze(-1)
    # At the saddle point P(S = N) is near the mode of S (>= ~1 / (3 sqrt(var S) + 3)); the clamp only guards log.
    tiny = torch.finfo(at_total.dtype).tiny
    value = torch.log(at_total.clamp(min=tiny)) + log_tilt_correction(logits, sizes, total, plan)
    return value, log_pmfs, spectra, before


def _mean_counts(log_pmfs, spectra, before, sizes, total, plan: UrnPlan) -> torch.Tensor:
    """``E[x_k]`` under the MVHG, ``(..., K)``: ``sum_j j pmf_k(j) P(S_{-k} = N - j)`` over its normaliser.

    The leave-one-out sums ``S_{-k}`` come from the prefix products ``before`` and suffix products of the
    spectra. They are read at ``(N - j - offset) mod L`` without the band: every count ``j`` that carries mass
    has ``N - j`` in the bulk of ``S_{-k}``, which the FFT length holds without folding (see :func:`covers`);
    elsewhere ``pmf_k(j)`` is below ``exp(-c)``, and counts beyond the urn's reach get weight 0.
    """
    num_classes = len(spectra)
    if num_classes == 1:
        return total.unsqueeze(-1).expand(sizes.shape).clone()
    others = _irfft(_leave_one_out(spectra, before), plan.fft_len)
    need = total.long().unsqueeze(-1).unsqueeze(-1) - plan.counts
    index = torch.remainder(need - plan.others.offset.unsqueeze(-1), plan.fft_len)
    reach = (sizes.sum(-1, keepdim=True) - sizes).long().unsqueeze(-1)
    possible = (need >= 0) & (need <= reach)
    weights = torch.where(possible, others.gather(-1, index).clamp(min=0) * log_pmfs.exp(), 0.0)
    return (weights * plan.counts).sum(-1) / weights.sum(-1)


class _LogNormalizer(torch.autograd.Function):
    """``log P0`` with its exact gradient ``d log P0 / d logit_k = E[x_k]`` (the MVHG's mean) in the backward
    pass: one batched inverse FFT of the leave-one-out products instead of autograd through the FFT product.
    Under ``create_graph`` the mean is recomputed differentiably, so higher derivatives stay exact."""

    @staticmethod
    def forward(ctx, logits, sizes, total, plan):
        value, log_pmfs, spectra, before = _log_normalizer_value(logits, sizes, total, plan)
        ctx.save_for_backward(logits, sizes, total, log_pmfs, *spectra, *before)
        ctx.plan, ctx.num_classes = plan, len(spectra)
        return value

    @staticmethod
    def backward(ctx, grad_value):
        logits, sizes, total, log_pmfs, *products = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: the mean as a function of the logits
            _, log_pmfs, spectra, before = _log_normalizer_value(logits, sizes, total, ctx.plan)
        else:
            spectra, before = products[: ctx.num_classes], products[ctx.num_classes :]
        mean = _mean_counts(log_pmfs, spectra, before, sizes, total, ctx.plan)
        return grad_value.unsqueeze(-1) * mean, None, None, None


def log_normalizer(logits, sizes, total, plan: UrnPlan) -> torch.Tensor:
    """``log P0 = log [t^N] prod_k g_k(t)``, exact to rounding, differentiable in ``logits`` (float64): the
    gradient is the exact mean (:func:`_mean_counts`). ``sizes`` and ``total`` are counts and get no gradient."""
    sizes, total = sizes.detach(), total.detach()
    if logits.requires_grad and torch.is_grad_enabled():
        return _LogNormalizer.apply(logits, sizes, total, plan)
    return _log_normalizer_value(logits, sizes, total, plan)[0]


def _masked_log(values: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``log(values)`` where ``keep``, else ``-inf``; the gradient is zero (not NaN) where not kept."""
    safe = torch.where(keep, values, torch.ones_like(values))
    return torch.where(keep, safe.log(), torch.full_like(values, -math.inf))


def _log_slopes(log_values: torch.Tensor) -> torch.Tensor:
    """Finite-difference slope of ``log values[d]`` in ``d`` along the circular last axis (no gradient).

    Central where both neighbours are finite, one-sided where one is, 0 elsewhere (always finite). Out of band
    every coefficient is below the rounding floor (``-inf``), so circular neighbours never mix distant degrees.
    """
    with torch.no_grad():
        finite = log_values > -math.inf  # the arrays hold finite values or -inf, never +inf or NaN
        values = torch.where(finite, log_values, 0.0)
        padded = torch.cat([values[..., -1:], values, values[..., :1]], dim=-1)
        padded_finite = torch.cat([finite[..., -1:], finite, finite[..., :1]], dim=-1)
        above, below = padded[..., 2:], padded[..., :-2]
        has_above, has_below = padded_finite[..., 2:], padded_finite[..., :-2]
        one_sided = torch.where(has_above, above - values, torch.where(has_below, values - below, 0.0))
        return torch.where(has_above & has_below, (above - below) / 2, one_sided)


def suffix_log_pmfs(logits, sizes, plan: UrnPlan, slopes: bool = False):
    """Log pmfs of the classes on their windows and the FFT arrays of the suffix sums ``S_{>k}``, in log space.

    Returns ``(log_pmfs, log_suffix, log_slopes)``: ``log_pmfs`` is :func:`log_tilted_pmfs`
    ``(..., K, width)``; ``log_suffix[k]`` (``k = 0..K-2``, shape ``(..., L)``) holds ``log P(S_{>k} = d)``, read
    with ``plan.suffix[k]``; coefficients under :attr:`UrnPlan.floor` are ``-inf``. If ``slopes``,
    ``log_slopes[k]`` holds the finite-difference slope of ``log_suffix[k]`` in ``d`` (detached), else ``None``.

    By Bayes, ``p(x_k = j | x_<k) ∝ pmf_k(j) P(S_{>k} = r - j)`` with ``r`` the draws left: the exact conditional.
    """
    log_pmfs = log_tilted_pmfs(logits, sizes, plan)
    spectra = _spectra(log_pmfs[..., 1:, :], plan)
    log_suffix = []
    for product in _running_products(spectra, reverse=True):  # prod_{l > k} for k = 0..K-2
        suffix = _irfft(product, plan.fft_len)
        log_suffix.append(_masked_log(suffix, suffix > plan.floor))
    # the first class's draws left are fixed (N): its slope is never used
    log_slopes = [None] + [_log_slopes(values.detach()) for values in log_suffix[1:]] if slopes else None
    return log_pmfs, log_suffix, log_slopes


def marginal_pmfs(logits, sizes, total, plan: UrnPlan) -> torch.Tensor:
    """Exact marginal pmfs ``p(x_k = j)`` on the windows ``j = plan.counts``, shape ``(..., K, width)``.

    ``p(x_k = j) ∝ pmf_k(j) P(S_{-k} = N - j)``, where ``S_{-k}`` sums all classes but ``k``; the leave-one-out
    products come from prefix and suffix products of the spectra. Counts outside the windows have probability
    below ``exp(-_TAIL_EXPONENT)`` and are left out.
    """
    log_pmfs = log_tilted_pmfs(logits, sizes, plan)
    spectra = _spectra(log_pmfs, plan)
    num_classes = len(spectra)
    if num_classes == 1:
        leave_one_out = torch.ones_like(spectra[0]).unsqueeze(-2)
    else:
        leave_one_out = _leave_one_out(spectra, _running_products(spectra))
    others = _irfft(leave_one_out, plan.fft_len)
    need = total.long().unsqueeze(-1).unsqueeze(-1) - plan.counts
    weights = (log_pmfs.exp() * plan.others.read(others, need, 0.0)).clamp(min=0)
    return weights / weights.sum(-1, keepdim=True)
