"""The partition building blocks: priors, urn policies, the cluster-ordered and the amortised DRPM guides."""

import math

import pyro
import pytest
import torch
from pyro.infer import Trace_ELBO
from torch import nn

from pyro_drpm.distributions import DRPM, ChineseRestaurantProcess
from pyro_drpm.partitions import (
    AmortisedDRPM,
    ClusterOrderedDRPM,
    CountsUrn,
    CRPPrior,
    DRPMPrior,
    ElementScores,
    FullUrn,
    PooledSizes,
    largest_remainder_round,
)


def test_drpm_prior_is_exchangeable_with_learned_size_logits():
    prior = DRPMPrior(3, dtype=torch.float64)
    d = prior(5)
    assert isinstance(d, DRPM) and d.event_shape == (3, 5) and d.score_logits.dtype == torch.float64
    assert d.score_logits.abs().max() == 0
    prior.init_from_weights(torch.tensor([0.5, 0.3, 0.2]))
    torch.testing.assert_close(torch.sigmoid(prior.size_logits.detach()), torch.tensor([0.5, 0.3, 0.2]))
    assert isinstance(prior.size_logits, nn.Parameter)
    assert not isinstance(DRPMPrior(3, learn_size_logits=False).size_logits, nn.Parameter)
    with pytest.raises(ValueError, match="num_subsets"):
        DRPMPrior(0)


def test_crp_prior_has_its_concentration_and_its_gradient_has_the_expected_sign():
    prior = CRPPrior(4, concentration=0.5)
    d = prior(6)
    assert isinstance(d, ChineseRestaurantProcess) and d.event_shape == (4, 6)
    assert prior.concentration.item() == pytest.approx(0.5)
    one_block = torch.eye(4)[:, [0] * 6]
    d.log_prob(one_block).backward()
    # one block, fewer than the ~1.9 that alpha = 0.5 expects for n = 6, pulls alpha down
    assert prior.log_concentration.grad < 0
    prior.log_concentration.grad = None
    prior(6).log_prob(torch.eye(4)[:, [0, 1, 2, 3, 0, 1]]).backward()  # four blocks pull it up
    assert prior.log_concentration.grad > 0


def test_urn_policies():
    counts = torch.tensor([1.4, 3.6, 0.0])
    assert FullUrn()(counts, 5) is None
    torch.testing.assert_close(CountsUrn()(counts, 5), torch.tensor([1.0, 4.0, 0.0]))
    torch.testing.assert_close(CountsUrn(slack=2)(counts, 5), torch.tensor([4.0, 5.0, 2.0]))
    rounded = largest_remainder_round(torch.tensor([2.6, 3.3, 4.1, 0.0]), 10)
    torch.testing.assert_close(rounded, torch.tensor([3.0, 3.0, 4.0, 0.0]))
    with pytest.raises(ValueError, match="slack"):
        CountsUrn(slack=-1)


@pytest.mark.parametrize("urn", [CountsUrn(), CountsUrn(slack=1), FullUrn()], ids=["exact", "slack", "full"])
def test_cluster_ordered_guide_follows_confident_responsibilities(urn):
    guide = ClusterOrderedDRPM(3, urn=urn, dtype=torch.float64)
    r = torch.eye(3)[[2, 0, 0, 1, 2, 0]] * 0.98 + 0.01
    r = r / r.sum(-1, keepdim=True)
    q = guide(r, temperature=0.5)
    samples = q.sample(torch.Size([200])).argmax(-2)
    agree = (samples == torch.tensor([2, 0, 0, 1, 2, 0])).double().mean()
    assert agree > (0.99 if isinstance(urn, CountsUrn) and urn.slack == 0 else 0.7)  # about 0.8 with random sizes
    r.requires_grad_(True)
    Y = guide(r, temperature=0.5).rsample()
    (Y * torch.randn_like(Y)).sum().backward()
    assert r.grad is not None and torch.isfinite(r.grad).all() and r.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="responsibilities"):
        guide(torch.rand(4, 2))


def test_amortised_drpm_batches_and_gradients_reach_both_networks():
    size_net, score_net = nn.Linear(4, 2), nn.Linear(4, 6)
    amortised = AmortisedDRPM(size_net, score_net)
    q = amortised(torch.randn(8, 4), temperature=0.5)
    assert q.batch_shape == (8,) and q.event_shape == (2, 6)
    Y = q.rsample()
    torch.testing.assert_close(Y.sum(-2), torch.ones(8, 6))
    (Y * torch.randn_like(Y)).sum().backward()
    for net in (size_net, score_net):
        assert net.weight.grad is not None and net.weight.grad.abs().sum() > 0


def test_amortised_set_guide_trains_under_svi():
    """A Deep Sets guide over a set of points: the ELBO of a tiny model improves."""
    x = torch.tensor([-3.0, -3.1, 3.0, 2.9, -2.9, 3.1])
    prior = DRPMPrior(2)
    embed = nn.Sequential(nn.Linear(1, 8), nn.Tanh())
    amortised = AmortisedDRPM(PooledSizes(nn.Linear(8, 2)), ElementScores(nn.Linear(8, 1)), class_sizes=[4, 4])

    def model():
        pyro.module("prior", prior)
        means = pyro.param("means", torch.tensor([-1.0, 1.0]))
        Y = pyro.sample("partition", prior(len(x)))
        pyro.sample("x", pyro.distributions.Normal(means @ Y, 0.5).to_event(1), obs=x)

    def guide():
        pyro.module("embed", embed)
        pyro.module("amortised", amortised)
        pyro.sample("partition", amortised(embed(x.unsqueeze(-1)), temperature=0.5))

    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), Trace_ELBO(num_particles=4))
    losses = [svi.step() for _ in range(150)]
    assert all(math.isfinite(v) for v in losses)
    assert sum(losses[-20:]) / 20 < sum(losses[:20]) / 20 - 5.0


def test_log_prob_sizes_is_the_log_prob_of_any_partition_with_those_sizes():
    torch.manual_seed(0)
    sizes = torch.tensor([[2.0, 0.0, 3.0], [1.0, 1.0, 3.0]], dtype=torch.float64)
    Y = torch.eye(3, dtype=torch.float64)[:, [2, 0, 2, 0, 2]]  # sizes (2, 0, 3), elements shuffled
    for prior in (
        DRPMPrior(3, size_logits=torch.tensor([0.3, -0.2, 0.1]), dtype=torch.float64),
        CRPPrior(3, concentration=0.7, dtype=torch.float64),
    ):
        log_p = prior.log_prob_sizes(sizes)
        assert log_p.shape == (2,)
        torch.testing.assert_close(log_p[0], prior(5).log_prob(Y).detach(), atol=1e-10, rtol=0)
    # the DRPM prior's closed form against the general DRPM (quadrature over the ordered blocks), for both size
    # vectors and several orders of the elements (exchangeable: the same value for every order)
    prior = DRPMPrior(3, size_logits=torch.tensor([0.3, -0.2, 0.1]), dtype=torch.float64)
    general = DRPM(prior.size_logits.detach().double(), torch.zeros(5, dtype=torch.float64))
    closed_form = prior.log_prob_sizes(sizes).detach()
    for row, blocks in enumerate(([2, 0, 2, 0, 2], [2, 0, 2, 1, 2])):  # sizes (2, 0, 3) and (1, 1, 3)
        for _ in range(4):
            Y = torch.eye(3, dtype=torch.float64)[:, torch.tensor(blocks)[torch.randperm(5)]]
            torch.testing.assert_close(closed_form[row], general.log_prob(Y), atol=1e-12, rtol=0)


def test_drpm_predictive_weights_are_the_exact_ratio():
    """log p(c + e_k) - log w_k(c) is the same for every k: the weights are the prior's predictive."""
    prior = DRPMPrior(3, size_logits=torch.tensor([0.5, -1.0, 0.2]), dtype=torch.float64)
    counts = torch.tensor([2.0, 0.0, 3.0], dtype=torch.float64)
    joined = prior.log_prob_sizes(counts + torch.eye(3, dtype=torch.float64))
    difference = (joined - prior.log_predictive_weights(counts, 6)).detach()
    torch.testing.assert_close(difference, difference[0].expand(3), atol=1e-10, rtol=0)


def test_crp_predictive_weights_favour_large_blocks_and_grow_with_the_concentration():
    counts = torch.tensor([5.0, 1.0, 0.0])
    small, large = (CRPPrior(3, concentration=a).log_predictive_weights(counts, 7) for a in (0.1, 10.0))
    assert small[0] > small[1] > small[2] and large[2] > small[2]
    torch.testing.assert_close(small.exp(), counts + 0.1 / 3)


def test_special_case_drpms_have_the_general_log_prob():
    from pyro_drpm.partitions import DeterministicSizesDRPM, ExchangeableDRPM

    torch.manual_seed(0)
    logits = torch.randn(3, dtype=torch.float64)
    exchangeable = ExchangeableDRPM(logits, torch.zeros(6, dtype=torch.float64))
    Y = exchangeable.sample(torch.Size([20]))
    general = DRPM(logits, torch.zeros(6, dtype=torch.float64)).log_prob(Y)
    torch.testing.assert_close(exchangeable.log_prob(Y), general, atol=1e-10, rtol=0)
    scores = torch.randn(6, dtype=torch.float64)
    urn = torch.tensor([3.0, 0.0, 3.0], dtype=torch.float64)
    fixed = DeterministicSizesDRPM(logits, scores, class_sizes=urn)
    Y = fixed.sample(torch.Size([20]))
    general = DRPM(logits, scores, class_sizes=urn).log_prob(Y)
    torch.testing.assert_close(fixed.log_prob(Y), general, atol=1e-10, rtol=0)
    off = torch.eye(3, dtype=torch.float64)[:, [0, 0, 0, 0, 2, 2]]  # sizes (4, 0, 2): not the urn
    assert fixed.log_prob(off) == -math.inf
    assert type(fixed.expand(torch.Size([2]))) is DeterministicSizesDRPM
    assert type(exchangeable.expand(torch.Size([2]))) is ExchangeableDRPM
    assert DeterministicSizesDRPM(torch.zeros(1), torch.zeros(4), class_sizes=torch.tensor([4.0])).rsample().shape == (
        1,
        4,
    )
    with pytest.raises(ValueError, match="sum to n"):
        DeterministicSizesDRPM(logits, scores, class_sizes=torch.tensor([3.0, 3.0, 3.0]))


def test_cluster_ordered_size_logits_do_not_reach_the_responsibilities():
    """Only the scores follow the responsibilities with a gradient: a size gradient into the soft counts made
    DRPM-VC collapse (benchmarks/results/guide_sizes.md). The offsets shift the size logits."""
    from pyro_drpm.partitions import ClusterOrderedDRPM, FullUrn

    torch.manual_seed(0)
    r = torch.softmax(torch.randn(6, 3), -1).requires_grad_(True)
    plain = ClusterOrderedDRPM(3, urn=FullUrn())
    with_offsets = ClusterOrderedDRPM(3, urn=FullUrn(), size_offsets=True)
    with torch.no_grad():
        with_offsets.size_offsets.copy_(torch.tensor([1.0, 0.0, -2.0]))
    size_logits, score_logits, _ = plain.parameters_of(r)
    assert not size_logits.requires_grad
    (score_grad,) = torch.autograd.grad(score_logits.sum(), r)
    assert score_grad.abs().sum() > 0
    shifted, _, _ = with_offsets.parameters_of(r)
    torch.testing.assert_close(shifted - size_logits, torch.tensor([1.0, 0.0, -2.0]))
    (offset_grad,) = torch.autograd.grad(shifted.sum(), with_offsets.size_offsets)
    torch.testing.assert_close(offset_grad, torch.ones(3))
    assert plain.size_offsets is None
    with pytest.raises(ValueError, match="size_offsets"):
        ClusterOrderedDRPM(3, size_offsets="yes")


def test_deterministic_sizes_rsample_matches_the_exact_pmf_and_keeps_the_score_gradient():
    """Its rsample skips the size draw (one outcome): still the exact law, and gradients reach the scores."""
    from pyro_drpm.distributions.testing import goodness_of_fit, sample_counts
    from pyro_drpm.partitions import DeterministicSizesDRPM

    torch.manual_seed(7)
    scores = torch.tensor([1.5, -0.5, 0.0, 0.7, -1.0], dtype=torch.float64, requires_grad=True)
    urn = torch.tensor([2.0, 0.0, 3.0], dtype=torch.float64)
    d = DeterministicSizesDRPM(torch.zeros(3, dtype=torch.float64), scores, class_sizes=urn, temperature=0.5)
    values = d.rsample(torch.Size((20000,)))
    torch.testing.assert_close(values.detach().sum(-1), urn.expand(20000, 3))
    support = d.enumerate_support()
    support = support[torch.isfinite(d.log_prob(support))]  # the C(5, 2) partitions with sizes (2, 0, 3)
    assert len(support) == 10
    assert goodness_of_fit(sample_counts(values.detach(), support, 2), d.log_prob(support).exp().detach()) > 1e-3
    (grad,) = torch.autograd.grad((values[:100] * torch.randn(100, 3, 5, dtype=torch.float64)).sum(), scores)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
