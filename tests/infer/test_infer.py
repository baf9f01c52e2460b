"""Schedules, the path-derivative wrapper, the SVI loop's schedule plumbing and the ELBO of a fitted model."""

import math

import pyro
import pyro.distributions as dist
import pytest
import torch

from pyro_drpm.infer import (
    ConstantSchedule,
    ExponentialSchedule,
    LinearSchedule,
    PathDerivative,
    evaluate_elbo,
    minibatches,
    svi_optimizer,
    train_svi,
)


def test_exponential_schedule_interpolates_geometrically_and_clamps():
    schedule = ExponentialSchedule(1.0, 0.5)
    assert schedule(0.0) == pytest.approx(1.0) and schedule(1.0) == pytest.approx(0.5)
    assert schedule(0.5) == pytest.approx(math.sqrt(0.5))
    assert schedule(-1.0) == pytest.approx(1.0) and schedule(3.0) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="final"):
        ExponentialSchedule(1.0, 0.0)


def test_linear_and_constant_schedules():
    assert LinearSchedule(0.0, 2.0, end=0.5)(0.25) == pytest.approx(1.0)
    assert LinearSchedule(0.0, 2.0, end=0.5)(0.9) == pytest.approx(2.0)
    assert ConstantSchedule(0.3)(0.7) == 0.3
    with pytest.raises(ValueError, match="end"):
        LinearSchedule(0.0, 1.0, end=0.0)


def test_train_svi_passes_each_schedule_value_to_model_and_guide():
    seen = {"model": [], "guide": []}

    class Problem:
        def model(self, x, temperature):
            seen["model"].append(temperature)
            loc = pyro.param("loc", torch.zeros(()))
            with pyro.plate("data", len(x)):
                pyro.sample("x", dist.Normal(loc, 1.0), obs=x)

        def guide(self, x, temperature):
            seen["guide"].append(temperature)

    with pyro.get_param_store().scope():
        train_svi(Problem(), torch.randn(20), epochs=2, batch_size=10, schedules={"temperature": LinearSchedule(1, 0)})
    assert seen["model"] == seen["guide"] == pytest.approx([1.0, 0.75, 0.5, 0.25])


def test_svi_optimizer_is_clipped_adam_whose_first_step_moves_by_the_learning_rate():
    # Adam's first step is lr * sign(grad) whatever the gradient's size; ClippedAdam first clips every gradient
    # entry to [-100, 100] (here in place, visible on .grad)
    param = torch.nn.Parameter(torch.zeros(3))
    optimizer = svi_optimizer(0.1)
    assert isinstance(optimizer, pyro.optim.PyroOptim)
    param.grad = torch.tensor([1e4, -2.0, 1e-3])
    optimizer([param])
    assert torch.allclose(param.detach(), torch.tensor([-0.1, 0.1, -0.1]), rtol=1e-3)  # Adam's eps: 3e-4 at 1e-3
    assert param.grad.tolist() == pytest.approx([100.0, -2.0, 1e-3])


def test_path_derivative_keeps_the_value_and_drops_only_the_direct_gradient():
    loc = torch.tensor([0.3, -0.2], requires_grad=True)
    q = PathDerivative(dist.Normal(loc, 1.0).to_event(1), dist.Normal(loc.detach(), 1.0).to_event(1))
    torch.manual_seed(0)
    z = q.rsample()
    torch.testing.assert_close(q.log_prob(z), dist.Normal(loc, 1.0).to_event(1).log_prob(z))
    # d/dloc log N(z(loc); loc.detach(), 1) with z = loc + eps: the path term only, -(z - loc) = -eps
    (grad,) = torch.autograd.grad(q.log_prob(z), loc)
    torch.testing.assert_close(grad, -(z - loc).detach())
    assert q.has_rsample and q.expand((3,)).batch_shape == (3,)
    with pytest.raises(ValueError, match="scorer"):
        PathDerivative(dist.Normal(loc, 1.0).to_event(1), dist.Normal(0.0, 1.0))


class _ConjugateNormal:
    """``mu ~ N(0, 1)`` per mini-batch, ``x_i ~ N(mu, 1)``; the guide is the exact posterior ``N(S / (m + 1),
    1 / (m + 1))`` (``S``, ``m``: the batch's sum and size), so every particle's ELBO is the batch's log evidence."""

    def model(self, x, shift=0.0):
        mu = pyro.sample("mu", dist.Normal(torch.zeros((), dtype=x.dtype), 1.0))
        with pyro.plate("data", len(x)):
            pyro.sample("x", dist.Normal(mu + shift, 1.0), obs=x)

    def guide(self, x, shift=0.0):
        precision = len(x) + 1.0
        pyro.sample("mu", dist.Normal((x - shift).sum() / precision, precision**-0.5))


def test_evaluate_elbo_is_the_log_evidence_per_point_for_the_exact_posterior():
    from scipy.stats import multivariate_normal

    x = torch.randn(23, dtype=torch.float64) + 0.7
    for batch_size in (23, 8):
        generator = torch.Generator().manual_seed(3)
        value = evaluate_elbo(_ConjugateNormal(), x, batch_size=batch_size, num_particles=2, generator=generator)
        # the same split, and each batch's marginal x_b ~ N(0, I + 1 1^T)
        batches = minibatches(len(x), batch_size, torch.Generator().manual_seed(3))
        evidence = sum(
            multivariate_normal(mean=torch.zeros(len(b)), cov=torch.eye(len(b)) + 1.0).logpdf(x[b].numpy())
            for b in batches
        )
        assert value == pytest.approx(evidence / len(x), rel=1e-10, abs=1e-10)
    # keyword arguments reach the model and the guide
    shifted = evaluate_elbo(_ConjugateNormal(), x + 2.0, batch_size=23, shift=2.0)
    assert shifted == pytest.approx(evaluate_elbo(_ConjugateNormal(), x, batch_size=23), rel=1e-10)


@pytest.mark.parametrize(
    "options, message",
    [(dict(elbo="exact"), "unknown elbo 'exact'"), (dict(num_particles=0), "num_particles must be an integer >= 1")],
)
def test_evaluate_elbo_rejects_bad_settings(options, message):
    with pytest.raises(ValueError, match=message):
        evaluate_elbo(_ConjugateNormal(), torch.zeros(4), **options)
