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


def _correlated_features(n=60, seed=0):
    """Five features with a clear spectrum: two strong directions, three weak ones."""
    generator = np.random.default_rng(seed)
    rotation, _ = np.linalg.qr(generator.standard_normal((5, 5)))
    return 1.5 + generator.standard_normal((n, 5)) * np.array([4.0, 2.0, 0.6, 0.3, 0.2]) @ rotation


def test_pca_networks_are_scikit_learns_pca_and_its_reconstruction():
    from sklearn.decomposition import PCA

    from pyro_drpm.nn import pca_networks

    X = torch.as_tensor(_correlated_features(), dtype=torch.float64)
    encoder, decoder = pca_networks(X, 2)
    assert encoder.loc.weight.dtype == torch.float64 and len(encoder.trunk) == 0 and len(decoder.trunk) == 0
    assert encoder.loc.weight.requires_grad and decoder.obs_log_scale.requires_grad  # all of it trainable
    encoder.requires_grad_(False)
    decoder.requires_grad_(False)
    scores = encoder(X)[0]
    reference = PCA(2, svd_solver="full").fit(X.numpy())
    expected = reference.transform(X.numpy())
    signs = np.sign((scores.numpy() * expected).sum(0))  # PCA axes are defined up to their sign
    torch.testing.assert_close(scores, torch.as_tensor(expected * signs), atol=1e-10, rtol=0)
    # the decoder maps the scores back to scikit-learn's reconstruction; its noise is the residuals' RMS
    reconstruction = reference.inverse_transform(expected)
    torch.testing.assert_close(decoder(scores), torch.as_tensor(reconstruction), atol=1e-10, rtol=0)
    rms = np.sqrt(np.square(X.numpy() - reconstruction).mean(0))
    torch.testing.assert_close(decoder.obs_log_scale, torch.as_tensor(np.log(rms)), atol=1e-10, rtol=0)
    # every axis's largest entry is positive, so the networks do not depend on the SVD's signs
    weight = encoder.loc.weight
    assert (weight.gather(-1, weight.abs().argmax(-1, keepdim=True)) > 0).all()
    encoder_again, _ = pca_networks(-X, 2)  # the same axes up to sign, and the same convention picks them
    torch.testing.assert_close(encoder_again.loc.weight, weight, atol=1e-10, rtol=0)
    _, scale = encoder(X)
    torch.testing.assert_close(scale, torch.full_like(scale, math.exp(-2.0)))


def test_pca_networks_floor_the_noise_at_the_encoders_scale_and_check_their_input():
    from pyro_drpm.nn import pca_networks

    X = torch.as_tensor(_correlated_features(), dtype=torch.float32)
    _, decoder = pca_networks(X, 5)  # every component: the reconstruction is exact
    torch.testing.assert_close(decoder.obs_log_scale, torch.full((5,), -2.0))
    for bad in (0, 6, 2.0, True):
        with pytest.raises(ValueError, match="n_components"):
            pca_networks(X, bad)
    with pytest.raises(ValueError, match="must be a matrix"):
        pca_networks(X[0], 1)


def test_pca_objective_builds_untrained_networks_on_the_standardised_features():
    from pyro_drpm.nn import pca_networks

    X = _correlated_features()
    rng_state = torch.get_rng_state()
    pre = pretrain(X, latent_dim=2, likelihood="gaussian", epochs=5, objective="pca")
    assert torch.equal(torch.get_rng_state(), rng_state) and pre.history == []
    data = pre.preprocess(X)
    encoder, decoder = pca_networks(data, 2)
    with torch.no_grad():
        torch.testing.assert_close(pre.encoder(data)[0], encoder(data)[0])
    torch.testing.assert_close(pre.decoder.obs_log_scale, decoder.obs_log_scale)
    with pytest.raises(ValueError, match="Gaussian likelihood"):
        pretrain(np.random.default_rng(0).random((20, 5)), latent_dim=2, objective="pca")
    with pytest.raises(ValueError, match="augment=True is not supported"):
        pretrain(X, latent_dim=2, likelihood="gaussian", objective="pca", augment=True)
    with pytest.raises(ValueError, match="n_components"):
        pretrain(X, latent_dim=6, likelihood="gaussian", objective="pca")


def _three_blobs(n_per_blob=30, dim=6, seed=0):
    generator = np.random.default_rng(seed)
    centres = 4.0 * np.eye(3, dim)
    X = np.concatenate([c + generator.standard_normal((n_per_blob, dim)) for c in centres])
    return X, np.repeat(np.arange(3), n_per_blob)


def test_tsne_targets_are_scikit_learns_tsne_centred_and_scaled():
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    from pyro_drpm.nn import tsne_targets

    X, _ = _three_blobs()
    data = torch.as_tensor(X, dtype=torch.float32)
    targets = tsne_targets(data, 2, seed=3)
    with threadpool_limits(limits=1, user_api="openmp"):  # as tsne_targets runs it
        reference = TSNE(2, perplexity=89 / 3, init="pca", random_state=3).fit_transform(data.double().numpy())
    reference = reference - reference.mean(0)
    reference = reference / np.sqrt(np.square(reference).mean())
    assert targets.dtype == torch.float32 and targets.shape == (90, 2)
    torch.testing.assert_close(targets, torch.as_tensor(reference, dtype=torch.float32))
    torch.testing.assert_close(targets.mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(targets.double().square().mean(), torch.tensor(1.0, dtype=torch.float64))
    with pytest.raises(ValueError, match="n_components"):
        tsne_targets(data, 4)
    with pytest.raises(ValueError, match="at least 4 rows"):
        tsne_targets(data[:3], 2)


def test_tsne_targets_do_not_depend_on_the_number_of_threads():
    # Barnes-Hut t-SNE sums its gradient per OpenMP thread: on two threads scikit-learn's layout of these points
    # differs from the one-thread layout, which tsne_targets always computes
    from threadpoolctl import threadpool_limits

    from pyro_drpm.datasets import load_digits_01
    from pyro_drpm.nn import tsne_targets

    X, _ = load_digits_01()
    data = torch.as_tensor(X[:300], dtype=torch.float32)
    with threadpool_limits(limits=2, user_api="openmp"):
        on_two = tsne_targets(data, 2, seed=0)
    with threadpool_limits(limits=1, user_api="openmp"):
        on_one = tsne_targets(data, 2, seed=0)
    assert torch.equal(on_two, on_one)


def test_tsne_pretraining_regresses_the_targets_and_keeps_the_blobs_apart():
    from sklearn.cluster import KMeans

    from pyro_drpm.metrics import adjusted_rand_index
    from pyro_drpm.nn import tsne_targets

    X, labels = _three_blobs()
    settings = dict(latent_dim=2, hidden_dims=(64,), likelihood="gaussian", epochs=400, batch_size=30, seed=0)
    pre = pretrain(X, objective="tsne", **settings)
    again = pretrain(X, objective="tsne", **settings)
    assert pre.history == again.history and pre.history[-1] < pre.history[0]
    targets = tsne_targets(pre.preprocess(X), 2, seed=0)
    codes = pre.embed(X)
    # the regression fits the unit-variance layout closely, and its three groups are the blobs
    assert float((codes - targets).square().sum(-1).mean()) < 0.05
    found = KMeans(3, n_init=10, random_state=0).fit_predict(codes.numpy())
    assert adjusted_rand_index(labels, found) == 1.0
    assert torch.all(pre.encoder.log_scale.weight == 0)  # the scale head is reset


def test_tsne_pretraining_rejects_what_it_cannot_do():
    from pyro_drpm.nn import pretrain_tsne

    X, _ = _three_blobs()
    with pytest.raises(ValueError, match="latent_dim 1, 2 or 3"):
        pretrain(X, latent_dim=4, hidden_dims=(8,), likelihood="gaussian", epochs=1, objective="tsne")
    images = np.random.default_rng(0).random((20, 16))
    with pytest.raises(ValueError, match="augment=True is not supported"):
        pretrain(images, latent_dim=2, hidden_dims=(8,), epochs=1, objective="tsne", augment=True)
    encoder, decoder = MLPEncoder(6, 2, (8,)), MLPDecoder(2, 6, (8,), likelihood="gaussian")
    with pytest.raises(ValueError, match="targets must have shape"):
        pretrain_tsne(encoder, decoder, torch.randn(10, 6), torch.randn(10, 3), epochs=1)
