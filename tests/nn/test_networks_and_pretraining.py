"""Networks, likelihoods, pretraining and the mixture initialisation."""

import math

import numpy as np
import pytest
import torch

from pyro_drpm.infer import minibatches
from pyro_drpm.models.clustering import fit_gaussian_mixture
from pyro_drpm.nn import MLPDecoder, MLPEncoder, observation_distribution, pretrain


def test_encoder_decoder_shapes_and_initial_scale():
    enc, dec = MLPEncoder(7, 3, (16, 8)), MLPDecoder(3, 7, (16, 8))
    loc, scale = enc(torch.rand(5, 7))
    assert loc.shape == scale.shape == (5, 3)
    torch.testing.assert_close(scale, torch.full((5, 3), np.exp(-2.0), dtype=torch.float32))
    assert dec(loc).shape == (5, 7)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_likelihoods(likelihood):
    dec = MLPDecoder(2, 4, (8,), likelihood=likelihood)
    d = dec.distribution(torch.zeros(3, 2))
    assert d.event_shape == (4,) and d.batch_shape == (3,)
    # fractional pixel intensities are accepted by the Bernoulli (binary cross-entropy) likelihood
    assert torch.isfinite(d.log_prob(torch.full((3, 4), 0.3))).all()
    with pytest.raises(ValueError, match="unknown likelihood"):
        MLPDecoder(2, 4, likelihood="poisson")
    with pytest.raises(ValueError, match="unknown likelihood"):
        observation_distribution("poisson", torch.zeros(2))


def test_minibatches_cover_everything_with_near_equal_sizes():
    batches = minibatches(1797, 256, torch.Generator().manual_seed(0))
    sizes = [len(b) for b in batches]
    assert len(batches) == 8 and max(sizes) - min(sizes) <= 1
    assert torch.equal(torch.cat(batches).sort().values, torch.arange(1797))


def test_pretrain_reduces_the_reconstruction_loss_and_is_seeded():
    X = np.random.default_rng(0).random((64, 6)).astype(np.float32)
    state = torch.get_rng_state()
    a = pretrain(X, latent_dim=2, hidden_dims=(16,), epochs=15, batch_size=16, seed=3)
    b = pretrain(X, latent_dim=2, hidden_dims=(16,), epochs=15, batch_size=16, seed=3)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left alone
    assert a.history[-1] < a.history[0]
    assert a.history == b.history
    assert a.embed(X).shape == (64, 2)


def test_gaussian_pretraining_standardises_features():
    X = np.random.default_rng(1).normal(5.0, 3.0, size=(40, 3))
    X[:, 2] = 1.0  # a constant feature keeps scale 1
    pre = pretrain(X, latent_dim=2, hidden_dims=(8,), likelihood="gaussian", epochs=1)
    data = pre.preprocess(X)
    torch.testing.assert_close(data.mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    assert float(pre.feature_scale[2]) == 1.0


@pytest.mark.parametrize("dirichlet_process", [False, True])
def test_fit_gaussian_mixture(dirichlet_process):
    rng = np.random.default_rng(0)
    Z = np.concatenate([rng.normal(-5, 0.5, (50, 2)), rng.normal(5, 0.5, (50, 2))])
    mix = fit_gaussian_mixture(Z, 4 if dirichlet_process else 2, random_state=0, dirichlet_process=dirichlet_process)
    assert mix.locs.dtype == torch.float32 and mix.scales.shape == mix.locs.shape
    torch.testing.assert_close(mix.weights.sum(), torch.tensor(1.0))
    assert len(np.unique(mix.labels)) == 2


def test_image_augmentation():
    from pyro_drpm.nn import augment_images, image_side

    assert image_side(64) == 8 and image_side(784) == 28 and image_side(10) is None and image_side(4) is None
    x = torch.rand(5, 64)
    out = augment_images(x, side=8)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    # no jitter and no noise: the identity (bilinear resampling at the pixel centres)
    same = augment_images(x, side=8, rotation=0.0, scaling=0.0, translation=0.0, noise=0.0)
    torch.testing.assert_close(same, x, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="square images"):
        pretrain(np.random.default_rng(0).random((10, 5)), latent_dim=2, hidden_dims=(4,), epochs=1, augment=True)


def test_contrastive_pretraining_learns_and_is_seeded():
    from pyro_drpm.datasets import load_digits_01

    X, _ = load_digits_01()
    X = X[:256]
    a = pretrain(X, latent_dim=3, hidden_dims=(32,), epochs=8, batch_size=64, seed=1, objective="contrastive")
    b = pretrain(X, latent_dim=3, hidden_dims=(32,), epochs=8, batch_size=64, seed=1, objective="contrastive")
    assert a.history == b.history and all(np.isfinite(a.history))
    assert a.history[-1] < a.history[0]
    assert a.embed(X).shape == (256, 3)
    # the scale head is reset; the contrastive heads are not part of the result
    assert torch.all(a.encoder.log_scale.weight == 0)


def test_contrastive_pretraining_losses():
    from pyro_drpm.nn.pretraining import _balance_loss, _contrastive_loss

    a = torch.randn(6, 4)
    # identical views: the InfoNCE loss is lower than for unrelated views, and equals its closed form when the
    # rows are orthogonal one-hots (each positive has similarity 1 / t, every negative 0)
    assert _contrastive_loss(a, a, 0.5) < _contrastive_loss(a, torch.randn(6, 4), 0.5)
    eye = torch.eye(4)
    expected = -math.log(math.exp(2.0) / (math.exp(2.0) + 6))
    assert abs(float(_contrastive_loss(eye, eye, 0.5)) - expected) < 1e-5
    assert abs(float(_balance_loss(torch.full((8, 4), 0.25)))) < 1e-6
    assert abs(float(_balance_loss(torch.eye(4)[[0] * 8])) - math.log(4)) < 1e-5


def test_unknown_or_impossible_pretraining_objective():
    X = np.random.default_rng(0).random((20, 5))
    with pytest.raises(ValueError, match="unknown pretraining objective"):
        pretrain(X, latent_dim=2, hidden_dims=(4,), epochs=1, objective="simclr")
    with pytest.raises(ValueError, match="square images"):
        pretrain(X, latent_dim=2, hidden_dims=(4,), epochs=1, objective="contrastive")


def test_identity_objective_builds_untrained_identity_networks_on_standardised_features():
    X = np.random.default_rng(0).normal(3.0, 2.0, (30, 4))
    rng_state = torch.get_rng_state()
    pre = pretrain(X, latent_dim=4, likelihood="gaussian", epochs=5, objective="identity")
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert pre.history == [] and len(pre.encoder.trunk) == 0 and len(pre.decoder.trunk) == 0
    data = pre.preprocess(X)
    loc, scale = pre.encoder(data)
    torch.testing.assert_close(loc, data)  # the latent space is the standardised feature space
    torch.testing.assert_close(pre.decoder(loc), data)
    torch.testing.assert_close(scale, torch.full_like(scale, math.exp(-2.0)))
    torch.testing.assert_close(pre.decoder.obs_log_scale, torch.full((4,), -2.0))
    with pytest.raises(ValueError, match="latent_dim equal to the number of features"):
        pretrain(X, latent_dim=2, likelihood="gaussian", objective="identity")
