"""The DRPM against exact oracles: brute-force pmf, inclusion-exclusion, mpmath, closed forms, chi-square fits of
both samplers, and the bias of its straight-through gradients (printed with ``-s``)."""

import math

import numpy as np
import pytest
import torch

from pyro_drpm.distributions.drpm import DRPM
from pyro_drpm.distributions.ordered_blocks import log_prob_ordered_blocks
from pyro_drpm.distributions.testing import drpm_log_probs, goodness_of_fit, mvhg_log_pmf, sample_counts
from tests.conftest import DEVICES
from tests.distributions.test_ordered_blocks import _inclusion_exclusion_log_q, _mpmath_log_q, _soft_extension


def _assignment(block, num_subsets, dtype=torch.float64):
    block = torch.as_tensor(block)
    return torch.nn.functional.one_hot(block, num_subsets).transpose(-1, -2).to(dtype)


def _mvhg_log_pmf(sizes, urn, logits):
    """Fisher's MVHG log-pmf of the subset sizes ``sizes`` by enumeration (``-inf`` outside the urn)."""
    points, log_pmf = mvhg_log_pmf(urn, int(sum(sizes)), logits)
    return dict(zip(map(tuple, points.long().tolist()), log_pmf.tolist(), strict=True)).get(tuple(sizes), -math.inf)


@pytest.mark.parametrize(
    "n, num_subsets, urn",
    [(5, 3, None), (6, 2, None), (4, 4, None), (5, 3, (2, 3, 1)), (6, 2, (4, 3))],
    ids=["5-3", "6-2", "4-4", "5-3-small-urn", "6-2-small-urn"],
)
def test_log_prob_matches_brute_force_and_sums_to_one(n, num_subsets, urn):
    torch.manual_seed(10 * n + num_subsets)
    size_logits = torch.randn(num_subsets, dtype=torch.float64)
    score_logits = 1.5 * torch.randn(n, dtype=torch.float64)
    class_sizes = None if urn is None else torch.tensor(urn, dtype=torch.float64)
    d = DRPM(size_logits, score_logits, class_sizes=class_sizes)
    support = d.enumerate_support()
    assert support.shape == (num_subsets**n, num_subsets, n)
    log_prob = d.log_prob(support)
    blocks = support.argmax(-2)
    expected = drpm_log_probs(size_logits, score_logits, urn or (n,) * num_subsets, blocks)
    finite = torch.isfinite(expected)
    assert torch.equal(torch.isfinite(log_prob), finite)
    assert (log_prob[finite] - expected[finite]).abs().max() < 1e-10
    assert abs(log_prob.logsumexp(0).item()) < 1e-10


def test_log_prob_of_larger_blocks_matches_inclusion_exclusion():
    rng = np.random.default_rng(0)
    sizes = (15, 10, 5)
    blocks = rng.permutation(np.repeat(np.arange(3), sizes))
    score_logits = rng.uniform(-2.0, 2.0, blocks.size) + 1.5 * (2 - blocks)
    size_logits = np.array([0.3, -0.2, 0.1])
    d = DRPM(torch.tensor(size_logits), torch.tensor(score_logits))
    got = d.log_prob(_assignment(torch.tensor(blocks), 3)).item()
    expected = _mvhg_log_pmf(sizes, (blocks.size,) * 3, size_logits.tolist())
    for k in range(2):
        expected += _inclusion_exclusion_log_q(
            np.exp(score_logits[blocks == k]), np.exp(score_logits[blocks > k]).sum()
        )
    assert abs(got - expected) < 1e-10


def test_log_prob_with_spread_scores_matches_mpmath():
    rng = np.random.default_rng(1)
    n = 60
    blocks = rng.integers(0, 3, n)
    score_logits = rng.uniform(0.0, math.log(1e4), n)
    size_logits = np.array([0.0, 0.5, -0.5])
    d = DRPM(torch.tensor(size_logits), torch.tensor(score_logits), class_sizes=torch.tensor([30.0, 30, 30]))
    got = d.log_prob(_assignment(torch.tensor(blocks), 3)).item()
    sizes = tuple(int((blocks == k).sum()) for k in range(3))
    expected = _mvhg_log_pmf(sizes, (30, 30, 30), size_logits.tolist())
    for k in range(2):
        log_rest = np.logaddexp.reduce(score_logits[blocks > k])
        expected += _mpmath_log_q(score_logits[blocks == k] - log_rest)
    assert abs(got - expected) < 1e-10 * max(1.0, abs(expected))


def test_bounds_bracket_and_uniform_scores_give_the_factorial_ratio():
    torch.manual_seed(2)
    d = DRPM(torch.randn(3, dtype=torch.float64), 2.0 * torch.randn(6, dtype=torch.float64))
    support = d.enumerate_support()
    exact = d.log_prob(support)
    lower, upper = d.log_prob_bounds(support)
    assert (lower <= exact + 1e-12).all() and (exact <= upper + 1e-12).all()
    assert (lower < exact - 1e-3).any() and (exact < upper - 1e-3).any()  # the bounds are not tight

    n = 40
    uniform = DRPM(torch.tensor([0.2, -0.4, 0.0, 0.1], dtype=torch.float64), torch.zeros(n, dtype=torch.float64))
    values = uniform.sample(torch.Size((20,)))
    sizes = values.sum(-1)
    expected = uniform.sizes.log_prob(sizes) + torch.lgamma(sizes + 1).sum(-1) - math.lgamma(n + 1)
    assert torch.allclose(uniform.log_prob(values), expected, atol=1e-10, rtol=0)


def test_log_prob_differentiates_in_its_value():
    # a straight-through sample carries a gradient: log p(Y) is then differentiated through the MVHG pmf of the
    # row sums (lgamma in the counts) and the soft extension of the ordered-blocks term; the value is unchanged
    torch.manual_seed(0)
    n, num_subsets = 5, 3
    size_logits = torch.tensor([0.4, -0.2, 0.1], dtype=torch.float64)
    score_logits = torch.randn(n, dtype=torch.float64)
    d = DRPM(size_logits, score_logits)
    value = d.sample()
    value[:, 0] = torch.tensor([1.0, 0.0, 0.0])  # no empty subset, so every block but the last has a successor
    value[:, 1] = torch.tensor([0.0, 1.0, 0.0])
    value[:, 2] = torch.tensor([0.0, 0.0, 1.0])
    value.requires_grad_(True)
    log_prob = d.log_prob(value)
    (grad,) = torch.autograd.grad(log_prob, value)
    assert torch.allclose(log_prob.detach(), d.log_prob(value.detach()), atol=1e-12, rtol=0)

    weights = value.detach().clone().requires_grad_(True)
    counts, urn = weights.sum(-1), torch.full((num_subsets,), float(n), dtype=torch.float64)
    log_sizes = (
        torch.lgamma(urn + 1) - torch.lgamma(counts + 1) - torch.lgamma(urn - counts + 1) + counts * size_logits
    ).sum()
    reference = log_sizes + _soft_extension(score_logits, weights)
    (expected,) = torch.autograd.grad(reference, weights)
    assert torch.allclose(grad, expected, atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("method, seed", [("sample", 3), ("rsample", 4)])
def test_samplers_match_the_exact_pmf(method, seed):
    torch.manual_seed(seed)
    d = DRPM(
        torch.tensor([1.0, -0.5, 0.0], dtype=torch.float64),
        torch.tensor([2.0, -1.0, 0.5, 0.0], dtype=torch.float64),
        temperature=0.5,
    )
    values = getattr(d, method)(torch.Size((20000,)))
    assert d.support.check(values).all()
    support = d.enumerate_support()
    p_value = goodness_of_fit(sample_counts(values, support, 2), d.log_prob(support).exp())
    print(f"\nchi-square p-value of {method}: {p_value:.3f}")
    assert p_value > 1e-3


def test_rsample_relaxed_is_outside_the_support_but_differentiable():
    size_logits = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    score_logits = torch.randn(5, dtype=torch.float64, requires_grad=True)
    d = DRPM(size_logits, score_logits, temperature=0.5, hard=False)
    value = d.rsample(torch.Size((4,)))
    assert value.shape == (4, 3, 5) and torch.isfinite(value).all()
    assert not d.support.check(value).any()
    grads = torch.autograd.grad((value * torch.randn_like(value)).sum(), (size_logits, score_logits))
    assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)


_F = {
    "linear": lambda Y, weight, x: (Y * weight).sum((-1, -2)),
    "quadratic": lambda Y, weight, x: ((Y @ x) ** 2).sum(-1),
}


@pytest.mark.parametrize("f_name", sorted(_F))
def test_straight_through_gradient_bias(f_name):
    """ST gradient of E[f(Y)] against the exact gradient by enumeration (n = 5, K = 3). ST is biased; the test
    prints the bias and checks that, at temperatures up to 0.5, the estimate points the right way for both
    parameter sets."""
    torch.manual_seed(4)
    weight, x = torch.randn(3, 5, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    size0 = torch.tensor([0.5, -0.3, 0.0], dtype=torch.float64)
    score0 = torch.tensor([1.0, -0.5, 0.3, 0.0, -1.2], dtype=torch.float64)

    def f(Y):
        return _F[f_name](Y, weight, x)

    params = [size0.clone().requires_grad_(True), score0.clone().requires_grad_(True)]
    d = DRPM(*params)
    support = d.enumerate_support()
    exact = torch.autograd.grad((d.log_prob(support).exp() * f(support)).sum(), params)
    for temperature in (0.1, 0.5, 1.0):
        params = [size0.clone().requires_grad_(True), score0.clone().requires_grad_(True)]
        estimate = torch.autograd.grad(f(DRPM(*params, temperature=temperature).rsample((40000,))).mean(), params)
        report = []
        for name, g, g_exact in zip(("size", "score"), estimate, exact, strict=True):
            relative = ((g - g_exact).norm() / g_exact.norm()).item()
            cosine = torch.nn.functional.cosine_similarity(g, g_exact, dim=0).item()
            report.append(f"{name}: relative error {relative:.2f}, cosine {cosine:.2f}")
            assert cosine > 0.5 or temperature > 0.5
        print(f"\n{f_name} f, temperature {temperature}: " + "; ".join(report))


def test_score_function_gradient_is_unbiased():
    """With the exact log_prob, E[f(Y) d log p(Y)] is an unbiased gradient: compare with enumeration."""
    torch.manual_seed(5)
    weight = torch.randn(3, 4, dtype=torch.float64)
    params = [
        torch.tensor([0.4, -0.2, 0.1], dtype=torch.float64, requires_grad=True),
        torch.tensor([1.0, 0.0, -0.5, 0.3], dtype=torch.float64, requires_grad=True),
    ]
    d = DRPM(*params)
    support = d.enumerate_support()
    exact = torch.autograd.grad((d.log_prob(support).exp() * (support * weight).sum((-1, -2))).sum(), params)
    estimates = []
    for chunk in d.sample(torch.Size((20000,))).chunk(20):
        f = (chunk * weight).sum((-1, -2))
        # sum_s (f_s - mean f) d log p(Y_s) / (m - 1) is exactly unbiased, and the baseline cuts the variance
        centred = (f - f.mean()) / (len(chunk) - 1)
        estimates.append(torch.autograd.grad(d.log_prob(chunk), params, grad_outputs=centred))
    for index, g_exact in enumerate(exact):
        batch = torch.stack([e[index] for e in estimates])
        standard_error = batch.std(0) / math.sqrt(len(batch))
        assert ((batch.mean(0) - g_exact).abs() < 4 * standard_error).all()
        assert (standard_error < 0.2 * g_exact.abs().max()).all()  # the check has power


def test_size_dispersion_depends_on_the_urn():
    """The trade-off of the docstring: P(sizes = (4, 4, 4)) for K = 3, n = 12, equal logits grows as the urn
    shrinks, and is about 0.1 for the default urn of n balls per subset."""
    balanced = torch.tensor([4.0, 4.0, 4.0], dtype=torch.float64)
    probabilities = []
    for urn in (12.0, 8.0, 5.0, 4.0):
        d = DRPM(
            torch.zeros(3, dtype=torch.float64), torch.zeros(12, dtype=torch.float64), class_sizes=torch.full((3,), urn)
        )
        probabilities.append(d.sizes.log_prob(balanced).exp().item())
    assert all(a < b for a, b in zip(probabilities, probabilities[1:], strict=False))
    assert abs(probabilities[0] - 0.097) < 0.005 and probabilities[-1] == pytest.approx(1.0)


@pytest.mark.parametrize("device", DEVICES)
def test_float32_extremes_give_finite_gradients(device):
    torch.manual_seed(6)
    n, num_subsets = 4096, 10
    size_logits = (1e3 * torch.randn(num_subsets, device=device)).requires_grad_(True)
    signs = torch.where(torch.rand(n, device=device) < 0.5, -1.0, 1.0)
    score_logits = (1e3 * signs).requires_grad_(True)
    d = DRPM(size_logits, score_logits, temperature=1e-3)
    value = d.rsample()
    assert value.dtype == torch.float32 and d.support.check(value)
    log_prob = d.log_prob(value)
    assert torch.isfinite(log_prob)
    loss = (value * torch.randn_like(value)).sum() + log_prob
    grads = torch.autograd.grad(loss, (size_logits, score_logits))
    assert all(torch.isfinite(g).all() for g in grads)


def test_sample_and_log_prob_broadcast_over_batches():
    d = DRPM(torch.zeros(2, 1, 3), torch.randn(4, 5))
    assert d.batch_shape == (2, 4) and d.event_shape == (3, 5)
    value = d.sample(torch.Size((6,)))
    assert value.shape == (6, 2, 4, 3, 5)
    assert d.log_prob(value).shape == (6, 2, 4)
    assert d.log_prob(value[0, 0, 0]).shape == (2, 4)
    lower, upper = d.log_prob_bounds(value)
    assert lower.shape == upper.shape == (6, 2, 4)


def test_enumerate_support_refuses_large_sets():
    with pytest.raises(ValueError, match="enumerate_support"):
        DRPM(torch.zeros(4), torch.zeros(12)).enumerate_support()


def test_ordered_blocks_is_the_permutation_part():
    torch.manual_seed(7)
    d = DRPM(torch.randn(3, dtype=torch.float64), torch.randn(8, dtype=torch.float64))
    value = d.sample(torch.Size((5,)))
    expected = d.sizes.log_prob(value.sum(-1)) + log_prob_ordered_blocks(d.score_logits, value)
    assert torch.allclose(d.log_prob(value), expected, atol=0, rtol=0)


def test_staged_sample_matches_the_exact_pmf():
    """``fill_subsets(sizes.sample(), perturb_scores())``, the two stages drawn separately (the sample whose size
    stage a score-function estimator trains), follows the exact DRPM pmf."""
    torch.manual_seed(6)
    d = DRPM(
        torch.tensor([1.0, -0.5, 0.0], dtype=torch.float64),
        torch.tensor([2.0, -1.0, 0.5, 0.0], dtype=torch.float64),
        temperature=0.5,
    )
    sizes = d.sizes.sample(torch.Size((20000,)))
    values = d.fill_subsets(sizes, d.perturb_scores(torch.Size((20000,))))
    assert d.support.check(values).all()
    torch.testing.assert_close(values.sum(-1), sizes)
    support = d.enumerate_support()
    assert goodness_of_fit(sample_counts(values, support, 2), d.log_prob(support).exp()) > 1e-3
