"""The DRPM inside Pyro programs: SVI with DRPM sites in model and guide, plates, conditioning, Predictive,
TraceGraph_ELBO (reparameterised and score-function)."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import SVI, Predictive, Trace_ELBO, TraceGraph_ELBO
from pyro.optim import Adam

from pyro_drpm.distributions.drpm import DRPM

K, PER_CLUSTER = 3, 4
N = K * PER_CLUSTER
MEANS = torch.tensor([-4.0, 0.0, 4.0], dtype=torch.float64)
SCALE = 0.5
URN = torch.full((K,), 5.0, dtype=torch.float64)  # a small guide urn lets q concentrate on balanced sizes


def _planted_mixture(seed):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(K).repeat_interleave(PER_CLUSTER)[torch.randperm(N, generator=generator)]
    x = MEANS[labels] + 0.3 * torch.randn(N, generator=generator, dtype=torch.float64)
    return x, labels


def model(x):
    """Exchangeable DRPM prior over partitions of the points, known cluster means."""
    n = x.shape[-1]
    partition = pyro.sample("partition", DRPM(torch.zeros(K, dtype=x.dtype), torch.zeros(n, dtype=x.dtype)))
    pyro.sample("x", dist.Normal(MEANS @ partition, SCALE).to_event(1), obs=x)
    return partition


def guide(x, temperature=1.0):
    size_logits = pyro.param("size_logits", torch.zeros(K, dtype=x.dtype))
    score_logits = pyro.param("score_logits", torch.zeros(x.shape[-1], dtype=x.dtype))
    return pyro.sample("partition", DRPM(size_logits, score_logits, temperature=temperature, class_sizes=URN))


def _guide_mode(q):
    """The most likely sizes (by enumeration) filled along the most likely ranking (scores sorted)."""
    sizes = q.sizes.enumerate_support()
    mode_sizes = sizes[q.sizes.log_prob(sizes).argmax()].long()
    rank = q.score_logits.argsort(descending=True)
    block_of_rank = torch.searchsorted(mode_sizes.cumsum(-1), torch.arange(q.num_elements), right=True)
    return torch.empty_like(block_of_rank).scatter_(-1, rank, block_of_rank)


@pytest.mark.slow
def test_svi_recovers_a_planted_partition():
    x, labels = _planted_mixture(0)
    svi = SVI(model, guide, Adam({"lr": 0.1}), Trace_ELBO(num_particles=4, vectorize_particles=True))
    for _ in range(300):
        loss = svi.step(x)
    assert torch.isfinite(torch.tensor(loss))
    q = DRPM(pyro.param("size_logits").detach(), pyro.param("score_logits").detach(), class_sizes=URN)
    assert torch.equal(_guide_mode(q), labels)
    planted = torch.nn.functional.one_hot(labels, K).T.to(x.dtype)
    prior = DRPM(torch.zeros(K, dtype=x.dtype), torch.zeros(N, dtype=x.dtype))
    assert q.log_prob(planted) > prior.log_prob(planted) + 5.0  # >100x more likely than under the prior


def test_plate_gives_independent_partitions():
    sets, n = 4, 6
    size_logits = torch.randn(sets, K, dtype=torch.float64)
    score_logits = torch.randn(sets, n, dtype=torch.float64)

    def plated():
        with pyro.plate("sets", sets):
            return pyro.sample("partition", DRPM(size_logits, score_logits))

    trace = poutine.trace(plated).get_trace()
    trace.compute_log_prob()
    site = trace.nodes["partition"]
    assert site["value"].shape == (sets, K, n)
    expected = torch.stack([DRPM(size_logits[s], score_logits[s]).log_prob(site["value"][s]) for s in range(sets)])
    assert torch.allclose(site["log_prob"], expected, atol=1e-12, rtol=0)

    def broadcast():  # one set of parameters, expanded by the plate
        with pyro.plate("sets", 500):
            return pyro.sample("partition", DRPM(size_logits[0], score_logits[0]))

    values = poutine.trace(broadcast).get_trace().nodes["partition"]["value"]
    assert values.shape == (500, K, n)
    assert len(values.reshape(500, -1).unique(dim=0)) > 50  # independent draws, not one copy


def test_condition_on_an_observed_partition_and_fit_by_maximum_likelihood():
    torch.manual_seed(1)
    truth = DRPM(torch.tensor([1.0, 0.0, -1.0], dtype=torch.float64), torch.linspace(2.0, -2.0, 6).double())
    observed = truth.sample(torch.Size((200,)))

    def generative(data):
        size_logits = pyro.param("model_size_logits", torch.zeros(K, dtype=torch.float64))
        score_logits = pyro.param("model_score_logits", torch.zeros(6, dtype=torch.float64))
        with pyro.plate("data", len(data)):
            pyro.sample("partition", DRPM(size_logits, score_logits))

    conditioned = poutine.condition(generative, data={"partition": observed})
    trace = poutine.trace(conditioned).get_trace(observed)
    assert torch.equal(trace.nodes["partition"]["value"], observed)
    assert trace.nodes["partition"]["is_observed"]
    start = trace.log_prob_sum().item()
    svi = SVI(conditioned, lambda data: None, Adam({"lr": 0.1}), Trace_ELBO())
    for _ in range(60):
        svi.step(observed)
    fitted = poutine.trace(conditioned).get_trace(observed).log_prob_sum().item()
    assert fitted > start + 10.0
    assert fitted > truth.log_prob(observed).sum().item() - 10.0  # close to the truth's likelihood
    scores = pyro.param("model_score_logits").detach()
    assert (scores[:-1] > scores[1:]).float().mean() > 0.5  # the planted decreasing order


def test_predictive_draws_partitions_from_the_guide_and_the_prior():
    x, _ = _planted_mixture(2)
    guide(x)  # create the parameters
    predictive = Predictive(model, guide=guide, num_samples=30, return_sites=["partition"])
    draws = predictive(x)["partition"]
    assert draws.shape == (30, K, N)
    assert DRPM(torch.zeros(K), torch.zeros(N)).support.check(draws.float()).all()
    prior_draws = Predictive(model, num_samples=30)(x)["partition"]
    assert prior_draws.shape == (30, K, N)


@pytest.mark.parametrize("reparameterised", [True, False], ids=["rsample", "score-function"])
def test_trace_graph_elbo(reparameterised):
    x, _ = _planted_mixture(3)

    def guide_site(x):
        size_logits = pyro.param("size_logits", torch.zeros(K, dtype=x.dtype))
        score_logits = pyro.param("score_logits", torch.zeros(N, dtype=x.dtype))
        d = DRPM(size_logits, score_logits, temperature=0.5)
        pyro.sample("partition", d if reparameterised else d.has_rsample_(False))

    elbo = TraceGraph_ELBO()
    loss = elbo.loss_and_grads(model, guide_site, x)
    assert torch.isfinite(torch.tensor(loss))
    for name in ("size_logits", "score_logits"):
        grad = pyro.param(name).unconstrained().grad
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0, name
    svi = SVI(model, guide_site, Adam({"lr": 0.05}), elbo)
    losses = [svi.step(x) for _ in range(5)]
    assert all(torch.isfinite(torch.tensor(losses)))
