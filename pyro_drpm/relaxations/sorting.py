"""Continuous relaxations of sorting: n x n row-stochastic matrices that tend to permutation matrices.

Both functions sort in *decreasing* order, matching the Plackett-Luce convention of this package: row ``r`` of the
result is (a relaxation of) the one-hot of the element with the ``r``-th largest score. Both cost O(n^2) time and
memory, which is the size of their output; for a straight-through sort, whose forward value is the exact
permutation, :func:`~pyro_drpm.relaxations.straight_through_sort.straight_through_sort` computes their gradient
without forming the matrix.
"""

from __future__ import annotations

import torch

__all__ = ["neural_sort", "soft_sort", "RELAXED_SORTS"]


def _abs_deviation_sums(scores: torch.Tensor) -> torch.Tensor:
    """``out[i] = sum_j |s_i - s_j|`` in O(n log n) time and O(n) memory (no n x n intermediate).

    With ``x`` sorted increasingly, the element at sorted position ``p`` has
    ``sum_{q < p} (x_p - x_q) + sum_{q > p} (x_q - x_p)``, two prefix-sum expressions. This equals the pairwise
    sum in real arithmetic and has the same (sign) gradient.
    """
    n = scores.shape[-1]
    ascending, order = scores.sort(dim=-1)
    prefix = ascending.cumsum(dim=-1)
    total = prefix[..., -1:]
    position = torch.arange(n, dtype=scores.dtype, device=scores.device)
    # sum_{q < p} (x_p - x_q) + sum_{q > p} (x_q - x_p)
    below = ascending * position - (prefix - ascending)
    above = (total - prefix) - ascending * (n - 1 - position)
    sums_sorted = below + above
    return torch.empty_like(sums_sorted).scatter_(-1, order, sums_sorted)


def neural_sort(scores: torch.Tensor, temperature: float | torch.Tensor) -> torch.Tensor:
    """NeuralSort relaxation of the decreasing sort of ``scores``.

    .. math::

        \\hat P[r, :] = \\mathrm{softmax}\\big(((n + 1 - 2(r + 1))\\, s - A \\mathbf{1}) / \\tau\\big),
        \\qquad A_{ij} = |s_i - s_j|,

    for ranks ``r = 0..n-1``. Each row is a probability vector; as :math:`\\tau \\to 0` the matrix tends to the
    permutation matrix of ``argsort(scores, descending=True)`` (for distinct scores). ``A 1`` is computed from
    prefix sums of the sorted scores, so no n x n pairwise matrix is formed besides the output.

    Example::

        >>> neural_sort(torch.tensor([0.1, 2.0, -1.0]), temperature=0.01).round()
        tensor([[0., 1., 0.],
                [1., 0., 0.],
                [0., 0., 1.]])

    :param scores: real scores, shape ``(..., n)``.
    :param temperature: positive temperature :math:`\\tau`.
    :returns: shape ``(..., n, n)``.

    Reference: Grover, Wang, Zweig, Ermon, "Stochastic Optimization of Sorting Networks via Continuous
    Relaxations", ICLR 2019, arXiv:1903.08850.
    """
    n = scores.shape[-1]
    rank = torch.arange(n, dtype=scores.dtype, device=scores.device)
    weight = (n - 1 - 2 * rank).unsqueeze(-1)  # n + 1 - 2 (r + 1)
    logits = weight * scores.unsqueeze(-2) - _abs_deviation_sums(scores).unsqueeze(-2)
    return torch.softmax(logits / temperature, dim=-1)


def soft_sort(scores: torch.Tensor, temperature: float | torch.Tensor) -> torch.Tensor:
    """SoftSort relaxation of the decreasing sort of ``scores``.

    .. math::

        \\hat P[r, :] = \\mathrm{softmax}\\big(-|\\mathrm{sort}(s)_r - s| / \\tau\\big).

    Example::

        >>> soft_sort(torch.tensor([3.0, -1.0]), temperature=0.01).round()
        tensor([[1., 0.],
                [0., 1.]])

    :param scores: real scores, shape ``(..., n)``.
    :param temperature: positive temperature :math:`\\tau`.
    :returns: shape ``(..., n, n)``.

    Reference: Prillo, Eisenschlos, "SoftSort: A Continuous Relaxation for the argsort Operator", ICML 2020,
    arXiv:2006.16038.
    """
    descending = scores.sort(dim=-1, descending=True).values
    distance = (descending.unsqueeze(-1) - scores.unsqueeze(-2)).abs()
    return torch.softmax(-distance / temperature, dim=-1)


RELAXED_SORTS = {"neuralsort": neural_sort, "softsort": soft_sort}
"""The relaxations a distribution can name by string."""
