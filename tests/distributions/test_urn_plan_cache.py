"""The MVHG's urn plan is reused across distributions with the same urn and logits, and only then."""

import torch

from pyro_drpm.distributions import MultivariateNoncentralHypergeometric
from pyro_drpm.distributions import _generating_polynomials as gp


def _mvhg(logits):
    return MultivariateNoncentralHypergeometric(torch.full((3,), 20.0), torch.tensor(20.0), logits)


def test_plan_is_shared_by_equal_parameters_and_rebuilt_for_new_ones():
    logits = torch.tensor([0.3, -1.0, 0.5])
    first, second = _mvhg(logits), _mvhg(logits.clone())
    assert first._plan is second._plan
    other = _mvhg(logits + 1e-3)
    assert other._plan is not first._plan
    value = torch.tensor([5.0, 5.0, 10.0])
    assert torch.equal(first.log_prob(value), second.log_prob(value))
    expected = gp.make_plan(*other._float64())  # a cached plan equals a fresh one
    assert torch.equal(other._plan.counts, expected.counts) and torch.equal(other._plan.lam, expected.lam)


def test_cache_is_bounded():
    for shift in range(2 * gp._PLAN_CACHE_SIZE):
        _ = _mvhg(torch.tensor([0.1 * shift, 0.0, 0.0]))._plan
    assert len(gp._PLAN_CACHE) <= gp._PLAN_CACHE_SIZE
