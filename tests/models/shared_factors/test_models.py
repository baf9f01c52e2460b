"""SharedFactorsVAE, Ada-VAE and the unpaired VAE: traces, masks, the exact mode, training, bad input."""

import itertools

import numpy as np
import pyro
import pytest
import torch

from pyro_drpm.datasets import make_paired_factors
from pyro_drpm.distributions import DRPM
from pyro_drpm.infer import ConstantSchedule
from pyro_drpm.models.shared_factors import (
    AdaVAE,
    SharedFactorsVAE,
    UnpairedVAE,
    adaptive_threshold_mask,
    fit_pairs,
    most_probable_two_subset_partition,
)
from pyro_drpm.partitions import CRPPrior

INPUT_DIM, LATENT_DIM, BATCH = 6, 4, 5


def _pair(batch=BATCH, dim=INPUT_DIM):
    return torch.randn(batch, dim), torch.randn(batch, dim)


def _traces(vae, *args, **kwargs):
    guide = pyro.poutine.trace(vae.guide).get_trace(*args, **kwargs)
    model = pyro.poutine.trace(pyro.poutine.replay(vae.model, trace=guide)).get_trace(*args, **kwargs)
    for trace in (guide, model):
        trace.compute_log_prob()
    return guide, model


def test_traces_have_the_partition_site_and_the_pairs_plate():
    vae = SharedFactorsVAE(INPUT_DIM, LATENT_DIM, hidden_dims=(8,))
    guide, model = _traces(vae, *_pair(), temperature=0.5)
    for trace in (guide, model):
        site = trace.nodes["partition"]
        assert site["value"].shape == (BATCH, 2, LATENT_DIM)
        assert isinstance(site["fn"], DRPM) and site["fn"].batch_shape == (BATCH,)
        assert site["log_prob"].shape == (BATCH,) and torch.isfinite(site["log_prob"]).all()
        assert [f.name for f in site["cond_indep_stack"]] == ["pairs"]
        for name in ("z1", "z2"):
            assert trace.nodes[name]["value"].shape == (BATCH, LATENT_DIM)
            assert trace.nodes[name]["log_prob"].shape == (BATCH,)
    assert model.nodes["x1"]["is_observed"] and model.nodes["x2"]["log_prob"].shape == (BATCH,)
    # the partition's rows split the dimensions: every column one-hot
    value = guide.nodes["partition"]["value"]
    assert torch.equal(value.sum(-2), torch.ones(BATCH, LATENT_DIM))


def test_shared_dimensions_use_the_averaged_posterior_and_the_second_view_copies_them():
    vae = SharedFactorsVAE(INPUT_DIM, LATENT_DIM, hidden_dims=(8,))
    x1, x2 = _pair()
    guide, model = _traces(vae, x1, x2)
    shared = guide.nodes["partition"]["value"][:, 0].bool()
    (loc1, _), (loc2, _) = vae.encoder(x1), vae.encoder(x2)
    z1 = guide.nodes["z1"]["fn"].base_dist
    torch.testing.assert_close(z1.loc_on[shared], ((loc1 + loc2) / 2)[shared])
    torch.testing.assert_close(z1.loc_off[~shared], loc1[~shared])
    # a shared dimension of z2 is z1 plus copy noise in guide and model alike: its log-density terms cancel
    z2_guide, z2_model = guide.nodes["z2"], model.nodes["z2"]
    value = z2_guide["value"]
    assert ((value - guide.nodes["z1"]["value"]).abs()[shared] < 6 * vae.copy_scale).all()
    torch.testing.assert_close(
        z2_guide["fn"].base_dist.log_prob(value)[shared], z2_model["fn"].base_dist.log_prob(value)[shared]
    )


@pytest.mark.parametrize("cls", [SharedFactorsVAE, AdaVAE, UnpairedVAE])
def test_shared_mask_is_a_boolean_split_of_the_latent_dimensions(cls):
    vae = cls(INPUT_DIM, LATENT_DIM, hidden_dims=(8,))
    x1, x2 = _pair()
    mask = vae.shared_mask(x1, x2)
    assert mask.shape == (BATCH, LATENT_DIM) and mask.dtype == torch.bool
    if cls is SharedFactorsVAE:
        sampled = vae.shared_mask(x1, x2, sample=True)
        assert sampled.shape == (BATCH, LATENT_DIM) and sampled.dtype == torch.bool
        # the mode equals the shared row of the guide's most probable partition
        mode = most_probable_two_subset_partition(vae.partition_posterior(x1, x2))
        assert torch.equal(mask, mode[:, 0].bool()) and torch.equal(~mask, mode[:, 1].bool())


def test_the_two_subset_mode_is_the_most_probable_partition_by_enumeration():
    torch.manual_seed(1)
    q = DRPM(torch.randn(7, 2, dtype=torch.float64), 2 * torch.randn(7, 5, dtype=torch.float64))
    support = q.enumerate_support()  # (32, 7, 2, 5)
    best = support.gather(0, q.log_prob(support).argmax(0)[None, :, None, None].expand(1, 7, 2, 5))[0]
    assert torch.equal(most_probable_two_subset_partition(q), best)


def test_threshold_rule_and_known_counts():
    divergence = torch.tensor([[0.0, 1.0, 2.0, 10.0], [3.0, 3.0, 3.0, 3.0]])
    # threshold (0 + 10) / 2 = 5 -> three shared; all equal -> none below the threshold
    assert adaptive_threshold_mask(divergence).tolist() == [[True, True, True, False], [False] * 4]
    known = adaptive_threshold_mask(divergence, torch.tensor([1, 4]))
    assert known.tolist() == [[True, False, False, False], [True] * 4]


def test_oracle_shares_exactly_the_given_number_of_dimensions():
    vae = AdaVAE(INPUT_DIM, LATENT_DIM, hidden_dims=(8,))
    x1, x2 = _pair()
    counts = torch.tensor([0, 1, 2, 3, 4])
    assert torch.equal(vae.shared_mask(x1, x2, num_shared=counts).sum(-1), counts)
    guide, model = _traces(vae, x1, x2, num_shared=counts)
    assert "partition" not in guide.nodes
    # model and guide compute the same mask: exactly `counts` dimensions switched on in both
    for trace in (guide, model):
        assert torch.equal(trace.nodes["z2"]["fn"].base_dist.mask.sum(-1), counts.float())


@pytest.mark.parametrize("cls", [SharedFactorsVAE, AdaVAE, UnpairedVAE])
def test_a_few_svi_steps_lower_the_loss(cls):
    data = make_paired_factors(256, num_factors=LATENT_DIM, observed_dim=INPUT_DIM, seed=3)
    x1, x2 = torch.from_numpy(data.x1), torch.from_numpy(data.x2)
    vae = cls(INPUT_DIM, LATENT_DIM, hidden_dims=(16,))
    schedules = {"temperature": ConstantSchedule(0.5)} if cls is SharedFactorsVAE else None
    losses = fit_pairs(vae, x1, x2, 8, batch_size=64, lr=5e-3, schedules=schedules)
    assert np.isfinite(losses).all()
    # measured over 3 seeds: the last epoch's loss is 0.65-0.75 of the first's; margin 0.15
    assert losses[-1] < 0.9 * losses[0]


@pytest.mark.slow
def test_inferred_shared_count_moves_towards_the_truth_when_every_pair_shares_the_first_half():
    torch.manual_seed(0)
    shared = np.array([True, True, False, False])
    data = make_paired_factors(1024, num_factors=4, observed_dim=8, shared=shared, seed=4)
    x1, x2 = torch.from_numpy(data.x1), torch.from_numpy(data.x2)
    vae = SharedFactorsVAE(8, 4, hidden_dims=(32, 32))
    with torch.no_grad():  # start the guide away from the truth (about 0 shared; equal logits would give 2)
        vae.partition_guide.size_net[-1].bias.copy_(torch.tensor([-2.0, 2.0]))
    before = vae.shared_mask(x1, x2).sum(-1).float()
    assert (before - 2).abs().mean() > 1
    fit_pairs(vae, x1, x2, 30, batch_size=128, lr=3e-3, schedules={"temperature": ConstantSchedule(0.5)})
    after = vae.shared_mask(x1, x2).sum(-1).float()
    error_before, error_after = (before - 2).abs().mean(), (after - 2).abs().mean()
    assert error_after < error_before


@pytest.mark.parametrize("cls", [SharedFactorsVAE, AdaVAE, UnpairedVAE])
def test_bad_input_raises_value_errors(cls):
    with pytest.raises(ValueError, match="latent_dim"):
        cls(INPUT_DIM, 1)
    with pytest.raises(ValueError, match="likelihood"):
        cls(INPUT_DIM, LATENT_DIM, likelihood="poisson")
    with pytest.raises(ValueError, match="copy_scale"):
        cls(INPUT_DIM, LATENT_DIM, copy_scale=0.0)
    with pytest.raises(ValueError, match="input_dim"):
        cls(0, LATENT_DIM)
    vae = cls(INPUT_DIM, LATENT_DIM, hidden_dims=(8,))
    x1, x2 = _pair()
    with pytest.raises(ValueError, match="same batch size"):
        vae.model(x1, x2[:3])
    with pytest.raises(ValueError, match="x2 must be a tensor of shape"):
        vae.guide(x1, torch.randn(BATCH, INPUT_DIM + 1))
    with pytest.raises(ValueError, match="x1 must be a tensor of shape"):
        vae.shared_mask(x1[0], x2)


def test_prior_must_have_two_subsets():
    with pytest.raises(ValueError, match="2 subsets"):
        SharedFactorsVAE(INPUT_DIM, LATENT_DIM, prior=CRPPrior(3))


def test_bernoulli_likelihood_traces():
    vae = SharedFactorsVAE(INPUT_DIM, LATENT_DIM, hidden_dims=(8,), likelihood="bernoulli")
    x1, x2 = torch.rand(BATCH, INPUT_DIM).round(), torch.rand(BATCH, INPUT_DIM).round()
    _, model = _traces(vae, x1, x2)
    assert torch.isfinite(model.nodes["x1"]["log_prob"]).all()


def test_mode_needs_two_subsets():
    with pytest.raises(ValueError, match="2 subsets"):
        most_probable_two_subset_partition(DRPM(torch.zeros(3), torch.zeros(4)))


def test_the_partition_guide_is_symmetric_in_the_views():
    vae = SharedFactorsVAE(INPUT_DIM, LATENT_DIM, hidden_dims=(8,))
    x1, x2 = _pair()
    q12, q21 = vae.partition_posterior(x1, x2), vae.partition_posterior(x2, x1)
    torch.testing.assert_close(q12.score_logits, q21.score_logits)
    torch.testing.assert_close(q12.size_logits, q21.size_logits)
    assert list(itertools.chain(q12.event_shape)) == [2, LATENT_DIM]
