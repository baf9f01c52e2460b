"""AssignedNormal: the Gaussian of each element's assigned cluster, linear in the assignment; its KL."""

import pyro
import torch

from pyro_drpm.distributions import AssignedNormal, diagonal_normal_log_density


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
