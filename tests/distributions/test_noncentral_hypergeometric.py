"""What is special about the MVHG: exactness against independent oracles, the sampler's law, gradients, scale.

Oracles: brute-force enumeration of the Fisher pmf (math.md section 2), an exact log-space convolution of the
generating polynomials (O(K N^2), no FFT, no tilting), scipy's ``nchypergeom_fisher`` (K = 2) and
``multivariate_hypergeom`` (equal weights), and chi-square goodness of fit of samples against the exact pmf.
"""

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch.distributions import kl_divergence

import pyro_drpm
from pyro_drpm.distributions import MVHG, MultivariateNoncentralHypergeometric
from pyro_drpm.distributions import _generating_polynomials as gp
from pyro_drpm.distributions.testing import goodness_of_fit, merged_scheme_log_pmf, mvhg_log_pmf, sample_counts
from tests.conftest import DEVICES

F64 = torch.float64
SKEWED = (0.8, 0.1, 0.1)


def _tensor(values, dtype=F64):
    return torch.tensor(values, dtype=dtype)


def brute_force(sizes, total, logits):
    """All support points and their exact log pmf, straight from the formula (float64)."""
    return mvhg_log_pmf(sizes, total, logits)


def log_space_normaliser(sizes, total, logits):
    """``log [t^N] prod_k g_k(t)`` by direct log-sum-exp convolution (exact to rounding, O(K N^2))."""
    j = torch.arange(total + 1, dtype=F64)
    degree = j.long()
    shift = degree[:, None] - degree[None, :]

    def log_poly(m, a):
        m = torch.tensor(float(m), dtype=F64)
        log_binomial = torch.lgamma(m + 1) - torch.lgamma(j + 1) - torch.lgamma((m - j).clamp(min=0) + 1)
        return torch.where(j <= m, log_binomial + j * a, -math.inf)

    acc = log_poly(sizes[0], logits[0])
    for m, a in zip(sizes[1:], logits[1:], strict=True):
        poly = log_poly(m, a)
        shifted = torch.where(shift >= 0, poly[shift.clamp(min=0)], -math.inf)
        acc = torch.logsumexp(acc[None, :] + shifted, dim=-1)
    return acc


URNS = {
    "drpm-skewed-n12": ((12, 12, 12), 12, [math.log(w) for w in SKEWED]),
    "drpm-n6-k4": ((6, 6, 6, 6), 6, [0.3, -1.2, 2.0, 0.0]),
    "paper-figure": ((3, 5, 4), 5, [0.0, math.log(2), math.log(3)]),
    "empty-class-extreme-logits": ((0, 4, 3, 5), 6, [1.0, -50.0, 0.3, 50.0]),
    "nothing-drawn": ((4, 2), 0, [1.0, 2.0]),
    "everything-drawn": ((4, 2, 3), 9, [1.0, 2.0, -4.0]),
    "one-class": ((7,), 5, [0.4]),
}


@pytest.mark.parametrize("urn", list(URNS.values()), ids=list(URNS))
def test_pmf_matches_brute_force(urn):
    sizes, total, logits = urn
    points, expected = brute_force(sizes, total, logits)
    dist = MVHG(_tensor(sizes), _tensor(total), _tensor(logits))
    log_prob = dist.log_prob(points)
    assert (log_prob - expected).abs().max() < 1e-10
    assert (log_prob.exp() - expected.exp()).abs().max() < 1e-10
    assert abs(log_prob.logsumexp(0).item()) < 1e-10
    support = dist.enumerate_support()
    assert sorted(map(tuple, support.tolist())) == sorted(map(tuple, points.tolist()))


@pytest.mark.parametrize(
    "sizes, total, logits",
    [
        ((1500, 1500, 1500, 1500), 1500, [0.3, -2.0, 1.1, 4.0]),
        ((300, 2000, 50, 1000), 1800, [0.0, 2.0, -1.0, 5.0]),
        ((1000, 1000, 1000), 1000, [math.log(w) for w in SKEWED]),
        ((800, 800, 800), 800, [50.0, -50.0, 0.0]),
        ((0, 700, 900), 640, [0.0, -3.0, 3.0]),
    ],
)
def test_normaliser_matches_log_space_convolution(sizes, total, logits):
    """The FFT normaliser against exact log-space convolution, on urns far too large to enumerate."""
    exact = log_space_normaliser(sizes, total, _tensor(logits))[total]
    dist = MVHG(_tensor(sizes), total, _tensor(logits))
    assert abs(dist.log_normalizer().item() - exact.item()) < 1e-10


def test_suffix_products_match_log_space_convolution():
    """The sampler's conditionals use FFT suffix products: accurate wherever they carry probability."""
    sizes, total, logits = (400, 300, 500, 200), 600, _tensor([0.5, -1.0, 2.0, 0.0])
    dist = MVHG(_tensor(sizes), total, logits)
    plan = dist._plan
    _, log_suffix, _ = gp.suffix_log_pmfs(logits, _tensor(sizes), plan)
    degrees = torch.arange(total + 1)
    for k in range(len(sizes) - 1):
        tail_sizes, tail_logits = sizes[k + 1 :], logits[k + 1 :]
        exact = log_space_normaliser(tail_sizes, total, tail_logits)
        # tilt the exact coefficients like the FFT's factors: log P(S_{>k} = d)
        z = tail_logits + plan.lam
        exact = exact + degrees * plan.lam + (_tensor(tail_sizes) * torch.nn.functional.logsigmoid(-z)).sum()
        ours = plan.suffix[k].read(log_suffix[k], degrees, -math.inf)
        # absolute accuracy in units of the total mass: everywhere within the rounding floor ...
        assert (ours.exp() - exact.exp()).abs().max() < plan.floor
        # ... hence relative accuracy wherever the probability is not tiny
        bulk = exact > math.log(1e-6)
        assert bulk.sum() > 50
        assert (ours[bulk] - exact[bulk]).abs().max() < 1e-9


@pytest.mark.parametrize(
    "m1, m2, total, odds",
    [(300, 500, 400, 2.5), (2000, 1500, 1800, 0.3), (100, 900, 500, 10.0), (1000, 1000, 1000, 1.0)],
)
def test_matches_scipy_fisher_for_two_classes(m1, m2, total, odds):
    law = stats.nchypergeom_fisher(m1 + m2, m1, total, odds)
    x1 = np.arange(max(0, total - m2), min(m1, total) + 1)
    points = torch.tensor(np.stack([x1, total - x1], -1), dtype=F64)
    dist = MVHG(_tensor([m1, m2]), total, _tensor([math.log(odds), 0.0]))
    ours = dist.log_prob(points).exp().numpy()
    reference = law.pmf(x1)
    bulk = reference > 1e-12 * reference.max()
    assert np.abs(ours[bulk] / reference[bulk] - 1).max() < 1e-9
    assert abs(ours.sum() - 1) < 1e-10
    assert abs(dist.mean[0].item() / law.mean() - 1) < 1e-9
    assert abs(dist.variance[0].item() / law.var() - 1) < 1e-9


@pytest.mark.parametrize("sizes, total", [((8, 5, 7, 3), 10), ((300, 200, 500), 400)])
def test_matches_scipy_central_hypergeometric_for_equal_weights(sizes, total):
    dist = MVHG(_tensor(sizes), total, torch.full((len(sizes),), 0.7, dtype=F64))
    torch.manual_seed(0)
    points = dist.sample(torch.Size((500,)))
    reference = stats.multivariate_hypergeom.logpmf(points.long().numpy(), list(sizes), total)
    assert np.abs(dist.log_prob(points).numpy() - reference).max() < 1e-10
    mean = stats.multivariate_hypergeom.mean(list(sizes), total)
    assert np.abs(dist.mean.numpy() - mean).max() < 1e-9


CHI_SQUARE_URNS = {
    "drpm-skewed-n12": URNS["drpm-skewed-n12"],
    "empty-class-k4": ((5, 0, 7, 4), 8, [0.0, 3.0, -1.0, 1.5]),
}


@pytest.mark.parametrize("method", ["sample", "rsample"])
@pytest.mark.parametrize("urn", list(CHI_SQUARE_URNS.values()), ids=list(CHI_SQUARE_URNS))
def test_samples_follow_the_exact_pmf(urn, method):
    """Chi-square of 50,000 draws (sample, and rsample's forward value) against the exact pmf."""
    sizes, total, logits = urn
    points, log_pmf = brute_force(sizes, total, logits)
    dist = MVHG(_tensor(sizes), total, _tensor(logits), temperature=0.5)
    torch.manual_seed({"sample": 1, "rsample": 2}[method])  # sample and rsample use the same noise: separate seeds
    with torch.no_grad():
        draws = getattr(dist, method)(torch.Size((50_000,)))
    assert dist.support.check(draws).all()
    observed = sample_counts(draws, points, 1)
    p_value = goodness_of_fit(observed, log_pmf.exp())
    assert p_value > 1e-3, p_value
    if urn == URNS["drpm-skewed-n12"]:
        # Power: the same draws decisively reject the merged-class approximation of the released code.
        merged = merged_scheme_log_pmf(list(sizes), total, list(SKEWED), points).exp()
        assert goodness_of_fit(observed, merged) < 1e-20


def test_merged_scheme_is_exact_only_for_equal_merged_weights():
    """The released approximation (sanity of the power check above): exact when the merged weights are equal."""
    sizes, total = [12, 12, 12], 12
    points, log_pmf = brute_force(sizes, total, [math.log(w) for w in SKEWED])
    for order, exact in [((0, 1, 2), True), ((0, 2, 1), True), ((1, 0, 2), False), ((2, 1, 0), False)]:
        merged = merged_scheme_log_pmf(sizes, total, list(SKEWED), points, order)
        total_variation = (merged.exp() - log_pmf.exp()).abs().sum().item() / 2
        assert (total_variation < 1e-12) if exact else (total_variation > 0.1)
    merged = merged_scheme_log_pmf(sizes, total, list(SKEWED), points)
    assert (merged.exp() - log_pmf.exp()).abs().sum() / 2 > 0.03


@pytest.mark.parametrize("urn", list(URNS.values())[:4], ids=list(URNS)[:4])
def test_moments_entropy_and_log_prob_gradient_match_enumeration(urn):
    sizes, total, logits = urn
    points, log_pmf = brute_force(sizes, total, logits)
    probs = log_pmf.exp().unsqueeze(-1)
    a = _tensor(logits).requires_grad_(True)
    dist = MVHG(_tensor(sizes), total, a)
    mean = (probs * points).sum(0)
    assert (dist.mean - mean).abs().max() < 1e-10
    assert (dist.variance - (probs * (points - mean) ** 2).sum(0)).abs().max() < 1e-10
    assert abs(dist.entropy().item() + (log_pmf.exp() * log_pmf).sum().item()) < 1e-10
    # d log p(x) / d logits = x - E[x], exactly (autograd through the FFT normaliser)
    (grad,) = torch.autograd.grad(dist.log_prob(points[0]), a)
    assert (grad - (points[0] - mean)).abs().max() < 1e-10


def test_log_prob_gradient_is_exact_on_a_large_urn():
    """Autograd through the FFT normaliser against the independently computed exact mean (N = 3000, K = 6)."""
    torch.manual_seed(0)
    a = (2 * torch.randn(6, dtype=F64)).requires_grad_(True)
    dist = MVHG(torch.full((6,), 3000.0, dtype=F64), 3000, a)
    x = dist.sample()
    (grad,) = torch.autograd.grad(dist.log_prob(x), a)
    assert (grad - (x - dist.mean)).abs().max() < 1e-8
    assert abs(dist.mean.sum().item() - 3000) < 1e-8


def test_kl_divergence_matches_enumeration():
    sizes, total = (5, 3, 6, 4), 9
    p_logits, q_logits = [0.3, -1.0, 2.0, 0.0], [1.0, 0.5, -0.5, 0.2]
    points, log_p = brute_force(sizes, total, p_logits)
    _, log_q = brute_force(sizes, total, q_logits)
    p = MVHG(_tensor(sizes), total, _tensor(p_logits))
    q = MVHG(_tensor(sizes), total, _tensor(q_logits))
    expected = (log_p.exp() * (log_p - log_q)).sum()
    assert abs(kl_divergence(p, q).item() - expected.item()) < 1e-10
    assert abs(kl_divergence(p, p).item()) < 1e-10
    batched = MVHG(_tensor(sizes), total, torch.stack([_tensor(p_logits), _tensor(q_logits)]))
    assert kl_divergence(batched, q).shape == (2,)
    with pytest.raises(ValueError, match="same class_sizes"):
        kl_divergence(p, MVHG(_tensor((5, 3, 6, 5)), total, _tensor(q_logits)))


def test_logits_are_shift_invariant():
    sizes, total, logits = _tensor([9, 4, 7]), 10, _tensor([0.2, -1.0, 1.5])
    d1, d2 = MVHG(sizes, total, logits), MVHG(sizes, total, logits + 37.0)
    x = d1.sample(torch.Size((20,)))
    assert (d1.log_prob(x) - d2.log_prob(x)).abs().max() < 1e-10
    assert (d1.mean - d2.mean).abs().max() < 1e-10


def test_batched_urns_match_individual_distributions():
    sizes = _tensor([[5, 7, 3], [100, 0, 50], [2, 2, 2], [300, 300, 300]])
    totals = _tensor([6, 120, 0, 300])
    torch.manual_seed(0)
    logits = 3 * torch.randn(4, 3, dtype=F64)
    dist = MVHG(sizes, totals, logits)
    draws = dist.sample(torch.Size((200,)))
    assert dist.support.check(draws).all()
    assert (draws[:, 1, 1] == 0).all()  # an empty class is never drawn
    log_prob, mean = dist.log_prob(draws[:7]), dist.mean
    for b in range(4):
        single = MVHG(sizes[b], totals[b], logits[b])
        assert (single.log_prob(draws[:7, b]) - log_prob[:, b]).abs().max() < 1e-10
        assert (single.mean - mean[b]).abs().max() < 1e-10


def test_rsample_is_straight_through():
    a = _tensor([0.5, -0.5, 1.0, 0.0]).requires_grad_(True)
    dist = MVHG(_tensor([6, 6, 6, 6]), 6, a, temperature=0.5)
    value = dist.rsample(torch.Size((16,)))
    assert dist.support.check(value.detach()).all()
    assert torch.equal(value, value.round())
    (grad,) = torch.autograd.grad((value * torch.arange(4.0, dtype=F64)).sum(), a)
    assert torch.isfinite(grad).all() and (grad != 0).all()

    relaxed = MVHG(_tensor([6, 6, 6, 6]), 6, a, temperature=0.5, hard=False).rsample(torch.Size((16,)))
    assert torch.allclose(relaxed.sum(-1), torch.full((16,), 6.0, dtype=F64))
    assert not torch.equal(relaxed, relaxed.round())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("temperature", [1.0, 0.1, 1e-3])
@pytest.mark.parametrize("device", DEVICES)
def test_no_nan_at_extreme_logits_and_temperatures(dtype, temperature, device):
    cases = [
        ((10, 10, 10), 10, [50.0, -50.0, 0.0]),
        ((10, 0, 10, 5), 7, [-50.0, 50.0, 50.0, -50.0]),
        ((2000,) * 10, 2000, [float(v) for v in range(-45, 50, 10)]),
    ]
    torch.manual_seed(0)
    for sizes, total, logits in cases:
        for hard in (True, False):
            a = torch.tensor(logits, dtype=dtype, device=device, requires_grad=True)
            urn = torch.tensor(sizes, dtype=dtype, device=device)
            dist = MVHG(urn, total, a, temperature=temperature, hard=hard)
            value = dist.rsample(torch.Size((32,)))
            loss = (value * torch.randn_like(value)).sum() + dist.log_prob(dist.sample()).sum()
            loss = loss + dist.mean.sum() + dist.variance.sum() + dist.entropy()
            (grad,) = torch.autograd.grad(loss, a)
            assert torch.isfinite(value).all() and torch.isfinite(grad).all()
            if hard:
                assert dist.support.check(value).all()
                assert torch.isfinite(dist.log_prob(value)).all()


def test_unresolvable_conditionals_fall_back_inside_the_support():
    """If every tail coefficient were under the rounding floor (never seen in practice), draws stay valid."""
    a = _tensor([[0.5, -0.5, 1.0, 0.0], [2.0, 0.0, 0.0, 1.0]]).requires_grad_(True)
    dist = MVHG(_tensor([6, 0, 9, 6]), _tensor([6, 12]), a, temperature=0.5)
    dist._plan.floor = 1.0  # declare every suffix coefficient unresolvable
    value = dist.rsample(torch.Size((5,)))
    assert dist.support.check(value).all() and dist.support.check(dist.sample()).all()
    (grad,) = torch.autograd.grad((value**2).sum(), a)
    assert torch.isfinite(grad).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_urns_of_ten_thousand_balls_per_class(dtype):
    torch.manual_seed(0)
    sizes = torch.full((5,), 1e4, dtype=dtype)
    a = torch.tensor([0.0, 1.0, 2.0, -3.0, 0.5], dtype=dtype, requires_grad=True)
    dist = MVHG(sizes, 2e4, a, temperature=0.5)
    value = dist.rsample(torch.Size((4,)))
    assert value.dtype == dtype and dist.support.check(value).all()
    log_prob = dist.log_prob(value)
    (grad,) = torch.autograd.grad(log_prob.sum() + (value**2).sum(), a)
    assert torch.isfinite(log_prob).all() and torch.isfinite(grad).all()
    assert abs(dist.mean.sum().item() - 2e4) < 1e-6 * 2e4
    reference = MVHG(sizes.double(), 2e4, a.detach().double())
    assert torch.allclose(log_prob.double(), reference.log_prob(value.double()), rtol=1e-5, atol=1e-3)


def _gradient_bias(sizes, total, logits, f, temperature, samples=20_000, repeats=5):
    """Monte-Carlo bias of the straight-through gradient of E[f(x)], against the exact one (by enumeration)."""
    a = _tensor(logits).requires_grad_(True)
    dist = MVHG(_tensor(sizes), total, a)
    support = dist.enumerate_support()
    (exact,) = torch.autograd.grad((f(support) * dist.log_prob(support).exp()).sum(), a)
    estimates = []
    for _ in range(repeats):
        relaxed = MVHG(_tensor(sizes), total, a, temperature=temperature)
        (grad,) = torch.autograd.grad(f(relaxed.rsample(torch.Size((samples,)))).mean(), a)
        estimates.append(grad)
    estimates = torch.stack(estimates)
    bias = (estimates.mean(0) - exact).norm() / exact.norm()
    standard_error = (estimates.std(0) / math.sqrt(repeats)).norm() / exact.norm()
    return bias.item(), standard_error.item()


def test_straight_through_gradient_bias_falls_with_temperature():
    """Relative bias of the rsample gradient of E[c . x^2] on a DRPM-like urn (K = 3, n = 6), vs enumeration.

    Measured (20,000 x 5 samples per temperature): ~0.23 at 2.0, ~0.10 at 1.0, ~0.06 at 0.5, then a plateau of
    ~0.05-0.06 down to 0.05 (the straight-through bias of a sequential sampler does not vanish as the temperature
    falls; variance grows instead). We assert the fall from 2.0 to 0.5 and the plateau's level.
    """
    torch.manual_seed(0)
    c = _tensor([1.0, -0.5, 0.25])

    def f(x):
        return (x**2 * c).sum(-1)

    urn = ((6, 6, 6), 6, [math.log(w) for w in (0.5, 0.3, 0.2)])
    bias = {t: _gradient_bias(*urn, f, t) for t in (2.0, 1.0, 0.5, 0.1)}
    (b2, s2), (b1, s1), (b05, s05), (b01, s01) = (bias[t] for t in (2.0, 1.0, 0.5, 0.1))
    assert b2 > b1 + 4 * (s2 + s1)
    assert b1 > b05 + 4 * (s1 + s05)
    assert b05 < 0.1 and b01 < 0.1 + 4 * s01


def test_bad_arguments_raise_value_errors_naming_them():
    sizes, logits = _tensor([3, 4]), _tensor([0.0, 1.0])
    for kwargs, name in [
        ({"class_sizes": _tensor([-1, 4])}, "class_sizes"),
        ({"class_sizes": _tensor([1.5, 4])}, "class_sizes"),
        ({"class_sizes": _tensor([3, 4, 5])}, "class_sizes"),
        ({"total_count": -1}, "total_count"),
        ({"total_count": 2.5}, "total_count"),
        ({"total_count": 8}, "total_count"),
        ({"logits": _tensor([math.nan, 0.0])}, "logits"),
        ({"logits": _tensor([-math.inf, 0.0])}, "logits"),
        ({"temperature": -1.0}, "temperature"),
    ]:
        arguments = {"class_sizes": sizes, "total_count": 5, "logits": logits, **kwargs}
        with pytest.raises(ValueError, match=name):
            MVHG(**arguments, validate_args=True)
        if name != "class_sizes" or len(kwargs["class_sizes"]) == 2:  # a value, not a shape, error
            MVHG(**arguments, validate_args=False)  # value checks run only under validation


def test_values_outside_the_support():
    dist = MVHG(_tensor([3, 4, 5]), 6, _tensor([0.0, 1.0, -1.0]), validate_args=True)
    lax = MVHG(_tensor([3, 4, 5]), 6, _tensor([0.0, 1.0, -1.0]), validate_args=False)
    for value in ([-1, 2, 5], [0.5, 0.5, 5], [4, 2, 0], [1, 1, 1]):  # sign, integer, class size, total
        with pytest.raises(ValueError, match="value"):
            dist.log_prob(_tensor(value))
        assert lax.log_prob(_tensor(value)).item() == -math.inf


def test_exports_and_alias():
    assert MVHG is MultivariateNoncentralHypergeometric
    assert pyro_drpm.MVHG is MVHG and pyro_drpm.MultivariateNoncentralHypergeometric is MVHG
    assert MVHG.has_rsample and not MVHG.has_enumerate_support
