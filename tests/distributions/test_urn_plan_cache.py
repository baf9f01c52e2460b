"""The MVHG's urn plan is reused across distributions with the same urn and logits, and only then."""

import pytest
import torch

from pyro_drpm.distributions import MultivariateNoncentralHypergeometric, UrnPlanCache
from pyro_drpm.distributions import _generating_polynomials as gp
from pyro_drpm.distributions.testing import mvhg_log_pmf


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


# -- UrnPlanCache: one urn's plan kept while its logits move (a learned prior) -----------------------------------

F64 = torch.float64


def _log_space_normaliser(sizes, total, logits):
    """``log [t^N] prod_k (1 + w_k t)^{m_k}`` by log-sum-exp convolution (no FFT, no tilt, no windows)."""
    j = torch.arange(total + 1, dtype=F64)
    acc = None
    for m, a in zip(sizes, logits.tolist(), strict=True):
        m = torch.tensor(float(m), dtype=F64)
        log_binomial = torch.lgamma(m + 1) - torch.lgamma(j + 1) - torch.lgamma((m - j).clamp(min=0) + 1)
        poly = torch.where(j <= m, log_binomial + j * a, -float("inf"))
        if acc is None:
            acc = poly
            continue
        shift = j.long()[:, None] - j.long()[None, :]
        acc = torch.logsumexp(acc[None, :] + torch.where(shift >= 0, poly[shift.clamp(min=0)], -float("inf")), -1)
    return acc[total].item()


def _random_walk(steps, num_classes, step_size, seed):
    generator = torch.Generator().manual_seed(seed)
    start = torch.randn(num_classes, generator=generator, dtype=F64)
    return start + (step_size * torch.randn(steps, num_classes, generator=generator, dtype=F64)).cumsum(0)


def test_a_plan_with_margins_covers_its_own_logits_and_gives_the_same_normaliser():
    # an urn large enough for windows narrower than the urn (small urns' windows already span every count)
    sizes, total = torch.full((6,), 5000.0, dtype=F64), torch.tensor(5000.0, dtype=F64)
    logits = torch.tensor([0.5, -1.0, 2.0, 0.0, -3.0, 1.0], dtype=F64)
    fresh, wide = gp.make_plan(logits, sizes, total), gp.make_plan(logits, sizes, total, margins=True)
    assert gp.covers(fresh, logits, sizes, total) and gp.covers(wide, logits, sizes, total)
    assert (wide.counts[..., 0] <= fresh.counts[..., 0]).all() and wide.counts.shape[-1] > fresh.counts.shape[-1]
    assert wide.fft_len >= fresh.fft_len
    a = gp.log_normalizer(logits, sizes, total, fresh).item()
    b = gp.log_normalizer(logits, sizes, total, wide).item()
    assert abs(a - b) <= 1e-13 * abs(a)


def test_reused_plans_give_the_exact_normaliser_and_gradient_along_a_training_path():
    """Logits that drift as in training: the cache keeps its plan for many steps, and every value and gradient
    equals the log-space convolution (value) and a fresh plan's (gradient) to rounding."""
    n, num_classes = 150, 5
    sizes, total = torch.full((num_classes,), float(n), dtype=F64), torch.tensor(float(n), dtype=F64)
    cache, plans = UrnPlanCache(), set()
    for logits in _random_walk(200, num_classes, 2e-3, seed=0):
        plan = cache.plan(logits, sizes, total)
        plans.add(id(plan))
        assert gp.covers(plan, logits, sizes, total)
        leaf = logits.clone().requires_grad_()
        value = gp.log_normalizer(leaf, sizes, total, plan)
        (gradient,) = torch.autograd.grad(value, leaf)
        fresh = logits.clone().requires_grad_()
        (expected,) = torch.autograd.grad(
            gp.log_normalizer(fresh, sizes, total, gp.make_plan(logits, sizes, total)), fresh
        )
        exact = _log_space_normaliser([n] * num_classes, n, logits)
        assert abs(value.item() - exact) <= 1e-12 * abs(exact)
        assert torch.allclose(gradient, expected, rtol=1e-12, atol=1e-12)
    assert len(plans) <= 20  # reused: far fewer plans than steps


def test_a_plan_that_no_longer_covers_the_logits_is_replaced():
    sizes, total = torch.full((3,), 40.0, dtype=F64), torch.tensor(40.0, dtype=F64)
    cache = UrnPlanCache()
    logits = torch.tensor([0.0, 1.0, -1.0], dtype=F64)
    first = cache.plan(logits, sizes, total)
    assert cache.plan(logits + 1e-4, sizes, total) is first
    moved = logits + torch.tensor([6.0, -6.0, 0.0], dtype=F64)
    assert not gp.covers(first, moved, sizes, total)
    second = cache.plan(moved, sizes, total)
    assert second is not first and gp.covers(second, moved, sizes, total)
    exact = _log_space_normaliser([40, 40, 40], 40, moved)
    assert abs(gp.log_normalizer(moved, sizes, total, second).item() - exact) <= 1e-12 * abs(exact)


def test_the_cache_keys_on_the_urn_and_stays_bounded():
    cache = UrnPlanCache(capacity=2)
    logits = torch.zeros(3, dtype=F64)
    plans = [
        cache.plan(logits, torch.full((3,), float(m), dtype=F64), torch.tensor(10.0, dtype=F64)) for m in (10, 11, 12)
    ]
    assert len({id(p) for p in plans}) == 3 and len(cache._plans) == 2


def test_a_copied_or_pickled_cache_starts_empty():
    import copy
    import pickle

    cache = UrnPlanCache()
    cache.plan(torch.zeros(2, dtype=F64), torch.full((2,), 5.0, dtype=F64), torch.tensor(5.0, dtype=F64))
    assert len(copy.deepcopy(cache)._plans) == 0 and len(pickle.loads(pickle.dumps(cache))._plans) == 0


def test_mvhg_log_prob_with_a_plan_cache_equals_the_plain_log_prob():
    cache = UrnPlanCache()
    sizes, total = torch.full((4,), 30.0), torch.tensor(30.0)
    value = torch.tensor([10.0, 5.0, 7.0, 8.0])
    for logits in _random_walk(30, 4, 1e-2, seed=1).float():
        cached = MultivariateNoncentralHypergeometric(sizes, total, logits, plan_cache=cache).log_prob(value)
        plain = MultivariateNoncentralHypergeometric(sizes, total, logits).log_prob(value)
        assert torch.allclose(cached, plain, rtol=1e-6, atol=0)  # float32 results: equal to the last bits
    assert len(cache._plans) == 1


def test_the_drpm_prior_keeps_its_plan_from_step_to_step():
    from pyro_drpm.partitions import DRPMPrior

    # 400 elements in 4 subsets: the windows are narrower than the urn, so reuse is not trivial
    n = 400
    prior = DRPMPrior(4, dtype=F64)
    value = torch.nn.functional.one_hot(torch.arange(n) % 4, 4).T.to(F64)
    generator = torch.Generator().manual_seed(0)
    plans = set()
    for _ in range(20):
        with torch.no_grad():
            prior.size_logits.add_(2e-3 * torch.randn(4, generator=generator))
        distribution = prior(n)
        reference = distribution.sizes.log_normalizer().item()  # uses the cache
        assert distribution.sizes.plan_cache is prior.plan_cache
        plan = distribution.sizes._normalizer_plan
        assert (plan.counts[..., -1] - plan.counts[..., 0] < n).all()
        plans.add(id(plan))
        logits = prior.size_logits.detach().to(F64)
        fresh = MultivariateNoncentralHypergeometric(torch.full((4,), float(n), dtype=F64), float(n), logits)
        assert abs(reference - fresh.log_normalizer().item()) <= 1e-13 * max(1.0, abs(reference))
        assert torch.isfinite(distribution.log_prob(value))
    assert len(plans) == 1


def test_a_prior_pickled_without_a_plan_cache_gets_one():
    from pyro_drpm.partitions import DRPMPrior

    prior = DRPMPrior(3)
    del prior.__dict__["_plan_cache"]  # as a prior saved before the cache existed
    partition = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 0, 1]), 3).T.float()
    assert torch.isfinite(prior(5).log_prob(partition))
    assert isinstance(prior.plan_cache, UrnPlanCache)


def _autograd_gradient(logits, sizes, total, plan):
    """The gradient of log P0 by autograd through the FFT product (the pre-``_LogNormalizer`` computation)."""
    leaf = logits.clone().requires_grad_()
    (gradient,) = torch.autograd.grad(gp._log_normalizer_value(leaf, sizes, total, plan)[0].sum(), leaf)
    return gradient


URNS_FOR_GRADIENTS = [  # (class sizes, total, logits)
    ([256.0] * 10, 256.0, [0.0] * 10),
    ([300.0, 2000.0, 50.0, 1000.0], 1800.0, [0.0, 2.0, -1.0, 5.0]),
    ([800.0, 800.0, 800.0], 800.0, [50.0, -50.0, 0.0]),
    ([0.0, 700.0, 900.0], 640.0, [0.0, -3.0, 3.0]),
    ([5.0, 5.0], 10.0, [0.3, -0.2]),  # everything drawn
    ([4.0, 2.0, 3.0], 0.0, [1.0, 2.0, -4.0]),  # nothing drawn
    ([7.0], 5.0, [0.4]),  # one class
]


@pytest.mark.parametrize("urn", URNS_FOR_GRADIENTS)
def test_the_normaliser_gradient_is_the_exact_mean(urn):
    """``_LogNormalizer``'s backward (the MVHG mean from leave-one-out products) against autograd through the
    FFT product and against the mean of the exact marginals, with fresh and with reused (stale) plans."""
    sizes, total, logits = (torch.tensor(v, dtype=F64) for v in urn)
    for plan_logits in (logits, logits + 0.01 * torch.arange(len(urn[0]), dtype=F64)):
        plan = gp.make_plan(plan_logits, sizes, total, margins=True)
        assert gp.covers(plan, logits, sizes, total)
        leaf = logits.clone().requires_grad_()
        (gradient,) = torch.autograd.grad(gp.log_normalizer(leaf, sizes, total, plan), leaf)
        reference = _autograd_gradient(logits, sizes, total, plan)
        torch.testing.assert_close(gradient, reference, rtol=1e-11, atol=1e-9)
        mean = MultivariateNoncentralHypergeometric(sizes, total, logits).mean
        torch.testing.assert_close(gradient, mean, rtol=1e-11, atol=1e-9)


def test_the_normaliser_gradient_on_a_batch_along_a_training_path():
    sizes = torch.full((3, 6), 120.0, dtype=F64)
    sizes[1, 2] = 0.0
    total = torch.tensor([120.0, 60.0, 300.0], dtype=F64)
    cache = UrnPlanCache()
    walk = _random_walk(60, 6, 5e-3, seed=3)
    for logits in walk:
        batch = torch.stack([logits, 2 * logits, -logits])
        plan = cache.plan(batch, sizes, total)
        leaf = batch.clone().requires_grad_()
        value = gp.log_normalizer(leaf, sizes, total, plan)
        (gradient,) = torch.autograd.grad((value * torch.tensor([1.0, -2.0, 0.5], dtype=F64)).sum(), leaf)
        weights = torch.tensor([[1.0], [-2.0], [0.5]], dtype=F64)
        reference = _autograd_gradient(batch, sizes, total, plan) * weights
        torch.testing.assert_close(gradient, reference, rtol=1e-11, atol=1e-9)
        assert torch.equal(value.detach(), gp.log_normalizer(batch, sizes, total, plan))  # same forward
        # and both equal what a fresh plan gives: the value, and the gradient as the exact marginals' mean
        fresh = gp.make_plan(batch, sizes, total)
        torch.testing.assert_close(value.detach(), gp.log_normalizer(batch, sizes, total, fresh), rtol=1e-13, atol=0)
        mean = MultivariateNoncentralHypergeometric(sizes, total, batch).mean
        torch.testing.assert_close(gradient, mean * weights, rtol=1e-11, atol=1e-9)
    assert len(cache._plans) == 1  # one urn, and its plan was reused or replaced in place


def test_second_derivatives_through_the_normaliser_are_the_covariance():
    """Under ``create_graph`` the backward's mean is differentiable: the Hessian of log P0 is Cov(x)."""
    sizes, total = torch.full((3,), 6.0, dtype=F64), torch.tensor(6.0, dtype=F64)
    logits = torch.tensor([0.2, -0.1, 0.3], dtype=F64)
    plan = gp.make_plan(logits, sizes, total)
    hessian = torch.autograd.functional.hessian(lambda x: gp.log_normalizer(x, sizes, total, plan), logits)
    reference = torch.autograd.functional.hessian(lambda x: gp._log_normalizer_value(x, sizes, total, plan)[0], logits)
    torch.testing.assert_close(hessian, reference, rtol=1e-11, atol=1e-12)
    points, log_pmf = mvhg_log_pmf((6, 6, 6), 6, logits.tolist())
    probs = log_pmf.exp().unsqueeze(-1)
    centred = points - (probs * points).sum(0)
    torch.testing.assert_close(hessian, (probs * centred).T @ centred, rtol=1e-10, atol=1e-12)


def test_the_counts_get_no_gradient_from_the_normaliser():
    """``sizes`` and ``total`` are counts: the value's gradient to them does not depend on whether the logits
    require grad (the tilt would otherwise leak a spurious ``d/dN``)."""
    from pyro_drpm.partitions import DRPMPrior

    gradients = []
    for learn in (True, False):
        prior = DRPMPrior(3, size_logits=torch.tensor([0.5, -0.3, 0.0]), learn_size_logits=learn, dtype=F64)
        sizes = torch.tensor([[4.0, 3.0, 5.0]], dtype=F64, requires_grad=True)
        (gradient,) = torch.autograd.grad(prior.log_prob_sizes(sizes).sum(), sizes)
        gradients.append(gradient)
    torch.testing.assert_close(gradients[0], gradients[1], rtol=0, atol=0)
