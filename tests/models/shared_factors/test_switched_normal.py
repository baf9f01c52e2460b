"""SwitchedNormal: exact at a 0/1 mask, linear in the mask, gradients as the contrast of the two settings."""

import pyro.distributions as dist
import torch

from pyro_drpm.models.shared_factors.switched_normal import SwitchedNormal


def test_exact_at_a_binary_mask():
    mask = torch.tensor([1.0, 0.0, 1.0])
    loc_on, scale_on = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 2.0, 0.5])
    loc_off, scale_off = torch.tensor([-3.0, 4.0, 0.0]), torch.tensor([0.1, 0.3, 3.0])
    d = SwitchedNormal(mask, loc_on, scale_on, loc_off, scale_off)
    value = torch.randn(3)
    expected = torch.where(
        mask.bool(), dist.Normal(loc_on, scale_on).log_prob(value), dist.Normal(loc_off, scale_off).log_prob(value)
    )
    torch.testing.assert_close(d.log_prob(value), expected)
    torch.manual_seed(0)
    samples = d.rsample(torch.Size([20000]))
    torch.testing.assert_close(samples.mean(0), torch.where(mask.bool(), loc_on, loc_off), atol=0.05, rtol=0)


def test_gradient_in_the_mask_is_the_difference_of_the_two_settings():
    mask = torch.tensor([1.0], requires_grad=True)
    d = SwitchedNormal(mask, torch.zeros(1), torch.ones(1), torch.full((1,), 2.0), torch.ones(1))
    value = torch.tensor([0.5])
    d.log_prob(value).sum().backward()
    contrast = dist.Normal(0.0, 1.0).log_prob(value) - dist.Normal(2.0, 1.0).log_prob(value)
    torch.testing.assert_close(mask.grad, contrast)


def test_linear_in_a_fractional_mask():
    mask = torch.tensor([0.3, 0.8], requires_grad=True)
    loc_on, scale_on = torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.5])
    loc_off, scale_off = torch.tensor([2.0, -1.0]), torch.tensor([1.5, 2.0])
    value = torch.tensor([0.5, -0.2])
    on, off = dist.Normal(loc_on, scale_on).log_prob(value), dist.Normal(loc_off, scale_off).log_prob(value)
    log_prob = SwitchedNormal(mask, loc_on, scale_on, loc_off, scale_off).log_prob(value)
    torch.testing.assert_close(log_prob, mask.detach() * on + (1 - mask.detach()) * off)
    log_prob.sum().backward()
    torch.testing.assert_close(mask.grad, on - off)


def test_expand_keeps_the_parameters():
    d = SwitchedNormal(torch.ones(2), torch.zeros(2), torch.ones(2), torch.zeros(2), torch.ones(2)).expand([3, 2])
    assert d.batch_shape == (3, 2) and d.rsample().shape == (3, 2)
