"""Brute-force oracles: each law computed straight from its definition, by enumeration, in float64.

They are slow (factorial or exponential in the size) and meant for small cases in tests and benchmarks.
"""

from __future__ import annotations

import itertools
import math

import torch

from pyro_drpm.ops import reverse_logcumsumexp

__all__ = [
    "crp_log_probs",
    "drpm_log_probs",
    "fisher_log_pmf",
    "merged_scheme_log_pmf",
    "mvhg_log_pmf",
    "ordered_blocks_log_probs",
    "plackett_luce_log_prob",
]


def _log_binomial(m: int, j: int) -> float:
    return math.lgamma(m + 1) - math.lgamma(j + 1) - math.lgamma(m - j + 1)


def mvhg_log_pmf(class_sizes, total_count: int, logits) -> tuple[torch.Tensor, torch.Tensor]:
    """Every support point of Fisher's MVHG and its log pmf, by enumerating all count vectors.

    :returns: ``(points, log_pmf)``: ``(S, K)`` counts in ``itertools.product`` order and their ``(S,)`` log
        probabilities, float64.
    """
    sizes = [int(m) for m in class_sizes]
    points = [x for x in itertools.product(*(range(m + 1) for m in sizes)) if sum(x) == int(total_count)]
    log_weights = [
        sum(_log_binomial(m, x_k) + x_k * float(a) for m, x_k, a in zip(sizes, x, logits, strict=True)) for x in points
    ]
    log_weights = torch.tensor(log_weights, dtype=torch.float64)
    return torch.tensor(points, dtype=torch.float64), log_weights - log_weights.logsumexp(0)


def fisher_log_pmf(x: int, m1: int, m2: int, draws: int, odds: float) -> float:
    """Univariate Fisher noncentral hypergeometric log pmf of ``x`` balls of colour 1 (of two colours)."""

    def log_term(j):
        return _log_binomial(m1, j) + _log_binomial(m2, draws - j) + j * math.log(odds)

    feasible = range(max(0, draws - m2), min(m1, draws) + 1)
    if x not in feasible:
        return -math.inf
    terms = [log_term(j) for j in feasible]
    top = max(terms)
    return log_term(x) - top - math.log(sum(math.exp(t - top) for t in terms))


def merged_scheme_log_pmf(class_sizes, total_count: int, weights, points, order=None) -> torch.Tensor:
    """The law of the released MVHG code's approximate sampler, on ``points``, for one class order.

    Each class is drawn against ONE merged class of the not-yet-sampled ones, whose weight is the size-weighted
    mean of their weights; the released code draws a random order per call, so with ``order=None`` its law is
    the average over all orders.
    """
    sizes = [int(m) for m in class_sizes]
    if order is None:
        orders = list(itertools.permutations(range(len(sizes))))
        laws = torch.stack([merged_scheme_log_pmf(sizes, total_count, weights, points, o) for o in orders])
        return laws.logsumexp(0) - math.log(len(orders))
    out = []
    for x in torch.as_tensor(points).long().tolist():
        log_p, left = 0.0, int(total_count)
        for i, k in enumerate(order[:-1]):
            rest = [sizes[j] for j in order[i + 1 :]]
            if sum(rest) == 0:
                break
            rest_weight = sum(m * weights[j] for m, j in zip(rest, order[i + 1 :], strict=True)) / sum(rest)
            log_p += fisher_log_pmf(x[k], sizes[k], sum(rest), left, weights[k] / rest_weight)
            left -= x[k]
        out.append(log_p)
    return torch.tensor(out, dtype=torch.float64)


def plackett_luce_log_prob(logits, ranking) -> float:
    """The Plackett-Luce product formula, term by term, in float64 Python arithmetic."""
    scores = [math.exp(float(x)) for x in logits]
    return sum(
        math.log(scores[ranking[r]] / sum(scores[ranking[q]] for q in range(r, len(ranking))))
        for r in range(len(ranking))
    )


def ordered_blocks_log_probs(score_logits: torch.Tensor, blocks: torch.Tensor) -> torch.Tensor:
    """``log`` of the Plackett-Luce mass of the rankings that visit the blocks in order, over all ``n!`` rankings.

    :param score_logits: ``(n,)`` float64.
    :param blocks: ``(M, n)`` block index of every element.
    :returns: ``(M,)``.
    """
    n = score_logits.shape[-1]
    rankings = torch.tensor(list(itertools.permutations(range(n))), device=score_logits.device)
    ranked = score_logits[rankings]
    log_pl = (ranked - reverse_logcumsumexp(ranked)).sum(-1)
    visited = blocks[:, rankings]  # block of the element at each rank
    in_order = (visited[..., 1:] >= visited[..., :-1]).all(-1)
    return torch.where(in_order, log_pl, torch.full_like(log_pl, -math.inf)).logsumexp(-1)


def drpm_log_probs(size_logits, score_logits, class_sizes, blocks: torch.Tensor) -> torch.Tensor:
    """DRPM log-probabilities of the partitions ``blocks`` (``(M, n)`` subset of every element) by enumeration.

    The MVHG pmf of the subset sizes (:func:`mvhg_log_pmf`) plus the Plackett-Luce mass of the rankings that
    fill the subsets in order (:func:`ordered_blocks_log_probs`).
    """
    size_logits = torch.as_tensor(size_logits, dtype=torch.float64)
    num_subsets, n = size_logits.shape[-1], score_logits.shape[-1]
    points, log_pmf = mvhg_log_pmf(class_sizes, n, size_logits.tolist())
    log_sizes = {tuple(p): lp for p, lp in zip(points.long().tolist(), log_pmf.tolist(), strict=True)}
    sizes = torch.nn.functional.one_hot(blocks.long(), num_subsets).sum(-2).tolist()
    log_size_terms = torch.tensor([log_sizes.get(tuple(s), -math.inf) for s in sizes], dtype=torch.float64)
    return log_size_terms + ordered_blocks_log_probs(torch.as_tensor(score_logits, dtype=torch.float64), blocks)


def crp_log_probs(num_subsets: int, num_elements: int, concentration: float) -> tuple[float, torch.Tensor]:
    """The truncated, uniformly labelled CRP by sequential seating, over all ``K ** n`` labellings.

    :returns: ``(mass, log_probs)``: ``P(m <= K)`` under the untruncated CRP, and the log-probability of every
        labelling in ``itertools.product(range(K), repeat=n)`` order.
    """

    def seating(labels):
        probability, counts = 1.0, {}
        for i, label in enumerate(labels):
            if label in counts:
                probability *= counts[label] / (i + concentration)
                counts[label] += 1
            else:
                probability *= concentration / (i + concentration)
                counts[label] = 1
        return probability, len(counts)

    def set_partitions(prefix, largest):  # restricted growth strings: every set partition once
        if len(prefix) == num_elements:
            yield prefix
            return
        for value in range(largest + 2):
            yield from set_partitions(prefix + [value], max(largest, value))

    mass = sum(p for p, m in map(seating, set_partitions([0], 0)) if m <= num_subsets)
    log_probs = []
    for labels in itertools.product(range(num_subsets), repeat=num_elements):
        p, m = seating(labels)
        labellings = math.lgamma(num_subsets + 1) - math.lgamma(num_subsets - m + 1)
        log_probs.append(math.log(p / mass) - labellings if m <= num_subsets else -math.inf)
    return mass, torch.tensor(log_probs, dtype=torch.float64)
