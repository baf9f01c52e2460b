"""ChineseRestaurantProcess against exact oracles: sequential seating over every labelled partition, a
restricted-growth-string enumeration of set partitions for the truncation mass, and a chi-square test of the
sampler."""

import math

import pytest
import torch

from pyro_drpm.distributions.chinese_restaurant_process import ChineseRestaurantProcess
from pyro_drpm.distributions.testing import crp_log_probs, goodness_of_fit, sample_counts
from tests.conftest import DEVICES


@pytest.mark.parametrize("n, num_subsets, alpha", [(4, 4, 1.0), (5, 2, 1.5), (6, 3, 0.3), (5, 7, 2.0), (1, 1, 0.5)])
def test_log_prob_matches_sequential_seating(n, num_subsets, alpha):
    crp = ChineseRestaurantProcess(torch.tensor(alpha, dtype=torch.float64), num_subsets, n)
    support = crp.enumerate_support()  # itertools.product order, as the oracle
    mass, expected = crp_log_probs(num_subsets, n, alpha)
    log_prob = crp.log_prob(support)
    assert torch.allclose(log_prob, expected, atol=1e-12, rtol=0)
    assert abs(float(log_prob.logsumexp(0))) < 1e-12
    assert abs(float(crp.log_truncation_mass().exp()) - mass) < 1e-12


def test_untruncated_block_count_follows_the_stirling_law():
    # with K >= n the truncation mass is 1 and P(m) = |s(n, m)| alpha^m Gamma(alpha) / Gamma(alpha + n)
    n, alpha = 6, 0.8
    crp = ChineseRestaurantProcess(torch.tensor(alpha, dtype=torch.float64), n, n)
    assert abs(float(crp.log_truncation_mass())) < 1e-12
    stirling = [[1]]  # unsigned Stirling numbers of the first kind, exact integers
    for i in range(n):
        row = [0] * (i + 2)
        for j, value in enumerate(stirling[i]):
            row[j] += i * value
            row[j + 1] += value
        stirling.append(row)
    support = crp.enumerate_support()
    blocks = (support.sum(-1) > 0).sum(-1)
    probabilities = crp.log_prob(support).exp()
    for m in range(1, n + 1):
        expected = stirling[n][m] * alpha**m * math.gamma(alpha) / math.gamma(alpha + n)
        assert abs(float(probabilities[blocks == m].sum()) - expected) < 1e-12


@pytest.mark.parametrize("n, num_subsets, alpha", [(5, 2, 1.5), (6, 3, 0.3), (4, 5, 3.0)])
def test_sampler_goodness_of_fit(n, num_subsets, alpha):
    torch.manual_seed(0)
    crp = ChineseRestaurantProcess(torch.tensor(alpha, dtype=torch.float64), num_subsets, n)
    support = crp.enumerate_support()
    samples = crp.sample(torch.Size((20_000,)))
    p_value = goodness_of_fit(sample_counts(samples, support, 2), crp.log_prob(support).exp())
    assert p_value > 1e-3


def test_gradients_in_concentration_and_value():
    alpha = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    crp = ChineseRestaurantProcess(alpha, 3, 6)
    value = crp.sample()
    torch.autograd.gradcheck(lambda a: ChineseRestaurantProcess(a, 3, 6).log_prob(value), (alpha,))
    # a value carrying a gradient: d log p / d Y_ki = digamma(n_k) on the non-empty rows (lgamma of the counts)
    value = torch.tensor([[1.0, 1.0, 0.0, 0.0, 1.0, 0.0], [0.0] * 6, [0.0, 0.0, 1.0, 1.0, 0.0, 1.0]])
    value = value.double().requires_grad_(True)
    (grad,) = torch.autograd.grad(crp.log_prob(value), value)
    expected = torch.tensor([math.nan, 0.0, math.nan], dtype=torch.float64)
    expected[0], expected[2] = torch.digamma(torch.tensor(3.0)), torch.digamma(torch.tensor(3.0))
    assert torch.allclose(grad, expected.unsqueeze(-1).expand(3, 6))


@pytest.mark.parametrize("device", DEVICES)
def test_large_sets_stay_finite_in_float32(device):
    alpha = torch.tensor(1.0, device=device, requires_grad=True)
    crp = ChineseRestaurantProcess(alpha, 10, 256)
    samples = crp.sample(torch.Size((3,)))
    assert samples.dtype == torch.float32 and (samples.sum(-2) == 1).all()
    assert (samples.sum(-1) > 0).sum(-1).le(10).all()
    log_prob = crp.log_prob(samples)
    (grad,) = torch.autograd.grad(log_prob.sum(), alpha)
    assert torch.isfinite(log_prob).all() and torch.isfinite(grad)
