"""Generic contracts every distribution in the case registry must satisfy."""

import io
import pickle

import pyro
import pytest
import torch
from pyro import poutine

from tests.distributions.cases import all_cases

CASES = all_cases()
IDS = [case.name for case in CASES]


@pytest.fixture(params=CASES, ids=IDS)
def case(request):
    return request.param


def _samplers(dist):
    return (dist.sample, dist.rsample) if dist.has_rsample else (dist.sample,)


@pytest.mark.parametrize("sample_shape", [(), (3,), (2, 3)])
def test_shapes(case, sample_shape):
    dist, _ = case.build()
    expected = torch.Size(sample_shape) + dist.batch_shape + dist.event_shape
    for method in _samplers(dist):
        value = method(torch.Size(sample_shape))
        assert value.shape == expected
        assert value.dtype == torch.float64
        assert dist.log_prob(value).shape == torch.Size(sample_shape) + dist.batch_shape


def test_samples_in_support(case):
    dist, _ = case.build()
    for method in _samplers(dist):
        value = method(torch.Size((50,)))
        assert dist.support.check(value).all()
        assert torch.isfinite(dist.log_prob(value)).all()


def test_float32(case):
    dist, _ = case.build(dtype=torch.float32)
    value = _samplers(dist)[-1](torch.Size((4,)))
    assert value.dtype == torch.float32
    log_prob = dist.log_prob(value)
    assert log_prob.dtype == torch.float32
    assert torch.isfinite(log_prob).all()


def test_infer_shapes(case):
    dist, kwargs = case.build()
    arg_shapes = {k: v.shape for k, v in kwargs.items() if isinstance(v, torch.Tensor)}
    # integer arguments that fix the event shape (e.g. a number of elements) are passed as they are
    arg_shapes.update({k: v for k, v in kwargs.items() if isinstance(v, int) and not isinstance(v, bool)})
    batch_shape, event_shape = type(dist).infer_shapes(**arg_shapes)
    assert batch_shape == dist.batch_shape
    assert event_shape == dist.event_shape


def test_expand_inside_plate(case):
    dist, _ = case.build()
    expanded = dist.expand(torch.Size((5,)) + dist.batch_shape)
    assert expanded.batch_shape == (5,) + dist.batch_shape
    value = expanded.sample()
    assert value.shape == (5,) + dist.batch_shape + dist.event_shape
    assert torch.allclose(expanded.log_prob(value)[0], dist.log_prob(value[0]))

    def model():
        with pyro.plate("outer", 5, dim=-1 - len(dist.batch_shape)):
            return pyro.sample("x", dist)

    trace = poutine.trace(model).get_trace()
    site = trace.nodes["x"]
    assert site["value"].shape == (5,) + dist.batch_shape + dist.event_shape
    trace.compute_log_prob()
    assert site["log_prob"].shape == (5,) + dist.batch_shape


def test_invalid_values(case):
    dist, kwargs = case.build()
    lax = case.dist_class(**kwargs, validate_args=False)
    strict = case.dist_class(**kwargs, validate_args=True)
    values = case.invalid_values(dist)
    assert values, "every case must list invalid values"
    for value in values:
        value = value.to(torch.float64).expand(dist.batch_shape + value.shape)
        with pytest.raises(ValueError):
            strict.log_prob(value)
        assert (lax.log_prob(value) == -float("inf")).all()


def test_wrong_value_shape_rejected(case):
    dist, kwargs = case.build()
    strict = case.dist_class(**kwargs, validate_args=True)
    wrong = torch.zeros(dist.event_shape[:-1] + (dist.event_shape[-1] + 1,), dtype=torch.float64)
    with pytest.raises(ValueError):
        strict.log_prob(wrong)


def test_bad_parameters(case):
    for update, fragment in case.bad_params:
        with pytest.raises(ValueError, match=fragment):
            case.build(validate_args=True, **update)


def test_pickle(case):
    dist, _ = case.build()
    buffer = io.BytesIO()
    pickle.dump(dist, buffer)
    buffer.seek(0)
    clone = pickle.load(buffer)
    value = dist.sample()
    assert torch.equal(clone.log_prob(value), dist.log_prob(value))


def test_gradients_reach_every_parameter(case):
    if case.dist_class.has_rsample:
        dist, kwargs = case.build(requires_grad=True, temperature=0.7)
        value = dist.rsample(torch.Size((8,)))
        weights = torch.randn(value.shape, dtype=value.dtype)
        loss = (value * weights).sum() + dist.log_prob(value.detach()).sum()
    else:  # a prior without a reparameterised sampler: its log-density must reach every parameter
        dist, kwargs = case.build(requires_grad=True)
        loss = dist.log_prob(dist.sample(torch.Size((8,)))).sum()
    params = [kwargs[name] for name in case.grad_params]
    grads = torch.autograd.grad(loss, params)
    for name, grad in zip(case.grad_params, grads, strict=True):
        assert torch.isfinite(grad).all(), name
        assert grad.abs().sum() > 0, name


def test_enumerated_support_sums_to_one(case):
    dist, _ = case.build()
    try:
        support = dist.enumerate_support()
    except (NotImplementedError, ValueError):
        pytest.skip("support too large to enumerate")
    assert not dist.has_enumerate_support  # see the house style: Pyro would drop guide weights
    total = dist.log_prob(support).logsumexp(0)
    assert torch.allclose(total, torch.zeros_like(total), atol=1e-10)
    assert dist.support.check(support).all()
