"""Generic contracts every distribution in the case registry must satisfy."""

import io
import itertools
import pickle

import pyro
import pytest
import torch
from pyro import poutine

from pyro_drpm.distributions.testing import goodness_of_fit, sample_counts
from tests.conftest import DEVICES
from tests.distributions.cases import all_cases
from tests.distributions.device_audit import deviceless_factories, host_reads

CASES = all_cases()
IDS = [case.name for case in CASES]


@pytest.fixture(params=CASES, ids=IDS)
def case(request):
    return request.param


@pytest.fixture(params=DEVICES)
def device(request):
    """Every contract runs on each available device (CPU always, CUDA when present)."""
    return request.param


def _samplers(dist):
    return (dist.sample, dist.rsample) if dist.has_rsample else (dist.sample,)


@pytest.mark.parametrize("sample_shape", [(), (3,), (2, 3)])
def test_shapes(case, device, sample_shape):
    dist, _ = case.build(device=device)
    expected = torch.Size(sample_shape) + dist.batch_shape + dist.event_shape
    for method in _samplers(dist):
        value = method(torch.Size(sample_shape))
        assert value.shape == expected
        assert value.dtype == torch.float64
        assert value.device.type == device
        assert dist.log_prob(value).shape == torch.Size(sample_shape) + dist.batch_shape


def test_samples_in_support(case, device):
    dist, _ = case.build(device=device)
    for method in _samplers(dist):
        value = method(torch.Size((50,)))
        assert dist.support.check(value).all()
        assert torch.isfinite(dist.log_prob(value)).all()


def test_float32(case, device):
    dist, _ = case.build(device=device, dtype=torch.float32)
    value = _samplers(dist)[-1](torch.Size((4,)))
    assert value.dtype == torch.float32
    log_prob = dist.log_prob(value)
    assert log_prob.dtype == torch.float32
    assert torch.isfinite(log_prob).all()


def test_infer_shapes(case):
    dist, kwargs = case.build()
    # as Pyro's generic test: every argument's shape, () for numbers and options (a float temperature)
    arg_shapes = {k: v.shape if isinstance(v, torch.Tensor) else () for k, v in kwargs.items()}
    if not case.shapes_from_tensors:
        with pytest.raises(NotImplementedError, match="infer_shapes"):
            type(dist).infer_shapes(**arg_shapes)
        return
    batch_shape, event_shape = type(dist).infer_shapes(**arg_shapes)
    assert batch_shape == dist.batch_shape
    assert event_shape == dist.event_shape


def test_expand_inside_plate(case, device):
    dist, _ = case.build(device=device)
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


def test_invalid_values(case, device):
    dist, kwargs = case.build(device=device)
    lax = case.dist_class(**kwargs, validate_args=False)
    strict = case.dist_class(**kwargs, validate_args=True)
    values = case.invalid_values(dist)
    assert values, "every case must list invalid values"
    for value in values:
        value = value.to(dtype=torch.float64, device=device).expand(dist.batch_shape + value.shape)
        with pytest.raises(ValueError):
            strict.log_prob(value)
        assert (lax.log_prob(value) == -float("inf")).all()


def test_wrong_value_shape_rejected(case, device):
    dist, kwargs = case.build(device=device)
    strict = case.dist_class(**kwargs, validate_args=True)
    wrong = torch.zeros(dist.event_shape[:-1] + (dist.event_shape[-1] + 1,), dtype=torch.float64, device=device)
    with pytest.raises(ValueError):
        strict.log_prob(wrong)


def test_bad_parameters(case):
    for update, fragment in case.bad_params + case.eager_errors:
        with pytest.raises(ValueError, match=fragment):
            case.build(validate_args=True, **update)


def test_construction_with_validation_off_never_raises_on_values(case):
    """Pyro's contract: bad values construct (and read no tensor value on the host); bad shapes still raise."""
    for update, _ in case.bad_params:
        with host_reads() as reads:
            case.build(validate_args=False, **update)
        assert reads == [], (update, reads)
    for update, fragment in case.eager_errors:
        with pytest.raises(ValueError, match=fragment):
            case.build(validate_args=False, **update)
    with host_reads() as reads:
        case.build(validate_args=False)
    assert reads == []


def _exercise(dist):
    """Call every method a user may call, so that the device audit sees every code path."""
    for method in _samplers(dist):
        value = method(torch.Size((3,)))
        dist.log_prob(value)
    expanded = dist.expand(torch.Size((2,)) + dist.batch_shape)
    expanded.log_prob(expanded.sample())
    for name in ("mean", "variance", "mode"):
        try:
            getattr(dist, name)
        except NotImplementedError:
            pass
    try:
        dist.entropy()
    except NotImplementedError:
        pass
    try:
        dist.log_prob(dist.enumerate_support())
    except (NotImplementedError, ValueError):
        pass


def test_no_tensor_is_created_without_a_device(case):
    """On any machine: every factory call in the package names a device (on a GPU, one that did not would
    create a CPU tensor and fail, or copy, at the next operation)."""
    dist, _ = case.build()
    with deviceless_factories() as found:
        _exercise(dist)
        _exercise(case.build(validate_args=True)[0])
    assert found == []


def test_expand_by_and_repeated_expand(case, device):
    dist, _ = case.build(device=device)
    by = dist.expand_by(torch.Size((2, 3)))
    assert by.batch_shape == (2, 3) + dist.batch_shape
    twice = dist.expand((4,) + dist.batch_shape).expand((5, 4) + dist.batch_shape)
    assert twice.batch_shape == (5, 4) + dist.batch_shape
    value = dist.sample()
    # a batched FFT (the MVHG's normaliser) rounds in another order: measured 2 eps, allowed 64 eps
    rtol = 64 * torch.finfo(value.dtype).eps
    torch.testing.assert_close(twice.log_prob(value), dist.log_prob(value).expand(twice.batch_shape), rtol=rtol, atol=0)
    assert twice.sample().shape == twice.batch_shape + dist.event_shape


def test_pickle(case, device):
    dist, _ = case.build(device=device)
    buffer = io.BytesIO()
    pickle.dump(dist, buffer)
    buffer.seek(0)
    clone = pickle.load(buffer)
    value = dist.sample()
    assert torch.equal(clone.log_prob(value), dist.log_prob(value))


def test_gradients_reach_every_parameter(case, device):
    if case.dist_class.has_rsample:
        dist, kwargs = case.build(device=device, requires_grad=True, temperature=0.7)
        value = dist.rsample(torch.Size((8,)))
        weights = torch.randn_like(value)
        loss = (value * weights).sum() + dist.log_prob(value.detach()).sum()
    else:  # a prior without a reparameterised sampler: its log-density must reach every parameter
        dist, kwargs = case.build(device=device, requires_grad=True)
        loss = dist.log_prob(dist.sample(torch.Size((8,)))).sum()
    params = [kwargs[name] for name in case.grad_params]
    grads = torch.autograd.grad(loss, params)
    for name, grad in zip(case.grad_params, grads, strict=True):
        assert torch.isfinite(grad).all(), name
        assert grad.abs().sum() > 0, name


def test_enumerated_support_sums_to_one(case, device):
    dist, _ = case.build(device=device)
    try:
        support = dist.enumerate_support()
    except (NotImplementedError, ValueError):
        pytest.skip("support too large to enumerate")
    assert not dist.has_enumerate_support  # see the house style: Pyro would drop guide weights
    total = dist.log_prob(support).logsumexp(0)
    assert torch.allclose(total, torch.zeros_like(total), atol=1e-10)
    assert dist.support.check(support).all()


def _batch_elements(dist):
    """The index tuple of every element of the batch."""
    return list(itertools.product(*(range(size) for size in dist.batch_shape)))


@pytest.mark.parametrize("method", ["sample", "rsample"])
def test_goodness_of_fit(case, device, method):
    """Chi-square of the draws of every batch element against the exact pmf on the enumerated support."""
    dist, _ = case.build(device=device, temperature=0.5) if case.dist_class.has_rsample else case.build(device=device)
    if method == "rsample" and not dist.has_rsample:
        pytest.skip("no reparameterised sampler")
    try:
        support = dist.enumerate_support()
    except NotImplementedError:
        pytest.skip("the support differs across the batch")
    torch.manual_seed(sum(map(ord, case.name + method)))
    with torch.no_grad():
        draws = getattr(dist, method)(torch.Size((4000,)))
    probs = dist.log_prob(support).exp()
    event_dim = len(dist.event_shape)
    for index in _batch_elements(dist):
        counts = sample_counts(draws[(slice(None), *index)], support[(slice(None), *index)], event_dim)
        p_value = goodness_of_fit(counts, probs[(slice(None), *index)])
        assert p_value > 1e-3, (index, p_value)


def test_mean_and_variance_match_monte_carlo(case, device):
    """Where ``mean`` and ``variance`` are defined they are exact: Monte Carlo agrees within 5 standard errors."""
    dist, _ = case.build(device=device)
    try:
        mean, variance = dist.mean, dist.variance
    except NotImplementedError:
        pytest.skip("no mean")
    num = 20_000
    torch.manual_seed(7)
    draws = dist.sample(torch.Size((num,)))
    assert mean.shape == variance.shape == dist.batch_shape + dist.event_shape
    centred = draws - mean
    mean_error = (variance / num).sqrt()
    assert ((draws.mean(0) - mean).abs() <= 5 * mean_error + 1e-12).all()
    # the standard error of a sample variance is sqrt((m4 - variance^2) / num)
    variance_error = (((centred**4).mean(0) - variance**2).clamp(min=0) / num).sqrt()
    assert (((centred**2).mean(0) - variance).abs() <= 5 * variance_error + 1e-12).all()
