"""Property-based tests of every distribution (hypothesis): support, shapes, log_prob, gradients, round trips.

The default profile tries a few examples per property on every run; ``HYPOTHESIS_PROFILE=thorough`` many more.
"""

from __future__ import annotations

import io
import itertools
import pickle

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from tests.property.strategies import distributions, off_support

SAMPLE_SHAPES = st.sampled_from([(), (2,), (0,), (2, 1)])
SEEDS = st.integers(0, 2**31 - 1)  # every example seeds torch, so that hypothesis can replay a failure


def _tolerance(drawn, dist) -> float:
    """Absolute tolerance for two computations of one log-probability that only round differently (a batched
    FFT or reduction against per-element ones, or a probability-one outcome against 0).

    A log-probability is a sum of terms as large as (elements) x (largest logit): e.g. MVHG logits -189 with 3
    balls drawn give terms near -567 that cancel to 1e-13. We allow 64 eps of that magnitude; the rounding
    measured is 1-2 eps of it.
    """
    tensors = [v for v in drawn.kwargs.values() if isinstance(v, torch.Tensor) and v.numel()]
    largest = max((float(v.abs().max()) for v in tensors), default=0.0)
    dtype = _dtype(dist)
    return 64 * torch.finfo(dtype).eps * (1.0 + dist.event_shape.numel() * largest)


def _scored_sample(drawn, seed):
    """The distribution, one exact sample (drawn with ``seed``) and its log-probability."""
    torch.manual_seed(seed)
    dist, _ = drawn.build()
    value = dist.sample()
    return dist, value, dist.log_prob(value)


def _samplers(dist):
    return ("sample", "rsample") if dist.has_rsample else ("sample",)


def _dtype(dist):
    return next(v.dtype for v in vars(dist).values() if isinstance(v, torch.Tensor) and v.is_floating_point())


@given(drawn=distributions, sample_shape=SAMPLE_SHAPES, seed=SEEDS)
def test_samples_lie_in_the_support_with_the_documented_shape(drawn, sample_shape, seed):
    torch.manual_seed(seed)
    dist, _ = drawn.build()
    expected = torch.Size(sample_shape) + dist.batch_shape + dist.event_shape
    for method in _samplers(dist):
        value = getattr(dist, method)(torch.Size(sample_shape))
        assert value.shape == expected
        assert value.dtype == _dtype(dist)
        if method == "sample" or dist.hard:
            assert dist.support.check(value).all(), method
            assert torch.isfinite(dist.log_prob(value)).all(), method  # a drawn value has positive probability
        else:
            assert torch.isfinite(value).all()  # a relaxed value: off the support, but finite


@given(drawn=distributions, seed=SEEDS)
def test_log_prob_is_finite_on_the_support_and_minus_inf_off_it(drawn, seed):
    torch.manual_seed(seed)
    dist, kwargs = drawn.build()
    value = dist.sample(torch.Size((3,)))
    log_prob = dist.log_prob(value)
    assert log_prob.shape == (3,) + dist.batch_shape
    assert torch.isfinite(log_prob).all()
    assert (log_prob <= _tolerance(drawn, dist)).all()  # probabilities <= 1, up to rounding
    outside = off_support(dist, value)
    lax = drawn.cls(**kwargs, validate_args=False)
    assert (lax.log_prob(outside) == -float("inf")).all()
    strict = drawn.cls(**kwargs, validate_args=True)
    if outside.numel():
        with pytest.raises(ValueError):
            strict.log_prob(outside)


@given(drawn=distributions, seed=SEEDS)
def test_gradients_are_finite_for_every_parameter(drawn, seed):
    torch.manual_seed(seed)
    dist, kwargs = drawn.build(requires_grad=True)
    value = dist.sample(torch.Size((2,)))
    loss = dist.log_prob(value).sum()
    if dist.has_rsample:
        relaxed = dist.rsample(torch.Size((2,)))
        loss = loss + (relaxed * torch.randn_like(relaxed)).sum()
    params = [kwargs[name] for name in drawn.grad_params]
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    for name, grad in zip(drawn.grad_params, grads, strict=True):
        assert grad is None or torch.isfinite(grad).all(), name


@given(drawn=distributions, seed=SEEDS)
def test_expand_pickle_and_torch_save_round_trips(drawn, seed):
    dist, value, log_prob = _scored_sample(drawn, seed)
    expanded = dist.expand((2,) + dist.batch_shape)
    torch.testing.assert_close(expanded.log_prob(value), log_prob.expand((2,) + dist.batch_shape))
    buffer = io.BytesIO()
    torch.save(dist, buffer)
    buffer.seek(0)
    for clone in (pickle.loads(pickle.dumps(dist)), torch.load(buffer, weights_only=False)):
        assert clone.batch_shape == dist.batch_shape and clone.event_shape == dist.event_shape
        assert torch.equal(clone.log_prob(value), log_prob)
        torch.manual_seed(3)
        a = clone.sample()
        torch.manual_seed(3)
        assert torch.equal(a, dist.sample())


@given(drawn=distributions, seed=SEEDS)
def test_a_fixed_seed_reproduces_the_samples(drawn, seed):
    dist, _ = drawn.build()
    for method in _samplers(dist):
        torch.manual_seed(seed)
        first = getattr(dist, method)(torch.Size((2,)))
        torch.manual_seed(seed)
        assert torch.equal(first, getattr(dist, method)(torch.Size((2,))))


def _element_kwargs(drawn, dist, index):
    """Constructor arguments of batch element ``index``: every batched tensor broadcast, then indexed."""
    out = {}
    for name, value in drawn.kwargs.items():
        if isinstance(value, torch.Tensor) and name != "temperature":
            event_dims = 0 if name in ("total_count", "concentration") else 1
            shape = dist.batch_shape + value.shape[value.dim() - event_dims :]
            value = value.expand(shape)[index]
        out[name] = value
    return out


@given(drawn=distributions, seed=SEEDS)
def test_a_batched_log_prob_equals_the_per_element_ones(drawn, seed):
    dist, value, log_prob = _scored_sample(drawn, seed)
    for index in itertools.islice(itertools.product(*map(range, dist.batch_shape)), 6):
        element = drawn.cls(**_element_kwargs(drawn, dist, index))
        assert element.batch_shape == ()
        tol = _tolerance(drawn, dist)
        torch.testing.assert_close(element.log_prob(value[index]), log_prob[index], rtol=0, atol=tol)
