"""AssignedNormal: the Gaussian of each element's assigned cluster, linear in the assignment; its KL."""

import pyro
import pytest
import torch

from pyro_drpm.distributions import (
    AssignedNormal,
    diagonal_normal_log_density,
    normal_log_density,
    precision_diagonal,
)


def test_assigned_normal_is_the_gaussian_of_the_assigned_cluster():
    locs = torch.tensor([[0.0, 1.0], [5.0, -1.0]])
    scales = torch.tensor([[1.0, 2.0], [0.5, 0.5]])
    Y = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    d = AssignedNormal(Y, locs, scales)
    assert d.batch_shape == (3,) and d.event_shape == (2,)
    z = torch.randn(3, 2)
    expected = torch.distributions.Normal(locs[[0, 1, 0]], scales[[0, 1, 0]]).log_prob(z).sum(-1)
    torch.testing.assert_close(d.log_prob(z), expected)
    torch.testing.assert_close(
        diagonal_normal_log_density(z, locs, scales).gather(-1, torch.tensor([[0], [1], [0]])).squeeze(-1), expected
    )
    assert d.rsample().shape == (3, 2) and d.expand((3,)).batch_shape == (3,)


def test_meanfield_kl_matches_the_assigned_gaussian():
    locs = torch.randn(3, 2)
    scales = torch.rand(3, 2) + 0.5
    Y = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    guide = pyro.distributions.Normal(torch.randn(4, 2), torch.rand(4, 2) + 0.3).to_event(1)
    labels = Y.argmax(0)
    expected = torch.distributions.kl_divergence(
        guide, pyro.distributions.Normal(locs[labels], scales[labels]).to_event(1)
    )
    torch.testing.assert_close(torch.distributions.kl_divergence(guide, AssignedNormal(Y, locs, scales)), expected)


def _cholesky_factors(k, d, generator):
    a = torch.randn(k, d, d, generator=generator, dtype=torch.float64)
    return torch.linalg.cholesky(a @ a.transpose(-1, -2) + 0.5 * torch.eye(d, dtype=torch.float64))


def test_full_covariance_density_and_precision_diagonal_match_torch():
    g = torch.Generator().manual_seed(0)
    locs, factors = torch.randn(3, 4, generator=g, dtype=torch.float64), _cholesky_factors(3, 4, g)
    z = torch.randn(2, 5, 4, generator=g, dtype=torch.float64)  # a batch dimension in front of the points
    expected = torch.distributions.MultivariateNormal(locs, scale_tril=factors).log_prob(z.unsqueeze(-2))
    torch.testing.assert_close(normal_log_density(z, locs, factors), expected, atol=1e-12, rtol=0)
    precision = torch.linalg.inv(factors @ factors.transpose(-1, -2))
    torch.testing.assert_close(precision_diagonal(factors), precision.diagonal(dim1=-2, dim2=-1))
    # diagonal scales take the diagonal path: the same numbers as Cholesky factors diag(sigma)
    scales = torch.rand(3, 4, generator=g, dtype=torch.float64) + 0.5
    torch.testing.assert_close(
        normal_log_density(z, locs, scales), normal_log_density(z, locs, torch.diag_embed(scales))
    )
    torch.testing.assert_close(precision_diagonal(scales), scales.pow(-2))


def test_assigned_normal_with_full_covariances():
    g = torch.Generator().manual_seed(1)
    locs, factors = torch.randn(2, 3, generator=g, dtype=torch.float64), _cholesky_factors(2, 3, g)
    Y = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]], dtype=torch.float64)
    d = AssignedNormal(Y, locs, factors)
    z = torch.randn(4, 3, generator=g, dtype=torch.float64)
    labels = Y.argmax(0)
    expected = torch.distributions.MultivariateNormal(locs[labels], scale_tril=factors[labels]).log_prob(z)
    torch.testing.assert_close(d.log_prob(z), expected)
    # the samples of each element have its cluster's mean and covariance
    torch.manual_seed(2)
    samples = d.rsample((40000,))  # (S, 4, 3)
    for i, k in enumerate(labels.tolist()):
        torch.testing.assert_close(samples[:, i].mean(0), locs[k], atol=0.05, rtol=0)
        covariance = torch.cov(samples[:, i].T)
        torch.testing.assert_close(covariance, factors[k] @ factors[k].T, atol=0.1, rtol=0.03)
    # no closed-form mean-field KL for full covariances: Pyro's TraceMeanField_ELBO then samples the term
    guide = pyro.distributions.Normal(torch.zeros(4, 3), torch.ones(4, 3)).to_event(1)
    with pytest.raises(NotImplementedError):
        torch.distributions.kl_divergence(guide, d)
