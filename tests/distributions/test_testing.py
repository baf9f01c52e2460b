"""The shared testing tools: the goodness-of-fit helper against scipy, and its power."""

import numpy as np
import pytest
import torch
from scipy import stats

from pyro_drpm.distributions import MVHG, PlackettLuce
from pyro_drpm.distributions.testing import goodness_of_fit, mvhg_log_pmf, sample_counts


def test_goodness_of_fit_is_pearson_chi_square():
    counts = torch.tensor([30.0, 18.0, 52.0, 0.0, 3.0])
    probs = torch.tensor([0.3, 0.2, 0.44, 0.01, 0.05], dtype=torch.float64)
    # scipy's test after pooling the two cells whose expected count is under 5 (1.03 and 5.15 -> only the first)
    expected = probs.numpy() * 103
    pooled_obs = np.array([30.0, 18.0, 52.0, 3.0])
    pooled_exp = np.array([expected[0], expected[1], expected[2], expected[4]])
    reference = stats.chisquare(pooled_obs, pooled_exp * pooled_obs.sum() / pooled_exp.sum()).pvalue
    assert goodness_of_fit(counts, probs) == pytest.approx(reference, rel=1e-9)


def test_goodness_of_fit_has_power_against_a_wrong_law():
    torch.manual_seed(0)
    d = PlackettLuce(torch.tensor([1.0, 0.0, -0.5], dtype=torch.float64))
    support = d.enumerate_support()
    counts = sample_counts(d.sample(torch.Size((4000,))), support, 2)
    assert goodness_of_fit(counts, d.log_prob(support).exp()) > 1e-3
    wrong = PlackettLuce(torch.tensor([0.8, 0.0, -0.5], dtype=torch.float64))
    assert goodness_of_fit(counts, wrong.log_prob(support).exp()) < 1e-6


def test_sample_counts_rejects_samples_outside_the_support():
    support = torch.eye(2)
    with pytest.raises(ValueError, match="outside the support"):
        sample_counts(torch.ones(3, 2), support, 1)


def test_mvhg_oracle_matches_the_distribution():
    points, log_pmf = mvhg_log_pmf([3, 0, 2], 3, [0.5, 1.0, -1.0])
    d = MVHG(torch.tensor([3.0, 0.0, 2.0], dtype=torch.float64), 3, torch.tensor([0.5, 1.0, -1.0], dtype=torch.float64))
    torch.testing.assert_close(d.log_prob(points), log_pmf, rtol=0, atol=1e-12)
