"""Window matrices: which ranks each subset takes, given the subset sizes, exact or relaxed.

The DRPM fills subset 1 with the ``n_1`` top-ranked elements, subset 2 with the next ``n_2``, and so on. With
cumulative sizes :math:`c_k = n_1 + \\dots + n_k` (:math:`c_0 = 0`), the window matrix :math:`W \\in \\{0,1\\}^{K
\\times n}` has :math:`W_{kr} = 1` iff :math:`c_{k-1} \\le r < c_k`, and the assignment matrix is :math:`Y = W P`
for a permutation matrix :math:`P` (row :math:`r` = the element at rank :math:`r`).

Both functions here cost O(K n) time and memory. The DRPM paper's code builds :math:`W` from (n+1) x n x n shift
matrices, O(n^3) memory.
"""

from __future__ import annotations

import torch

from pyro_drpm.relaxations._checks import check_number
from pyro_drpm.relaxations.straight_through import straight_through

__all__ = ["soft_window_matrix", "window_matrix"]


def _check(owner: str, counts: torch.Tensor, num_slots, smoothing) -> None:
    if counts.dim() < 1 or counts.shape[-1] < 1:
        raise ValueError(f"{owner}: `counts` must have shape (..., K) with K >= 1, got {tuple(counts.shape)}")
    if isinstance(num_slots, bool) or not isinstance(num_slots, int) or num_slots < 0:
        raise ValueError(f"{owner}: `num_slots` must be a non-negative integer, got {num_slots!r}")
    check_number(owner, "smoothing", smoothing)


def _boundaries(counts: torch.Tensor) -> torch.Tensor:
    """The K - 1 inner cumulative sizes ``c_1..c_{K-1}`` (``c_0 = 0`` and ``c_K = n`` are fixed)."""
    return counts[..., :-1].cumsum(-1)


def _from_cumulative(filled: torch.Tensor) -> torch.Tensor:
    """Rows ``G_k - G_{k-1}`` from the inner "filled" rows ``G_1..G_{K-1}``, with ``G_0 = 0`` and ``G_K = 1``.

    The telescoping makes every column sum to exactly 1, whatever the inner rows are.
    """
    # shaped explicitly, not as ``filled[..., :1, :]``: with K = 1 there are no inner rows to copy a shape from
    edge_shape = filled.shape[:-2] + (1, filled.shape[-1])
    zeros = filled.new_zeros(edge_shape)
    ones = filled.new_ones(edge_shape)
    padded = torch.cat([zeros, filled, ones], dim=-2)
    return padded[..., 1:, :] - padded[..., :-1, :]


def soft_window_matrix(counts: torch.Tensor, num_slots: int, smoothing: float = 0.5) -> torch.Tensor:
    """A smooth window matrix: the boundary between subsets ``k`` and ``k + 1`` is a logistic ramp.

    .. math::

        G_k(r) = \\sigma\\Big(\\frac{c_k - r - 1/2}{\\beta}\\Big), \\quad k = 1..K-1, \\qquad
        G_0 = 0,\\ G_K = 1, \\qquad W_{kr} = G_k(r) - G_{k-1}(r),

    with :math:`\\beta` = ``smoothing``. Every column sums to exactly 1; entries lie in [0, 1] when the
    cumulative sizes are non-decreasing (non-negative counts). As :math:`\\beta \\to 0` it tends to the exact
    window of (integer) ``counts``. Its derivative with respect to :math:`c_k` is a bump of width
    :math:`\\beta` around the ranks :math:`c_k - 1, c_k` that the boundary separates.

    Example::

        >>> soft_window_matrix(torch.tensor([1.0, 2.0]), 3, smoothing=0.05).round()
        tensor([[1., 0., 0.],
                [0., 1., 1.]])

    :param counts: subset sizes (real-valued), shape ``(..., K)``, summing to ``num_slots``.
    :param num_slots: the number of ranks ``n``.
    :param smoothing: positive width :math:`\\beta` of the ramps, in ranks.
    :returns: shape ``(..., K, num_slots)``, dtype and device of ``counts``.
    :raises ValueError: for ``counts`` without a subset dimension, a ``num_slots`` that is not a non-negative
        integer, or a ``smoothing`` number that is not positive and finite (the values of ``counts`` are not
        read).
    """
    _check("soft_window_matrix", counts, num_slots, smoothing)
    rank = torch.arange(num_slots, dtype=counts.dtype, device=counts.device)
    inner = _boundaries(counts).unsqueeze(-1)
    return _from_cumulative(torch.sigmoid((inner - rank - 0.5) / smoothing))


def window_matrix(counts: torch.Tensor, num_slots: int, smoothing: float = 0.5) -> torch.Tensor:
    """The exact window matrix of integer ``counts``, with the gradient of :func:`soft_window_matrix`.

    .. math::

        W_{kr} = \\mathbb{1}[c_{k-1} \\le r < c_k]

    in the forward pass (``counts`` is rounded first, so straight-through counts whose value is an exact
    integer give an exact 0/1 staircase); the backward pass differentiates :func:`soft_window_matrix` at the
    same counts, so gradients reach every count whose boundary moves.

    Example::

        >>> counts = torch.tensor([2.0, 0.0, 1.0], requires_grad=True)
        >>> W = window_matrix(counts, 3)
        >>> W.detach()
        tensor([[1., 1., 0.],
                [0., 0., 0.],
                [0., 0., 1.]])
        >>> W[0, 2].backward(); bool(counts.grad[0] > 0)
        True

    :param counts: subset sizes, shape ``(..., K)``, integer-valued in the forward pass, summing to
        ``num_slots``.
    :param num_slots: the number of ranks ``n``.
    :param smoothing: the width of the gradient's ramps, see :func:`soft_window_matrix`.
    :returns: shape ``(..., K, num_slots)``.
    :raises ValueError: as :func:`soft_window_matrix`.
    """
    _check("window_matrix", counts, num_slots, smoothing)
    rank = torch.arange(num_slots, dtype=counts.dtype, device=counts.device)
    inner = _boundaries(counts.detach().round()).unsqueeze(-1)
    hard = _from_cumulative((rank < inner).to(counts.dtype))
    return straight_through(hard, soft_window_matrix(counts, num_slots, smoothing))
