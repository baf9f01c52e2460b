"""Plackett-Luce against exact oracles: brute-force pmf, chi-square goodness of fit, relaxed-sort limits, SVI."""

import itertools
import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import SVI, Predictive, Trace_ELBO
from pyro.optim import Adam

from pyro_drpm.distributions import (
    PlackettLuce,
    permutation_matrix_to_ranking,
    ranking_to_permutation_matrix,
)
from pyro_drpm.distributions.testing import goodness_of_fit, plackett_luce_log_prob, sample_counts
from tests.conftest import DEVICES


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_log_prob_matches_product_formula_over_all_rankings(n):
    torch.manual_seed(n)
    logits = 1.5 * torch.randn(3, n, dtype=torch.float64)  # a batch of 3
    d = PlackettLuce(logits)
    support = d.enumerate_support()
    assert support.shape == (math.factorial(n), 3, n, n)
    log_prob = d.log_prob(support)
    rankings = list(itertools.permutations(range(n)))
    expected = torch.tensor(
        [[plackett_luce_log_prob(logits[b], ranking) for b in range(3)] for ranking in rankings],
        dtype=torch.float64,
    )
    assert (log_prob - expected).abs().max() < 1e-10
    assert (log_prob.logsumexp(0)).abs().max() < 1e-10


def test_uniform_logits_give_log_one_over_n_factorial():
    n = 6
    d = PlackettLuce(torch.full((n,), 0.3, dtype=torch.float64))
    log_prob = d.log_prob(d.sample(torch.Size((20,))))
    assert torch.allclose(log_prob, torch.full_like(log_prob, -math.lgamma(n + 1)), atol=1e-12)


def test_log_prob_broadcasts_value_against_batch():
    logits = torch.randn(2, 1, 4, dtype=torch.float64)
    value = PlackettLuce(torch.zeros(3, 4, dtype=torch.float64)).sample()
    d = PlackettLuce(logits)
    assert d.log_prob(value).shape == (2, 3)


def test_log_prob_finite_at_float32_extremes():
    logits = torch.tensor([1e3, -1e3, 0.0, 999.0, -999.5], requires_grad=True)
    d = PlackettLuce(logits)
    support = d.enumerate_support()
    log_prob = d.log_prob(support)
    assert torch.isfinite(log_prob).all()
    exact = PlackettLuce(logits.detach().double()).log_prob(support.double())
    # float32 represents logits near 1e3 only to about 1e3 * eps; a ranking's log-probability sums n such terms
    tolerance = 4 * len(logits) * 1e3 * torch.finfo(torch.float32).eps
    assert (log_prob.double() - exact).abs().max() < tolerance
    log_prob.max().backward()
    assert torch.isfinite(logits.grad).all()
    # the most likely ranking orders the scores: its probability is sigmoid(1)-ish for the 1e3 vs 999 pair
    assert torch.equal(support[log_prob.argmax()], d.mode)


@pytest.mark.parametrize("relaxation", ["neuralsort", "softsort"])
@pytest.mark.parametrize("method", ["sample", "rsample"])
def test_sampler_matches_exact_pmf(method, relaxation):
    torch.manual_seed(1)
    logits = torch.tensor([1.0, 0.0, -0.5, 0.7], dtype=torch.float64)
    d = PlackettLuce(logits, temperature=0.5, relaxation=relaxation)
    samples = getattr(d, method)(torch.Size((50_000,))).detach()
    assert d.support.check(samples).all()
    support = d.enumerate_support()
    assert goodness_of_fit(sample_counts(samples, support, 2), d.log_prob(support).exp()) > 1e-3


@pytest.mark.parametrize("relaxation", ["neuralsort", "softsort"])
@pytest.mark.parametrize("temperature", [1.0, 0.1, 1e-3])
def test_rsample_forward_is_exact_permutation(relaxation, temperature):
    logits = torch.randn(7, 10)
    value = PlackettLuce(logits, temperature=temperature, relaxation=relaxation).rsample(torch.Size((5,)))
    assert PlackettLuce.support.check(value).all()


@pytest.mark.parametrize("relaxation", ["neuralsort", "softsort"])
@pytest.mark.parametrize("scale", [1.0, 1e3])
@pytest.mark.parametrize("device", DEVICES)
def test_rsample_gradients_finite_at_extremes(relaxation, scale, device):
    logits = (scale * torch.randn(4, 12, device=device)).requires_grad_(True)
    for temperature in (1.0, 1e-3):
        d = PlackettLuce(logits, temperature=temperature, relaxation=relaxation)
        value = d.rsample()
        loss = (value * torch.randn_like(value)).sum() + d.log_prob(value.detach()).sum()
        (grad,) = torch.autograd.grad(loss, logits)
        assert torch.isfinite(grad).all()
        assert grad.abs().sum() > 0  # the log_prob term always reaches the logits


def test_rsample_relaxed_values_are_row_stochastic_and_outside_support():
    d = PlackettLuce(torch.zeros(5), temperature=1.0, hard=False)
    value = d.rsample()
    assert torch.allclose(value.sum(-1), torch.ones(5))
    assert not d.support.check(value)


def test_rsample_gradient_reaches_logits_through_relaxation():
    logits = torch.tensor([0.1, 0.0, -0.1], requires_grad=True)
    value = PlackettLuce(logits, temperature=1.0).rsample()
    position = torch.arange(3.0)
    (value @ position).pow(2).sum().backward()  # depends on the ranking only through the relaxation
    assert logits.grad.abs().sum() > 0


def test_mode_and_ranking_helpers_round_trip():
    logits = torch.tensor([[0.5, 2.0, -1.0, 0.0]])
    mode = PlackettLuce(logits).mode
    assert permutation_matrix_to_ranking(mode).tolist() == [[1, 0, 3, 2]]
    ranking = torch.randperm(6)
    assert torch.equal(permutation_matrix_to_ranking(ranking_to_permutation_matrix(ranking)), ranking)


def test_enumerate_support_refuses_large_n():
    with pytest.raises(ValueError, match="n = 9 = 362880 points; at most 65536"):
        PlackettLuce(torch.zeros(9)).enumerate_support()


def test_invalid_value_under_validation_names_support():
    d = PlackettLuce(torch.zeros(3), validate_args=True)
    with pytest.raises(ValueError, match="support"):
        d.log_prob(torch.ones(3, 3))


def test_model_and_guide_learn_a_planted_permutation():
    """Latent ranking, observed noisy positions: SVI with PL sites in model and guide recovers the ranking."""
    n = 5
    truth = torch.tensor([3, 0, 4, 1, 2])
    positions = torch.arange(n, dtype=torch.float32)
    data = ranking_to_permutation_matrix(truth).T @ positions + 0.1 * torch.randn(n)

    def model():
        perm = pyro.sample("perm", PlackettLuce(torch.zeros(n)))
        pyro.sample("obs", dist.Normal(perm.T @ positions, 0.5).to_event(1), obs=data)

    def guide():
        logits = pyro.param("logits", torch.zeros(n))
        pyro.sample("perm", PlackettLuce(logits, temperature=0.5))

    pyro.set_rng_seed(0)
    svi = SVI(model, guide, Adam({"lr": 0.05}), Trace_ELBO())
    for _ in range(400):
        svi.step()
    learned = permutation_matrix_to_ranking(PlackettLuce(pyro.param("logits").detach()).mode)
    assert torch.equal(learned, truth)


def test_plate_condition_and_predictive():
    n, batch = 4, 6
    logits = torch.randn(n)

    def model(obs=None):
        with pyro.plate("rankings", batch):
            return pyro.sample("perm", PlackettLuce(logits), obs=obs)

    trace = poutine.trace(model).get_trace()
    assert trace.nodes["perm"]["value"].shape == (batch, n, n)
    observed = PlackettLuce(logits).sample(torch.Size((batch,)))
    conditioned = poutine.trace(poutine.condition(model, data={"perm": observed})).get_trace()
    assert torch.equal(conditioned.nodes["perm"]["value"], observed)
    expected = PlackettLuce(logits).log_prob(observed).sum()
    assert torch.allclose(conditioned.log_prob_sum(), expected)
    samples = Predictive(model, num_samples=7)()
    assert samples["perm"].shape == (7, batch, n, n)
    assert PlackettLuce.support.check(samples["perm"]).all()
