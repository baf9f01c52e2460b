"""Straight-through relaxed sorting without the n x n matrix: the hard permutation forward, the exact VJP backward.

A straight-through sort returns the exact permutation (or a product ``L P`` with a left factor ``L``, such as the
DRPM's window matrix) in the forward pass and differentiates the relaxed sort :math:`\\hat P` of
:mod:`pyro_drpm.relaxations.sorting` in the backward pass. Only the backward pass needs :math:`\\hat P`, and
there only through the vector-Jacobian product, which is computed here a few rows at a time, so memory is
``O(n * chunk)`` instead of ``O(n^2)``.

**The band.** In the columns ordered by decreasing score, every row of NeuralSort and SoftSort is unimodal with
its maximum on the diagonal: NeuralSort's logit :math:`((n - 1 - 2r) x - \\sum_j |x - s_j|) / \\tau` is concave
in the score :math:`x` with slope :math:`2(p - r) + 1` between the sorted positions :math:`p + 1` and
:math:`p`, SoftSort's :math:`-|x_r - x| / \\tau` is concave with its peak at :math:`x_r`. So the entries of row
``r`` with logit above :math:`z_{rr} - T` form one interval of sorted positions, found by binary search. The
banded backward keeps exactly these intervals, with

.. math::

    T = 2 \\log(1 / \\epsilon) + \\log n + 1 + \\delta,

where :math:`\\epsilon` is the dtype's machine epsilon and :math:`\\delta` covers the rounding of the logits
themselves (``8 eps`` times their magnitude). Every dropped entry is below :math:`e^{-T} \\le \\epsilon^2 / (e
n)` (a row's maximum is at most 1), so a row loses at most :math:`\\epsilon^2 / e` of its mass. The row's part
of the VJP, :math:`P_{rp} (G_{rp} - \\sum_q P_{rq} G_{rq})`, then changes by at most :math:`3 \\epsilon^2
\\max |G|` in total (dropped terms plus renormalisation), which after the weights (at most :math:`n / \\tau`)
and the sum over the ``n`` rows is below :math:`3 \\epsilon^2` times the gradient's natural scale
:math:`n \\max|G| / \\tau`, i.e. far below the rounding error of the dense computation. NeuralSort's band holds
about :math:`\\sqrt{T \\tau / \\Delta}` positions on each side, :math:`\\Delta` the typical gap between sorted
scores (so ``O(sqrt(n))`` for scores of fixed spread: ``O(n^1.5)`` time); SoftSort's holds the scores within
:math:`\\tau T` of the row's, usually all of them at moderate temperatures (then the backward is dense, chunked,
``O(n^2)`` time and ``O(n * chunk)`` memory).

References: Bengio, Leonard, Courville, "Estimating or Propagating Gradients Through Stochastic Neurons",
arXiv:1308.3432 (https://arxiv.org/abs/1308.3432); Grover, Wang, Zweig, Ermon, "Stochastic Optimization of
Sorting Networks via Continuous Relaxations", arXiv:1903.08850 (https://arxiv.org/abs/1903.08850); Prillo,
Eisenschlos, "SoftSort", arXiv:2006.16038 (https://arxiv.org/abs/2006.16038).
"""

from __future__ import annotations

import math

import torch
from torch.autograd.function import once_differentiable

from pyro_drpm.ops import broadcast_shapes
from pyro_drpm.relaxations.sorting import RELAXED_SORTS, _abs_deviation_sums
from pyro_drpm.relaxations.straight_through import straight_through

__all__ = ["band_exponent", "straight_through_sort", "straight_through_sort_reference"]

# Rows of the relaxed matrix formed at once in the backward pass. A chunk spans the union of its rows' bands,
# about (band + rows) columns, so fewer rows waste fewer entries while more rows save per-chunk overhead (about
# 15 tensor operations); 128 measured best at n = 1024..65536. Dense rows (SoftSort, high temperatures) are
# capped by the entry budget (4 MB blocks in float32).
_CHUNK_ROWS = 128
_CHUNK_ENTRIES = 1 << 20
# Below this many elements the dense chunked backward is faster than finding the band (its binary search costs
# about 2 log2(n) small steps): measured with a K = 10 left factor, one thread, 1.6x faster at n = 256, equal
# near n = 640, 1.7x slower at n = 896.
_BANDED_FROM = 640


def band_exponent(dtype: torch.dtype, n: int) -> float:
    """``T = 2 log(1 / eps) + log n + 1``: entries more than ``T`` below their row's maximum logit are dropped.

    A dropped entry is below ``exp(-T) = eps^2 / (e n)``, so the ``n`` entries of a row lose together less than
    ``eps^2 / e`` of its mass (see the module docstring for what this bounds in the gradient).
    """
    return 2.0 * math.log(1.0 / torch.finfo(dtype).eps) + math.log(max(n, 1)) + 1.0


class _Relaxation:
    """The logits ``z[r, p]`` of one relaxed sort in sorted coordinates (rows: ranks, columns: sorted positions).

    ``x`` are the scores in decreasing order; ``aux`` is NeuralSort's ``sum_j |s_i - s_j|`` at the sorted
    positions, or SoftSort's decreasing sort of the scores (equal to ``x`` in value; its own input so that the
    gradient reaches the scores through ``sort`` as in :func:`~pyro_drpm.relaxations.soft_sort`).
    """

    def __init__(self, name: str, x: torch.Tensor, aux: torch.Tensor, temperature: torch.Tensor):
        self.name, self.x, self.aux, self.temperature = name, x, aux, temperature
        n = x.shape[-1]
        if name == "neuralsort":
            self.weight = n - 1 - 2 * torch.arange(n, dtype=x.dtype, device=x.device)

    def at(self, rows: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Entry-wise logits for index tensors of equal shape (used by the band search)."""
        x = self.x[positions]
        if self.name == "neuralsort":
            return (self.weight[rows] * x - self.aux[positions]) / self.temperature
        return -(self.aux[rows] - x).abs() / self.temperature

    def block(self, a: int, b: int, lo: int, hi: int) -> torch.Tensor:
        """Logits of the rows ``a:b`` and the sorted columns ``lo:hi``, computed as the dense relaxation does."""
        x = self.x[lo:hi]
        if self.name == "neuralsort":
            return torch.outer(self.weight[a:b], x).sub_(self.aux[lo:hi]).div_(self.temperature)
        return (self.aux[a:b, None] - x).abs_().neg_().div_(self.temperature)

    def rounding(self) -> float:
        """An upper bound on the rounding error of the logits (``8 eps`` times the magnitude of their terms)."""
        scale = self.x.abs().max() * (self.x.shape[-1] if self.name == "neuralsort" else 1) + self.aux.abs().max()
        return 8.0 * torch.finfo(self.x.dtype).eps * float(scale / self.temperature)


def _band(relaxation: _Relaxation, exponent: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The first and last sorted position of every row whose logit is within ``exponent`` of the row's maximum.

    Each row is unimodal with its maximum at the diagonal, so both edges are found by binary search
    (``log2(n)`` vectorised steps).
    """
    n = relaxation.x.shape[-1]
    rows = torch.arange(n, device=relaxation.x.device)
    level = relaxation.at(rows, rows) - exponent
    steps = max(1, n.bit_length())
    low, high = torch.zeros_like(rows), rows.clone()  # the left edge: the first position in [0, r] above level
    for _ in range(steps):
        mid = torch.div(low + high, 2, rounding_mode="floor")
        above = relaxation.at(rows, mid) >= level
        high, low = torch.where(above, mid, high), torch.where(above, low, mid + 1)
    left = high
    low, high = rows.clone(), torch.full_like(rows, n - 1)  # the right edge: the last position in [r, n - 1]
    for _ in range(steps):
        mid = torch.div(low + high + 1, 2, rounding_mode="floor")
        above = relaxation.at(rows, mid) >= level
        low, high = torch.where(above, mid, low), torch.where(above, high, mid - 1)
    return left, low


def _chunks(left: torch.Tensor, right: torch.Tensor) -> list[tuple[int, int, int, int]]:
    """Row chunks ``(a, b, lo, hi)``: rows ``a:b`` need the sorted columns ``lo:hi`` (one host transfer)."""
    n = left.shape[-1]
    width = int((right - left).max()) + 1
    rows = max(1, min(n, _CHUNK_ROWS, _CHUNK_ENTRIES // (width + _CHUNK_ROWS)))
    starts = list(range(0, n, rows))
    pad = (-n) % rows
    lows = torch.cat([left, left[-1:].expand(pad)]).view(-1, rows).amin(-1)
    highs = torch.cat([right, right[-1:].expand(pad)]).view(-1, rows).amax(-1) + 1
    return [(a, min(a + rows, n), lo, hi) for a, lo, hi in zip(starts, lows.tolist(), highs.tolist(), strict=True)]


def _vjp(relaxation: _Relaxation, gradient_block, banded: bool, need_temperature: bool):
    """The VJP of one relaxed sort (no batch): gradients for ``x`` and ``aux`` (sorted coordinates) and ``tau``.

    ``gradient_block(a, b, lo, hi)`` returns the upstream gradient of the rows ``a:b`` at the sorted columns
    ``lo:hi``. With ``dz = P (G - sum_q P G)`` the gradient of the logits, NeuralSort's ``x`` gets
    ``sum_r w_r dz / tau`` and its ``aux`` ``-sum_r dz / tau``; SoftSort's ``x`` gets ``sum_r sign dz / tau`` and
    its ``aux`` (row ``r``'s score) ``-sum_p sign dz / tau``; the temperature gets ``-sum dz z / tau``.
    """
    x, tau = relaxation.x, relaxation.temperature
    n = x.shape[-1]
    if banded:
        left, right = _band(relaxation, band_exponent(x.dtype, n) + relaxation.rounding())
    else:
        left, right = torch.zeros(n, dtype=torch.long, device=x.device), torch.full((n,), n - 1, device=x.device)
    grad_x, grad_aux = torch.zeros_like(x), torch.zeros_like(x)
    grad_tau = x.new_zeros(())
    if relaxation.name == "neuralsort":
        weights = torch.stack([relaxation.weight, -torch.ones_like(x)])  # d z / d (x, aux), times tau
    for a, b, lo, hi in _chunks(left, right):
        logits = relaxation.block(a, b, lo, hi)
        probs = torch.softmax(logits, dim=-1)
        grad = gradient_block(a, b, lo, hi)
        grad = grad.sub_(torch.linalg.vecdot(probs, grad).unsqueeze(-1)).mul_(probs)  # dz = P (G - sum_q P G)
        if need_temperature:
            grad_tau -= (grad * logits).sum() / tau
        if relaxation.name == "neuralsort":
            both = (weights[:, a:b] @ grad).div_(tau)
            grad_x[lo:hi] += both[0]
            grad_aux[lo:hi] += both[1]
        else:
            grad = grad.mul_(torch.sign(relaxation.aux[a:b, None] - x[lo:hi])).div_(tau)
            grad_x[lo:hi] += grad.sum(0)
            grad_aux[a:b] -= grad.sum(1)
    return grad_x, grad_aux, grad_tau


class _StraightThroughSort(torch.autograd.Function):
    """Forward: ``P_hard`` (no left factor) or ``L P_hard``; backward: the relaxed sort's VJP, chunked."""

    @staticmethod
    def forward(ctx, scores, aux, left, temperature, relaxation, banded):
        # scores, aux: (B, n); left: (B, K, n) or None; temperature: a 0-dim tensor
        n = scores.shape[-1]
        order = scores.argsort(dim=-1, descending=True)  # order[r] = the element at rank r
        if left is None:
            value = scores.new_zeros(order.shape + (n,)).scatter_(-1, order.unsqueeze(-1), 1.0)  # one-hot rows
        else:
            rank = torch.empty_like(order).scatter_(-1, order, torch.arange(n, device=order.device).expand_as(order))
            value = left.gather(-1, rank.unsqueeze(-2).expand(left.shape))
        ctx.save_for_backward(scores, aux, left, temperature, order)
        ctx.relaxation, ctx.banded = relaxation, banded
        return value

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_value):
        scores, aux, left, temperature, order = ctx.saved_tensors
        needs = ctx.needs_input_grad
        need_temperature = needs[3]
        grad_scores, grad_aux = torch.zeros_like(scores), torch.zeros_like(aux)
        grad_tau = torch.zeros_like(temperature)
        relaxed = (needs[0] or needs[1] or need_temperature) and scores.shape[-1] > 0
        for i in range(scores.shape[0] if relaxed else 0):  # one partition at a time: B times one's cost
            x = scores[i, order[i]]
            if ctx.relaxation == "neuralsort":
                relaxation = _Relaxation("neuralsort", x, aux[i, order[i]], temperature)
            else:
                relaxation = _Relaxation("softsort", x, aux[i], temperature)
            if left is None:
                grad_rows = grad_value[i]

                def gradient_block(a, b, lo, hi, grad_rows=grad_rows, columns=order[i]):
                    return grad_rows[a:b].index_select(-1, columns[lo:hi])
            else:
                factor, grad_sorted = left[i], grad_value[i].index_select(-1, order[i])  # (K, n) each

                def gradient_block(a, b, lo, hi, factor=factor, grad_sorted=grad_sorted):
                    return factor[:, a:b].transpose(0, 1) @ grad_sorted[:, lo:hi]  # G_P = L^T G_Y

            grad_x, grad_a, tau_part = _vjp(relaxation, gradient_block, ctx.banded, need_temperature)
            grad_scores[i, order[i]] = grad_x
            if ctx.relaxation == "neuralsort":
                grad_aux[i, order[i]] = grad_a
            else:
                grad_aux[i] = grad_a
            grad_tau += tau_part
        grad_left = None
        if left is not None and needs[2]:
            grad_left = grad_value.gather(-1, order.unsqueeze(-2).expand(grad_value.shape))  # d(L P)/dL = G P^T
        return (
            grad_scores if needs[0] else None,
            grad_aux if needs[1] else None,
            grad_left,
            grad_tau if need_temperature else None,
            None,
            None,
        )


def straight_through_sort(
    scores: torch.Tensor,
    temperature: float | torch.Tensor,
    relaxation: str = "neuralsort",
    left: torch.Tensor | None = None,
    *,
    banded: bool | str = "auto",
) -> torch.Tensor:
    """The exact decreasing sort's permutation matrix (or ``left @`` it), with the gradient of a relaxed sort.

    .. math::

        \\text{forward: } L P_\\pi, \\qquad \\text{backward: } \\frac{\\partial}{\\partial s}
        \\big\\langle G, L \\hat P(s, \\tau) \\big\\rangle = \\text{the VJP of } \\hat P \\text{ at } L^\\top G,

    where :math:`P_\\pi` is the permutation matrix of ``argsort(scores, descending=True)`` (row ``r`` = the
    one-hot of the element at rank ``r``) and :math:`\\hat P` is :func:`~pyro_drpm.relaxations.neural_sort` or
    :func:`~pyro_drpm.relaxations.soft_sort`. The value and the gradients equal those of
    :func:`straight_through_sort_reference` (the dense construction ``L P + L (\\hat P - \\hat P)``, detached
    ``L`` in the second product), but neither pass forms an n x n matrix besides a ``P_pi`` output without
    ``left``: the forward is an argsort and a gather, the backward works in row chunks of the band that holds
    all of :math:`\\hat P` above :math:`\\epsilon^2 / (e n)` (module docstring). ``left`` receives the gradient
    :math:`G P_\\pi^\\top` of the hard product.

    Example::

        >>> scores = torch.tensor([0.1, 2.0, -1.0], requires_grad=True)
        >>> window = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])  # subset 1: ranks 0 and 1
        >>> Y = straight_through_sort(scores, 0.5, left=window)
        >>> Y.detach()
        tensor([[1., 1., 0.],
                [0., 0., 1.]])
        >>> Y[0, 0].backward(); bool(scores.grad[0] > 0)
        True

    :param scores: real scores, shape ``(..., n)``.
    :param temperature: positive temperature :math:`\\tau` of the relaxation (a float or a 0-dim tensor, which
        then gets a gradient too).
    :param relaxation: ``"neuralsort"`` or ``"softsort"``.
    :param left: optional left factor ``L`` of shape ``(..., K, n)`` (batch dims broadcast with ``scores``).
    :param banded: ``True``: skip the entries below the band; ``False``: compute every entry, in chunks (the
        same gradient to rounding); ``"auto"`` (default): banded from 640 elements on, where it is the faster.
    :returns: ``(..., n, n)`` without ``left``, else ``(..., K, n)``; the dtype of ``scores``.
    """
    if relaxation not in RELAXED_SORTS:
        raise ValueError(f"unknown `relaxation` {relaxation!r}; expected one of {sorted(RELAXED_SORTS)}")
    if banded not in (True, False, "auto"):
        raise ValueError(f"`banded` must be True, False or 'auto', got {banded!r}")
    n = scores.shape[-1]
    banded = n >= _BANDED_FROM if banded == "auto" else banded
    temperature = torch.as_tensor(temperature, dtype=scores.dtype, device=scores.device)
    batch = scores.shape[:-1] if left is None else broadcast_shapes(scores.shape[:-1], left.shape[:-2])
    scores = scores.expand(batch + (n,)).reshape(batch.numel(), n)
    if relaxation == "neuralsort":
        aux = _abs_deviation_sums(scores)
    else:
        aux = scores.sort(dim=-1, descending=True).values
    if left is not None:
        num_rows = left.shape[-2]
        left = left.expand(batch + (num_rows, n)).reshape(batch.numel(), num_rows, n)
    value = _StraightThroughSort.apply(scores, aux, left, temperature.reshape(()), relaxation, banded)
    return value.reshape(batch + value.shape[-2:])


def straight_through_sort_reference(
    scores: torch.Tensor,
    temperature: float | torch.Tensor,
    relaxation: str = "neuralsort",
    left: torch.Tensor | None = None,
) -> torch.Tensor:
    """The dense construction that :func:`straight_through_sort` replaces (O(n^2) time and memory).

    ``P_pi + (P_hat - P_hat.detach())`` without ``left``; with it, ``L P_pi`` as a gather (the gradient to ``L``)
    plus ``L.detach() @ P_hat`` minus its detached value (the gradient to the scores). Kept as the oracle of the
    tests and the baseline of ``benchmarks/bench_drpm.py``.

    Example::

        >>> straight_through_sort_reference(torch.tensor([0.1, 2.0, -1.0]), 0.5)
        tensor([[0., 1., 0.],
                [1., 0., 0.],
                [0., 0., 1.]])

    :param scores: real scores ``(..., n)``.
    :param temperature: positive temperature.
    :param relaxation: ``"neuralsort"`` or ``"softsort"``.
    :param left: optional left factor ``(..., K, n)``.
    """
    soft = RELAXED_SORTS[relaxation](scores, temperature)
    order = scores.detach().argsort(dim=-1, descending=True)
    if left is None:
        return straight_through(torch.nn.functional.one_hot(order, scores.shape[-1]).to(soft.dtype), soft)
    batch = broadcast_shapes(scores.shape[:-1], left.shape[:-2])
    left = left.expand(batch + left.shape[-2:])
    rank = order.argsort(dim=-1).expand(batch + scores.shape[-1:])
    hard = left.gather(-1, rank.unsqueeze(-2).expand(left.shape))
    relaxed = left.detach() @ soft
    return hard + (relaxed - relaxed.detach())
