"""The exact ordered-block probability of a Plackett-Luce ranking against independent oracles.

Oracles: every ranking (n <= 7), inclusion-exclusion in 80-digit arithmetic (blocks of up to 15 elements),
mpmath quadrature (blocks of 15-100 elements, score spreads of 1e4), the closed form for equal scores, and the
paper's bounds.
"""

import itertools
import math

import mpmath
import numpy as np
import pytest
import torch

from pyro_drpm.distributions import ordered_blocks
from pyro_drpm.distributions.ordered_blocks import (
    log_prob_ordered_blocks,
    log_prob_ordered_blocks_bounds,
    log_race_terms,
)
from pyro_drpm.ops import reverse_logcumsumexp


def _assignment(block, num_blocks, dtype=torch.float64):
    """``(..., n)`` block indices -> ``(..., K, n)`` assignment matrices."""
    block = torch.as_tensor(block)
    return torch.nn.functional.one_hot(block, num_blocks).transpose(-1, -2).to(dtype)


def _all_blocks(n, num_blocks):
    return torch.tensor(list(itertools.product(range(num_blocks), repeat=n)))


def _brute_force(logits, blocks):
    """log sum over the rankings that visit the blocks in order, by enumerating all n! rankings."""
    n = logits.shape[-1]
    rankings = torch.tensor(list(itertools.permutations(range(n))))  # (n!, n)
    ranked = logits[rankings]
    log_pl = (ranked - reverse_logcumsumexp(ranked)).sum(-1)  # (n!,)
    visited = blocks[:, rankings]  # (M, n!, n): block of the element at each rank
    in_order = (visited[..., 1:] >= visited[..., :-1]).all(-1)
    return torch.where(in_order, log_pl, torch.full_like(log_pl, -math.inf)).logsumexp(-1)


@pytest.mark.parametrize("n, num_blocks", [(5, 3), (6, 2), (4, 4), (7, 3)])
def test_matches_brute_force_over_all_rankings(n, num_blocks):
    torch.manual_seed(n * 10 + num_blocks)
    logits = 2.0 * torch.randn(n, dtype=torch.float64)
    blocks = _all_blocks(n, num_blocks)
    got = log_prob_ordered_blocks(logits, _assignment(blocks, num_blocks))
    expected = _brute_force(logits, blocks)
    assert (got - expected).abs().max() < 1e-10
    # for each vector of block sizes, the assignments with those sizes partition the rankings
    sizes = _assignment(blocks, num_blocks).sum(-1)
    for size in sizes.unique(dim=0):
        same = (sizes == size).all(-1)
        assert abs(got[same].logsumexp(0).item()) < 1e-10


def _inclusion_exclusion_log_q(block_scores, rest, dps=80):
    """log q(S; R) = log sum_{A subset S} (-1)^|A| R / (R + s_A), exactly, in ``dps``-digit arithmetic."""
    mpmath.mp.dps = dps
    subset_sums = [(mpmath.mpf(0), 1)]
    for score in block_scores:
        score = mpmath.mpf(score)
        subset_sums += [(total + score, -sign) for total, sign in subset_sums]
    rest = mpmath.mpf(rest)
    return float(mpmath.log(mpmath.fsum(sign * rest / (rest + total) for total, sign in subset_sums)))


@pytest.mark.parametrize(
    "sizes, shifts",
    [((15, 10, 5), (0.0, 0.0, 0.0)), ((15, 9, 6), (-3.0, 0.0, 2.0)), ((12, 12, 6), (4.0, -2.0, 0.0))],
)
def test_matches_inclusion_exclusion(sizes, shifts):
    rng = np.random.default_rng(sum(sizes) + int(shifts[0]))
    logits, blocks = [], []
    for k, (size, shift) in enumerate(zip(sizes, shifts, strict=True)):
        logits.append(rng.uniform(-2.0, 2.0, size) + shift)  # score ratios up to e^4 within a block
        blocks += [k] * size
    logits = np.concatenate(logits)
    blocks = np.array(blocks)
    order = rng.permutation(len(blocks))  # the blocks need not be contiguous
    logits, blocks = logits[order], blocks[order]
    got = log_race_terms(torch.tensor(logits), _assignment(torch.tensor(blocks), len(sizes)))
    for k in range(len(sizes)):
        rest = np.exp(logits[blocks > k]).sum()
        expected = 0.0 if rest == 0 else _inclusion_exclusion_log_q(np.exp(logits[blocks == k]), rest)
        assert abs(got[k].item() - expected) < 1e-10


def _mpmath_log_q(a, dps=20):
    """log q by mpmath's tanh-sinh quadrature of the integrand in u (t = e^u / R), on panels that cover where
    it exceeds exp(-50) of its maximum (located on a coarse float64 grid)."""
    grid = np.arange(-80.0, math.log(len(a) + 1) + 6.0, 0.25)
    x = grid[:, None] + np.asarray(a)[None]
    with np.errstate(divide="ignore"):
        coarse = grid - np.exp(grid) + np.log(-np.expm1(-np.exp(x))).sum(1)
    inside = grid[coarse > coarse.max() - 50.0]
    lo, hi = inside.min() - 0.25, inside.max() + 0.25
    mpmath.mp.dps = dps
    a = [mpmath.mpf(float(v)) for v in a]

    def log_integrand(u):
        return u - mpmath.exp(u) + mpmath.fsum(mpmath.log(-mpmath.expm1(-mpmath.exp(u + v))) for v in a)

    shift = log_integrand(mpmath.mpf((lo + hi) / 2))
    value, error = mpmath.quad(
        lambda u: mpmath.exp(log_integrand(u) - shift), np.linspace(lo, hi, 9).tolist(), error=True
    )
    assert error < 1e-15 * value
    return float(mpmath.log(value) + shift)


@pytest.mark.parametrize("n, num_blocks", [(50, 3), pytest.param(200, 2, marks=pytest.mark.slow)], ids=["n50", "n200"])
def test_matches_mpmath_quadrature_with_spread_scores(n, num_blocks):
    rng = np.random.default_rng(n)
    logits = rng.uniform(0.0, math.log(1e4), n)  # scores spread over four decades
    blocks = rng.integers(0, num_blocks, n)
    got = log_race_terms(torch.tensor(logits), _assignment(torch.tensor(blocks), num_blocks))
    for k in range(num_blocks - 1):
        log_rest = np.logaddexp.reduce(logits[blocks > k])
        expected = _mpmath_log_q(logits[blocks == k] - log_rest)
        assert abs(got[k].item() - expected) < 1e-10 * max(1.0, abs(expected))


@pytest.mark.parametrize("n, num_blocks", [(7, 3), (300, 4), (4096, 10), (4096, 2)])
def test_equal_scores_give_the_factorial_ratio(n, num_blocks):
    torch.manual_seed(n + num_blocks)
    assignment = _assignment(torch.randint(0, num_blocks, (n,)), num_blocks)
    got = log_prob_ordered_blocks(torch.full((n,), 0.7, dtype=torch.float64), assignment)
    sizes = assignment.sum(-1)
    expected = torch.lgamma(sizes + 1).sum() - math.lgamma(n + 1)
    # float64 rounding of a sum of n terms of size ~log n; the quadrature itself is far more accurate
    assert abs(got - expected) < 1e-8


def test_bounds_bracket_the_exact_value():
    torch.manual_seed(0)
    n, num_blocks = 6, 3
    blocks = _all_blocks(n, num_blocks)
    assignment = _assignment(blocks, num_blocks)
    for scale in (0.1, 1.0, 3.0):
        logits = scale * torch.randn(n, dtype=torch.float64)
        exact = log_prob_ordered_blocks(logits, assignment)
        lower, upper = log_prob_ordered_blocks_bounds(logits, assignment)
        assert (lower <= exact + 1e-12).all() and (exact <= upper + 1e-12).all()
        # the bounds are attained by explicit rankings, so check them against enumeration too
        rankings = torch.tensor(list(itertools.permutations(range(n))))
        ranked = logits[rankings]
        log_pl = (ranked - reverse_logcumsumexp(ranked)).sum(-1)
        visited = blocks[:, rankings]
        in_order = (visited[..., 1:] >= visited[..., :-1]).all(-1)
        log_count = torch.lgamma(assignment.sum(-1) + 1).sum(-1)
        brute_max = torch.where(in_order, log_pl, -math.inf).amax(-1) + log_count
        brute_min = torch.where(in_order, log_pl, math.inf).amin(-1) + log_count
        assert torch.allclose(upper, brute_max, atol=1e-12, rtol=0)
        assert torch.allclose(lower, brute_min, atol=1e-12, rtol=0)
    equal = torch.zeros(n, dtype=torch.float64)
    lower, upper = log_prob_ordered_blocks_bounds(equal, assignment)
    exact = log_prob_ordered_blocks(equal, assignment)
    assert torch.allclose(lower, exact, atol=1e-12) and torch.allclose(upper, exact, atol=1e-12)


def test_edge_cases_single_block_empty_blocks_and_one_element():
    logits = torch.tensor([0.3, -1.0, 2.0, 0.5], dtype=torch.float64)
    one_block = torch.ones(1, 4, dtype=torch.float64)
    assert log_prob_ordered_blocks(logits, one_block).item() == 0.0
    # empty rows before, between and after the non-empty ones change nothing
    dense = _assignment(torch.tensor([0, 1, 0, 1]), 2)
    sparse = torch.zeros(5, 4, dtype=torch.float64)
    sparse[1], sparse[3] = dense[0], dense[1]
    assert torch.allclose(log_prob_ordered_blocks(logits, sparse), log_prob_ordered_blocks(logits, dense))
    single = torch.tensor([[0.0], [1.0], [0.0]], dtype=torch.float64)  # n = 1, K = 3
    assert log_prob_ordered_blocks(torch.zeros(1, dtype=torch.float64), single).item() == 0.0


def test_broadcasting_and_chunking(monkeypatch):
    torch.manual_seed(1)
    logits = torch.randn(2, 1, 9, dtype=torch.float64)
    assignment = _assignment(torch.randint(0, 3, (4, 9)), 3)
    got = log_prob_ordered_blocks(logits, assignment)
    assert got.shape == (2, 4)
    looped = torch.stack(
        [torch.stack([log_prob_ordered_blocks(logits[i, 0], assignment[j]) for j in range(4)]) for i in range(2)]
    )
    assert torch.allclose(got, looped, atol=1e-13, rtol=0)
    monkeypatch.setattr(ordered_blocks, "_CHUNK_ELEMENTS", 50)  # several node chunks per call
    logits.requires_grad_(True)
    chunked = log_prob_ordered_blocks(logits, assignment)
    (grad_chunked,) = torch.autograd.grad(chunked.sum(), logits)
    monkeypatch.undo()
    (grad,) = torch.autograd.grad(log_prob_ordered_blocks(logits, assignment).sum(), logits)
    assert torch.allclose(chunked, got, atol=1e-13, rtol=0)
    assert torch.allclose(grad_chunked, grad, atol=1e-13, rtol=0)


def _random_hard_blocks(num_cases, seed):
    """Random blocks: 2-400 elements in 2-11 blocks, log-score spreads up to 9, block shifts of +-30, and every
    third case a block of 3 elements that is almost surely first (the long left tail)."""
    generator = torch.Generator().manual_seed(seed)
    for case in range(num_cases):
        n = int(torch.randint(2, 400, (1,), generator=generator))
        k = int(torch.randint(2, 12, (1,), generator=generator))
        spread = float(torch.empty(1).uniform_(0, 9, generator=generator))
        shifts = 30 * (2 * torch.rand(k, generator=generator, dtype=torch.float64) - 1)
        block = torch.randint(0, k, (n,), generator=generator)
        if case % 3 == 0 and n > 3:
            block[: n - 3] = torch.randint(1, k, (n - 3,), generator=generator)
            block[n - 3 :] = 0
        logits = spread * torch.randn(n, generator=generator, dtype=torch.float64) + shifts[block]
        yield logits, _assignment(block, k)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_few_newton_steps_give_the_converged_integral(dtype, monkeypatch):
    """The interval search stops after 3 (float64) or 2 (float32) Newton steps; the integral then equals the one
    over the converged interval (30 steps) to the rounding of the dtype."""
    cases = list(_random_hard_blocks(45, seed=7))
    default = [log_race_terms(logits.to(dtype), assignment.to(dtype)) for logits, assignment in cases]
    monkeypatch.setattr(ordered_blocks, "_newton_steps", lambda _: 30)
    tolerance = 1e-13 if dtype == torch.float64 else 8 * torch.finfo(torch.float32).eps
    for (logits, assignment), got in zip(cases, default, strict=True):
        converged = log_race_terms(logits.to(dtype), assignment.to(dtype))
        assert ((got - converged).abs() / converged.abs().clamp(min=1)).max() < tolerance


def test_float32_default_nodes_are_at_the_rounding():
    """48 nodes in float32 integrate as accurately as 128: what is left is float32's own rounding."""
    for logits, assignment in _random_hard_blocks(45, seed=8):
        exact = log_race_terms(logits, assignment)
        coarse = log_race_terms(logits.float(), assignment.float()).double()
        fine = log_race_terms(logits.float(), assignment.float(), num_nodes=128).double()
        scale = exact.abs().clamp(min=1)
        eps = torch.finfo(torch.float32).eps
        assert ((coarse - fine).abs() / scale).max() < 8 * eps
        # against float64: no worse than 128 float32 nodes, up to a few roundings
        assert ((coarse - exact).abs() / scale).max() <= ((fine - exact).abs() / scale).max() + 4 * eps


def test_gradcheck():
    torch.manual_seed(2)
    logits = (2.0 * torch.randn(2, 7, dtype=torch.float64)).requires_grad_(True)
    assignment = _assignment(torch.randint(0, 3, (2, 7)), 3)
    assert torch.autograd.gradcheck(lambda x: log_prob_ordered_blocks(x, assignment), (logits,))


def test_gradient_matches_brute_force():
    torch.manual_seed(3)
    n, num_blocks = 6, 3
    blocks = _all_blocks(n, num_blocks)[::7]
    logits = (1.5 * torch.randn(n, dtype=torch.float64)).requires_grad_(True)
    weights = torch.randn(len(blocks), dtype=torch.float64)
    (got,) = torch.autograd.grad(
        (weights * log_prob_ordered_blocks(logits, _assignment(blocks, num_blocks))).sum(), logits
    )
    (expected,) = torch.autograd.grad((weights * _brute_force(logits, blocks)).sum(), logits)
    assert torch.allclose(got, expected, atol=1e-10, rtol=0)


def test_float32_extremes_stay_finite():
    torch.manual_seed(4)
    n = 4096
    assignment = _assignment(torch.randint(0, 10, (n,)), 10, torch.float32)
    for logits in (
        1e3 * torch.randn(n),
        torch.where(torch.rand(n) < 0.5, torch.tensor(-1e3), torch.tensor(1e3)),
        torch.full((n,), 1e3),
    ):
        logits.requires_grad_(True)
        value = log_prob_ordered_blocks(logits, assignment)
        (grad,) = torch.autograd.grad(value, logits)
        assert torch.isfinite(value) and torch.isfinite(grad).all()
        lower, upper = log_prob_ordered_blocks_bounds(logits, assignment)
        assert torch.isfinite(lower) and torch.isfinite(upper)


def test_float32_agrees_with_float64():
    torch.manual_seed(5)
    n = 2048
    logits = 3.0 * torch.randn(n, dtype=torch.float64)
    assignment = _assignment(torch.randint(0, 6, (n,)), 6)
    exact = log_prob_ordered_blocks(logits, assignment)
    single = log_prob_ordered_blocks(logits.float(), assignment.float()).double()
    # a block sum of n float32 terms carries up to n * eps relative rounding (measured: ~1e-7 relative)
    assert abs(single - exact) < n * torch.finfo(torch.float32).eps * abs(exact)


def test_gradient_survives_pyro_provenance_tracking():
    """TraceGraph_ELBO wraps sampled values in a provenance-tracking tensor subclass; the custom backward must
    still reach the logits (it silently did not before the block indices were taken as plain tensors)."""
    from pyro.ops.provenance import get_provenance, track_provenance

    logits = torch.randn(6, dtype=torch.float64, requires_grad=True)
    assignment = track_provenance(_assignment(torch.tensor([0, 1, 0, 2, 1, 2]), 3), frozenset({"partition"}))
    value = log_prob_ordered_blocks(logits, assignment)
    (grad,) = torch.autograd.grad(value, logits)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert get_provenance(value) == frozenset()  # the data part carries no provenance; the caller's terms do


def _soft_extension(logits, weights):
    """``sum_k log int R_k e^{-R_k t} prod_i (1 - e^{-s_i t})^{W_ki} dt`` for real weights ``W`` (dense trapezoid
    in float64 on ``u = log(R t)``, plain autograd): the function whose gradient in ``W`` the value gradient is.
    Blocks with nothing after them contribute 0, as in ``log_race_terms``."""
    u = torch.linspace(-60.0, 8.0, 200_001, dtype=torch.float64)
    later = weights.flip(0).cumsum(0).flip(0) - weights
    total = torch.zeros((), dtype=torch.float64)
    for k in range(weights.shape[0]):
        rest = (later[k] * logits.exp()).sum()
        if float(rest.detach()) <= 0:
            continue
        x = u.unsqueeze(-1) + logits - rest.log()
        f = u - u.exp() + (weights[k] * torch.log(-torch.expm1(-x.exp()))).sum(-1)
        total = total + torch.trapezoid(f.exp(), u).log()
    return total


@pytest.mark.parametrize("block", [[0, 1, 2, 0, 1], [0, 2, 2, 0, 0], [1, 0, 1, 2, 2, 0], [3, 0, 0, 1]])
def test_value_gradient_matches_the_soft_extension(block):
    # an assignment that requires grad (a straight-through sample) gets the gradient of the soft extension;
    # [0, 2, 2, 0, 0] has an empty middle block, [3, 0, 0, 1] an empty block and a last block of one element
    torch.manual_seed(len(block))
    logits = 1.5 * torch.randn(len(block), dtype=torch.float64)
    value = _assignment(block, 4 if 3 in block else 3).requires_grad_(True)
    reference = _soft_extension(logits, value)
    (expected,) = torch.autograd.grad(reference, value)
    value = value.detach().requires_grad_(True)
    result = log_prob_ordered_blocks(logits, value)
    (grad,) = torch.autograd.grad(result, value)
    assert abs(float(result.detach()) - float(reference.detach())) < 1e-10
    assert torch.allclose(grad, expected, atol=1e-9, rtol=1e-9)


def test_value_gradient_is_finite_in_float32_at_extreme_logits():
    torch.manual_seed(0)
    block = torch.randint(0, 4, (64,))
    logits = torch.where(torch.rand(64) < 0.5, torch.tensor(-1e3), torch.tensor(1e3)).requires_grad_(True)
    value = _assignment(block.tolist(), 4, dtype=torch.float32).requires_grad_(True)
    grads = torch.autograd.grad(log_prob_ordered_blocks(logits, value), (logits, value))
    assert all(torch.isfinite(g).all() for g in grads)


def _direct_membership_slopes(posterior, logits, log_rest, nodes, x_small):
    """The value gradient's terms one by one, as first written: ``E_k[log(1 - exp(-e^x))]`` with
    ``x = u + l_i - log R_k``, and ``x`` itself below ``log eps``."""
    x = nodes.unsqueeze(-1) + (logits.unsqueeze(-2) - log_rest.unsqueeze(-1)).unsqueeze(-3)  # (B, J, K, n)
    terms = torch.where(x < x_small, x, torch.log(-torch.expm1(-x.clamp(min=x_small).exp())))
    return (posterior.unsqueeze(-1) * terms).sum(-3)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_membership_slopes_equal_the_direct_formula(dtype):
    from pyro_drpm.distributions.ordered_blocks import _membership_slopes, _quadrature_settings

    x_small = _quadrature_settings(dtype)[0]
    logits = torch.cat([3 * torch.randn(2, 40), 1e3 * torch.randn(2, 8)], -1).to(dtype)  # extremes included
    log_rest = (4 * torch.randn(2, 5)).to(dtype)
    nodes = (torch.rand(2, 16, 5) * 30 - 20).to(dtype)  # log-times as the quadrature places them
    posterior = torch.softmax(torch.randn(2, 16, 5), dim=-2).to(dtype)
    got = _membership_slopes(posterior, logits, log_rest, nodes, x_small)
    expected = _direct_membership_slopes(posterior, logits, log_rest, nodes, x_small)
    assert torch.isfinite(got).all()
    # both are the same terms to within eps in absolute terms (e^u e^c against e^(u + c), and the floor at eps
    # against the switch to x), relative to the terms' magnitude
    eps = torch.finfo(dtype).eps
    assert torch.allclose(got, expected, rtol=16 * eps, atol=16 * eps)
