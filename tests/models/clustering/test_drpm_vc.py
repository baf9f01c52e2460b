"""DRPM-VC: the Pyro model/guide run under SVI with a finite, exact ELBO; the guide's partition parameters."""

import math

import pyro
import pytest
import torch
from pyro import poutine
from pyro.infer import Trace_ELBO, TraceMeanField_ELBO

from pyro_drpm.distributions import DRPM, ChineseRestaurantProcess
from pyro_drpm.infer import train_svi
from pyro_drpm.models.clustering import DRPMVC, MixtureInit, cluster_path_order, fit_gaussian_mixture
from pyro_drpm.nn import MLPDecoder, MLPEncoder
from pyro_drpm.partitions import ClusterOrderedDRPM, CountsUrn, CRPPrior, DRPMPrior, FullUrn


def _model(*, partition_gradients="all", urn=None, prior=None, size_offsets=False, **kwargs):
    """DRPM-VC with K = 3 on 6 features, the partition gradients named as the estimator names them."""
    torch.manual_seed(0)
    return DRPMVC(
        MLPEncoder(6, 2, (16,)),
        MLPDecoder(2, 6, (16,)),
        n_components=3,
        prior=prior,
        partition_guide=ClusterOrderedDRPM(3, urn=urn, size_offsets=size_offsets, dtype=torch.float64),
        detach_responsibilities=partition_gradients == "guide",
        path_derivative=partition_gradients == "pathwise",
        **kwargs,
    )


@pytest.mark.parametrize("partition_gradients", ["guide", "all", "pathwise"])
@pytest.mark.parametrize("urn", [CountsUrn(), FullUrn()], ids=["counts", "full"])
@pytest.mark.parametrize("elbo", [Trace_ELBO, TraceMeanField_ELBO])
def test_svi_steps_finite_elbo_and_gradients_everywhere(urn, elbo, partition_gradients):
    vc = _model(urn=urn, partition_gradients=partition_gradients)
    x = torch.rand(12, 6)
    loss = elbo().differentiable_loss(vc.model, vc.guide, x)
    assert torch.isfinite(loss)
    loss.backward()
    for name, param in vc.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name
    assert vc.partition_guide.log_score_scale.grad.abs() > 0
    with pyro.get_param_store().scope():
        history = train_svi(vc, torch.rand(36, 6), epochs=3, batch_size=12)
    assert all(math.isfinite(h) for h in history)


@pytest.mark.parametrize("partition_gradients", ["guide", "all", "pathwise"])
def test_which_parameters_the_partition_term_trains(partition_gradients):
    vc = _model(partition_gradients=partition_gradients)
    x = torch.rand(10, 6)
    site = poutine.trace(vc.guide).get_trace(x).nodes["partition"]
    # the straight-through sample and the exact log q(Y), as Trace_ELBO differentiates them
    (site["fn"].log_prob(site["value"]) + (site["value"] * torch.randn_like(site["value"])).sum()).backward()
    assert vc.partition_guide.log_score_scale.grad.abs() > 0
    reached = vc.encoder.loc.weight.grad is not None and vc.encoder.loc.weight.grad.abs().sum() > 0
    assert reached == (partition_gradients != "guide")
    assert (vc.locs.grad is not None and vc.locs.grad.abs().sum() > 0) == (partition_gradients != "guide")


def test_pathwise_guide_has_the_same_elbo_and_drops_only_the_direct_term():
    x = torch.rand(10, 6)
    losses, direct, total = {}, {}, {}
    for mode in ("all", "pathwise"):
        vc = _model(partition_gradients=mode)
        torch.manual_seed(1)
        site = poutine.trace(vc.guide).get_trace(x).nodes["partition"]
        value = site["value"]
        losses[mode] = site["fn"].log_prob(value)
        weight = vc.encoder.loc.weight
        # the direct term: the gradient of log q(Y) with no path through the value
        (grad,) = torch.autograd.grad(site["fn"].log_prob(value.detach()), weight, allow_unused=True, retain_graph=True)
        direct[mode] = torch.zeros_like(weight) if grad is None else grad
        (total[mode],) = torch.autograd.grad(losses[mode], weight)
    torch.testing.assert_close(losses["all"], losses["pathwise"])
    assert direct["all"].abs().sum() > 0 and direct["pathwise"].abs().sum() == 0
    # what "pathwise" keeps is the path through the value: the full gradient minus the direct term
    assert total["pathwise"].abs().sum() > 0
    torch.testing.assert_close(total["pathwise"], total["all"] - direct["all"], atol=1e-6, rtol=1e-5)


def test_trace_sites_and_weights():
    vc = _model(beta=0.5, partition_weight=0.25)
    x = torch.rand(10, 6)
    guide_trace = poutine.trace(vc.guide).get_trace(x)
    model_trace = poutine.trace(poutine.replay(vc.model, trace=guide_trace)).get_trace(x)
    for trace in (guide_trace, model_trace):
        partition = trace.nodes["partition"]
        assert isinstance(partition["fn"], DRPM)
        assert partition["scale"] == 0.25 and trace.nodes["z"]["scale"] == 0.5
    Y = guide_trace.nodes["partition"]["value"]
    assert Y.shape == (3, 10)
    torch.testing.assert_close(Y.sum(0), torch.ones(10, dtype=Y.dtype))
    assert model_trace.nodes["x"]["is_observed"]


def test_elbo_is_the_exact_log_density_difference():
    """Trace_ELBO's loss equals -(log p(x, z, Y) - log q(z, Y)) computed by hand from the two traces."""
    vc = _model()
    x = torch.rand(8, 6)
    pyro.set_rng_seed(3)
    loss = Trace_ELBO().loss(vc.model, vc.guide, x)
    pyro.set_rng_seed(3)
    guide_trace = poutine.trace(vc.guide).get_trace(x)
    model_trace = poutine.trace(poutine.replay(vc.model, trace=guide_trace)).get_trace(x)
    Y = guide_trace.nodes["partition"]["value"]
    z = guide_trace.nodes["z"]["value"]
    q_Y = guide_trace.nodes["partition"]["fn"].log_prob(Y)
    p_Y = model_trace.nodes["partition"]["fn"].log_prob(Y)
    loc, scale = vc.encoder(x)
    q_z = torch.distributions.Normal(loc, scale).log_prob(z).sum()
    labels = Y.argmax(0)
    p_z = torch.distributions.Normal(vc.locs[labels], vc.scales[labels]).log_prob(z).sum()
    p_x = vc.decoder.distribution(z).log_prob(x).sum()
    expected = -(p_x + p_z + p_Y.float() - q_z - q_Y.float())
    assert loss == pytest.approx(float(expected.detach()), rel=1e-6, abs=1e-5)


@pytest.mark.parametrize("urn_slack, urn", [(0, [3.0, 1.0, 2.0]), (2, [5.0, 3.0, 4.0])])
def test_guide_ranks_elements_by_cluster_and_matches_sizes(urn_slack, urn):
    vc = _model(urn=CountsUrn(urn_slack))
    with torch.no_grad():
        vc.locs.copy_(torch.tensor([[-10.0, 0.0], [0.0, 0.0], [10.0, 0.0]]))
        vc.log_scales.zero_()
    # 2 elements at cluster 2, 3 at cluster 0, 1 at cluster 1
    loc = torch.tensor([[10.0, 0.0], [10.0, 0.0], [-10.0, 0.0], [-10.0, 0.0], [-10.0, 0.0], [0.0, 0.0]])
    scale = torch.full_like(loc, 0.1)
    size_logits, score_logits, class_sizes = vc.partition_guide.parameters_of(vc.responsibilities(loc, scale))
    # cluster 0 elements first, then cluster 1, then cluster 2
    order = score_logits.detach().argsort(descending=True)
    assert set(order[:3].tolist()) == {2, 3, 4} and order[3].item() == 5 and set(order[4:].tolist()) == {0, 1}
    torch.testing.assert_close(class_sizes, torch.tensor(urn, dtype=torch.float64))  # rounded counts (+ slack)
    # the samples put every element in its own cluster with deterministic sizes, and about 81% of them with two
    # balls of slack (random sizes push elements across block boundaries)
    q = DRPM(size_logits.double(), score_logits.double(), class_sizes=class_sizes.double())
    labels = q.sample((2000,)).argmax(-2)
    agree = (labels == torch.tensor([2, 2, 0, 0, 0, 1])).double().mean()
    assert agree > (0.99 if urn_slack == 0 else 0.75)


def test_cluster_path_order_walks_a_line():
    locs = torch.tensor([[3.0], [0.0], [2.0], [1.0]])
    order = cluster_path_order(locs)
    assert order.tolist() in ([1, 3, 2, 0], [0, 2, 3, 1])


def test_init_from_mixture_sets_prior_sizes_and_reorders():
    vc = _model()
    init = MixtureInit(
        weights=torch.tensor([0.5, 0.2, 0.3]),
        locs=torch.tensor([[0.0, 0.0], [5.0, 0.0], [1.0, 0.0]]),
        scales=torch.ones(3, 2),
        labels=torch.tensor([0, 1, 2]).numpy(),
    )
    vc.init_from_mixture(init)
    assert vc.locs[:, 0].tolist() in ([0.0, 1.0, 5.0], [5.0, 1.0, 0.0])
    w = torch.sigmoid(vc.prior.size_logits.detach())
    torch.testing.assert_close(w.sort().values, torch.tensor([0.2, 0.3, 0.5]))


def test_bad_arguments():
    with pytest.raises(ValueError, match="slack"):
        CountsUrn(-1)
    with pytest.raises(ValueError, match="partition_weight"):
        _model(partition_weight=0.0)
    with pytest.raises(ValueError, match="prior has 2 subsets"):
        _model(prior=DRPMPrior(2))


def test_largest_remainder_rounding():
    from pyro_drpm.partitions import largest_remainder_round

    rounded = largest_remainder_round(torch.tensor([2.6, 3.3, 4.1, 0.0]), 10)
    torch.testing.assert_close(rounded, torch.tensor([3.0, 3.0, 4.0, 0.0]))


def test_crp_prior_runs_under_svi_and_learns_its_concentration():
    vc = _model(prior=CRPPrior(3, concentration=2.0, dtype=torch.float64))
    x = torch.rand(12, 6)
    trace = poutine.trace(vc.model).get_trace(x)
    assert isinstance(trace.nodes["partition"]["fn"], ChineseRestaurantProcess)
    loss = Trace_ELBO().differentiable_loss(vc.model, vc.guide, x)
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(vc.prior.log_concentration.grad) and vc.prior.log_concentration.grad != 0
    assert vc.encoder.loc.weight.grad.abs().sum() > 0
    before = vc.prior.log_concentration.detach().item()
    with pyro.get_param_store().scope():
        history = train_svi(vc, torch.rand(36, 6), epochs=2, batch_size=12)
    assert all(math.isfinite(h) for h in history)
    assert vc.prior.log_concentration.detach().item() != before  # SVI moved the concentration
    with pytest.raises(ValueError, match="concentration"):
        CRPPrior(3, concentration=0.0)


def _score_model(prior=None):
    """DRPM-VC with random guide sizes (the full urn, learned size offsets) trained by the score function."""
    return _model(urn=FullUrn(), prior=prior, size_offsets=True, size_gradient="score")


@pytest.mark.parametrize("prior", [None, CRPPrior(3, dtype=torch.float64)], ids=["drpm", "crp"])
def test_score_sizes_site_is_the_exact_guide_and_the_factor_trains_only_the_size_offsets(prior):
    from pyro_drpm.partitions import largest_remainder_round

    vc = _score_model(prior)
    x = torch.rand(10, 6)
    loc, scale = vc.encoder(x)
    reference = largest_remainder_round(vc.partition_posterior(loc, scale).sizes.mean, 10)
    for seed in range(50):  # a sample whose sizes differ from the baseline's (else the advantage is zero)
        pyro.set_rng_seed(seed)
        guide_trace = poutine.trace(vc.guide).get_trace(x, temperature=0.5)
        site = guide_trace.nodes["partition"]
        if not torch.equal(site["value"].sum(-1), reference):
            break
    exact = vc.partition_posterior(loc, scale, temperature=0.5).log_prob(site["value"])
    torch.testing.assert_close(site["fn"].log_prob(site["value"]), exact)  # the site reports the exact log q(Y)
    assert set(site["value"].unique().tolist()) <= {0.0, 1.0}
    factor = guide_trace.nodes["partition_sizes_score"]["fn"].log_factor
    assert float(factor.detach()) == 0.0  # the loss value is unchanged
    factor.backward()
    assert vc.partition_guide.size_offsets.grad.abs().sum() > 0
    assert vc.encoder.loc.weight.grad is None and vc.locs.grad is None
    vc.zero_grad()
    loss = Trace_ELBO().differentiable_loss(vc.model, vc.guide, x, temperature=0.5)
    loss.backward()
    assert torch.isfinite(loss)
    for name, param in vc.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
    with pyro.get_param_store().scope():
        history = train_svi(vc, torch.rand(36, 6), epochs=2, batch_size=12)
    assert all(math.isfinite(h) for h in history)


def test_score_size_surrogate_is_unbiased_against_enumerated_sizes():
    """E_n[grad surrogate(n)] over the guide's exact size law equals -grad_b E_n[l(n)] (by enumerating the 15
    size vectors of 4 elements in 3 subsets), for fixed ranking noise and codes; the baseline cancels exactly."""
    from pyro_drpm.distributions.testing import mvhg_log_pmf

    vc = _score_model()
    vc.partition_guide.double()  # float64 gradients, compared to 1e-10
    offsets = vc.partition_guide.size_offsets
    with torch.no_grad():
        offsets.copy_(torch.tensor([0.4, -0.3, 0.1]))
    x = torch.rand(4, 6)
    loc, scale = (t.detach() for t in vc.encoder(x))
    posterior = vc.partition_posterior(loc, scale, temperature=0.5)
    torch.manual_seed(5)
    perturbed = posterior.perturb_scores()
    z = torch.distributions.Normal(loc, scale).sample()
    points, _ = mvhg_log_pmf(posterior.sizes.class_sizes, 4, posterior.sizes.logits.detach())
    assert points.shape == (15, 3)
    log_q = posterior.sizes.log_prob(points)  # differentiable in the offsets
    fills = [posterior.fill_subsets(point, perturbed) for point in points]
    ell = torch.stack([vc._size_dependent_elbo(Y, posterior.log_prob(Y), z) for Y in fills]).detach()
    (exact,) = torch.autograd.grad(-(log_q.exp() * ell).sum(), offsets)
    estimates = []
    for point, Y in zip(points, fills, strict=True):
        surrogate = vc.size_score_surrogate(posterior, point, perturbed, Y, posterior.log_prob(Y), z)
        assert float(surrogate.detach()) == 0.0
        estimates.append(torch.autograd.grad(surrogate, offsets, retain_graph=True)[0])
    estimates = torch.stack(estimates)
    expected = (log_q.detach().exp().unsqueeze(-1) * estimates).sum(0)
    assert exact.abs().max() > 1e-3
    torch.testing.assert_close(expected, exact, atol=1e-10, rtol=1e-8)


def test_clusters_convert_between_diagonal_and_full_covariances():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(3, 2, 2, generator=g)
    factors = torch.linalg.cholesky(a @ a.transpose(-1, -2) + torch.eye(2))
    locs = torch.randn(3, 2, generator=g)
    for covariance in ("diagonal", "full"):
        vc = DRPMVC(MLPEncoder(4, 2, (8,)), MLPDecoder(2, 4, (8,)), 3, covariance=covariance)
        vc.set_clusters(locs, factors)
        covariances = factors @ factors.transpose(-1, -2)
        if covariance == "full":
            torch.testing.assert_close(vc.cluster_scales, factors)
        else:  # the marginal standard deviations of the full covariances
            torch.testing.assert_close(vc.cluster_scales, covariances.diagonal(dim1=-2, dim2=-1).sqrt())
        vc.set_clusters(locs, torch.ones(3, 2) * 0.5)  # diagonal scales into either
        expected = torch.full((3, 2), 0.5) if covariance == "diagonal" else torch.diag_embed(torch.full((3, 2), 0.5))
        torch.testing.assert_close(vc.cluster_scales, expected)
        loss = pyro.infer.Trace_ELBO().differentiable_loss(vc.model, vc.guide, torch.rand(6, 4))
        loss.backward()
        assert torch.isfinite(loss)
    with pytest.raises(ValueError, match="unknown covariance 'tied'"):
        DRPMVC(MLPEncoder(4, 2, (8,)), MLPDecoder(2, 4, (8,)), 3, covariance="tied")
    with pytest.raises(ValueError, match="unknown covariance"):
        fit_gaussian_mixture(torch.randn(20, 2), 2, covariance="tied")
