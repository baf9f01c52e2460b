"""One goodness-of-fit test for discrete samples: Pearson's chi-square against an exact pmf on a support."""

from __future__ import annotations

import torch

__all__ = ["goodness_of_fit", "sample_counts"]


def sample_counts(samples: torch.Tensor, support: torch.Tensor, event_dim: int) -> torch.Tensor:
    """How often each support point occurs among ``samples`` (float64, one count per point of ``support``).

    :param samples: ``(num_samples,) + event_shape``.
    :param support: ``(num_points,) + event_shape``, distinct points.
    :param event_dim: the number of event dimensions.
    :raises ValueError: if a sample is not a point of the support.
    """
    event_shape = support.shape[support.dim() - event_dim :]
    points = support.detach().reshape(len(support), -1).to(torch.float64)
    flat = samples.detach().reshape((-1,) + (event_shape.numel(),)).to(torch.float64)
    if flat.shape[-1] != points.shape[-1]:
        raise ValueError(f"sample_counts: samples of event shape {tuple(samples.shape[1:])}, support {event_shape}")
    unique, inverse = torch.unique(torch.cat([points, flat]), dim=0, return_inverse=True)
    if len(unique) != len(points):
        raise ValueError("sample_counts: a sample lies outside the support, or the support repeats a point")
    slot = torch.empty(len(points), dtype=torch.long, device=inverse.device)
    slot[inverse[: len(points)]] = torch.arange(len(points), device=inverse.device)
    return torch.bincount(slot[inverse[len(points) :]], minlength=len(points)).to(torch.float64)


def goodness_of_fit(counts: torch.Tensor, probs: torch.Tensor, min_expected: float = 5.0) -> float:
    """The p-value of Pearson's chi-square test of observed ``counts`` against probabilities ``probs``.

    Cells whose expected count is below ``min_expected`` are pooled into one cell (dropped if that cell's
    expected count is still below it), so that the chi-square approximation of the statistic holds. ``probs``
    is renormalised on the given cells; the p-value is the chi-square survival function with one degree of
    freedom fewer than the cells, ``Q(dof / 2, statistic / 2)`` (the regularised upper incomplete gamma).

    Example::

        >>> goodness_of_fit(torch.tensor([48.0, 52.0]), torch.tensor([0.5, 0.5])) > 0.5
        True

    :param counts: observed counts per cell, e.g. from :func:`sample_counts`.
    :param probs: the exact probability of every cell, same shape.
    :param min_expected: the smallest expected count a cell keeps for itself.
    """
    counts = torch.as_tensor(counts, dtype=torch.float64).reshape(-1)
    probs = torch.as_tensor(probs, dtype=torch.float64).reshape(-1)
    expected = probs / probs.sum() * counts.sum()
    small = expected < min_expected
    observed = torch.cat([counts[~small], counts[small].sum().reshape(1)])
    expected = torch.cat([expected[~small], expected[small].sum().reshape(1)])
    if expected[-1] < min_expected:  # the pooled cell is too small itself: leave it out
        observed, expected = observed[:-1], expected[:-1]
        expected = expected / expected.sum() * observed.sum()
    dof = len(observed) - 1
    if dof < 1:
        return 1.0  # one cell: nothing to test
    statistic = ((observed - expected) ** 2 / expected).sum()
    return float(torch.special.gammaincc(torch.tensor(dof / 2, dtype=torch.float64), statistic / 2))
