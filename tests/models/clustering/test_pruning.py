"""Inferring the number of clusters: delete moves under the prior, the prior's concentration acts, n_clusters_."""

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs

from pyro_drpm.models.clustering import DRPMVC, DRPMClustering, fit_gaussian_mixture
from pyro_drpm.models.clustering.metrics import adjusted_rand_index
from pyro_drpm.models.clustering.pruning import prune_subsets
from pyro_drpm.nn import MLPDecoder, MLPEncoder
from pyro_drpm.partitions import ClusterOrderedDRPM, CRPPrior, DRPMPrior


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=400, centers=4, n_features=8, cluster_std=1.0, random_state=0)
    return X, y


@pytest.mark.parametrize("prior_name", ["crp", "drpm"])
def test_delete_moves_keep_four_of_eight_subsets_on_four_blobs(blobs, prior_name):
    X, y = blobs
    mixture = fit_gaussian_mixture(X, 8, random_state=0)
    assert np.unique(mixture.labels).size == 8  # the plain mixture fit uses every subset
    prior = CRPPrior(8, dtype=torch.float64) if prior_name == "crp" else DRPMPrior(8, dtype=torch.float64)
    prior.init_from_weights(mixture.weights)
    generator = torch.Generator().manual_seed(0)
    fit = prune_subsets(torch.as_tensor(X), mixture.locs, mixture.scales, prior, batch_size=256, generator=generator)
    assert int(fit.active.sum()) == 4
    assert set(fit.labels.unique().tolist()) == set(fit.active.nonzero().flatten().tolist())
    assert adjusted_rand_index(y, fit.labels.numpy()) > 0.99  # measured 1.0


def _overlapping_blobs():
    """Six 2-D blobs of 15 points whose neighbours overlap: how many clusters is a matter of the prior."""
    X, _ = make_blobs(n_samples=90, centers=6, n_features=2, cluster_std=1.0, center_box=(-6, 6), random_state=3)
    return torch.as_tensor(X)


def test_crp_concentration_sweep_changes_the_number_of_clusters_monotonically():
    z = _overlapping_blobs()
    mixture = fit_gaussian_mixture(z, 8, random_state=0)
    used = []
    for concentration in (0.1, 1.0, 10.0):
        prior = CRPPrior(8, concentration=concentration, learn_concentration=False, dtype=torch.float64)
        generator = torch.Generator().manual_seed(0)
        fit = prune_subsets(z, mixture.locs, mixture.scales, prior, batch_size=30, generator=generator)
        used.append(int(fit.active.sum()))
    assert used[0] <= used[1] <= used[2] and used[0] < used[2], used


def test_the_guide_can_empty_a_subset_the_prior_disfavours():
    """Regression: with responsibilities from the cluster densities alone, no subset's soft count could vanish."""
    torch.manual_seed(0)
    prior = DRPMPrior(3, size_logits=torch.tensor([0.0, -30.0, 0.0]), dtype=torch.float64)
    vc = DRPMVC(
        MLPEncoder(4, 2, (8,)),
        MLPDecoder(2, 4, (8,)),
        3,
        prior=prior,
        partition_guide=ClusterOrderedDRPM(3, dtype=torch.float64),
    )
    with torch.no_grad():
        vc.locs.zero_()  # three identical clusters: only the prior tells them apart
    with torch.no_grad():
        loc, scale = vc.encoder(torch.randn(20, 4))
        r = vc.responsibilities(loc, scale)
    assert float(r[:, 1].sum()) < 1e-6
    Y = vc.partition_posterior(loc, scale).sample(torch.Size([20]))
    assert float(Y[:, 1].sum()) == 0
    vc_without = DRPMVC(
        MLPEncoder(4, 2, (8,)),
        MLPDecoder(2, 4, (8,)),
        3,
        prior=prior,
        prior_sweeps=0,
        partition_guide=ClusterOrderedDRPM(3, dtype=torch.float64),
    )
    with torch.no_grad():
        vc_without.locs.zero_()
    with torch.no_grad():
        assert float(vc_without.responsibilities(loc, scale)[:, 1].sum()) > 1.0


@pytest.mark.slow
@pytest.mark.parametrize("partition_prior", ["drpm", "crp"])
def test_estimator_uses_four_of_eight_clusters_on_four_blobs(blobs, partition_prior):
    X, y = blobs
    est = DRPMClustering(n_clusters=8, partition_prior=partition_prior, random_state=0, progress=False)
    est.set_params(epochs=30, pretrain_epochs=100)
    labels = est.fit_predict(X)
    assert est.n_clusters_ == 4 and np.unique(labels).size == 4
    assert adjusted_rand_index(y, labels) >= 0.95
    without = DRPMClustering(n_clusters=8, partition_prior=partition_prior, prune=False, random_state=0)
    without.set_params(epochs=30, pretrain_epochs=100, progress=False)
    assert without.fit(X).n_clusters_ > 4  # every subset of the mixture fit stays in use


def test_one_cluster_works():
    X = np.random.default_rng(0).normal(size=(30, 3))
    est = DRPMClustering(n_clusters=1, epochs=1, pretrain_epochs=1, batch_size=10, random_state=0, progress=False)
    assert est.fit(X).n_clusters_ == 1 and (est.labels_ == 0).all()


def _elongated_blobs():
    """Two well-separated 2-D Gaussians stretched along the diagonal (correlation 0.95), 150 points each."""
    g = torch.Generator().manual_seed(4)
    factor = torch.linalg.cholesky(torch.tensor([[1.0, 0.95], [0.95, 1.0]], dtype=torch.float64) * 4.0)
    centres = torch.tensor([[-4.0, 4.0], [4.0, -4.0]], dtype=torch.float64)
    z = torch.cat([centres[c] + torch.randn(150, 2, generator=g, dtype=torch.float64) @ factor.T for c in (0, 1)])
    return z, torch.arange(2).repeat_interleave(150), factor


def test_full_covariance_delete_moves_find_two_elongated_clusters_and_their_covariance():
    z, labels, _ = _elongated_blobs()
    mixture = fit_gaussian_mixture(z, 6, random_state=0, covariance="full")
    assert mixture.scales.shape == (6, 2, 2)
    generator = torch.Generator().manual_seed(0)
    prior = CRPPrior(6, dtype=torch.float64)
    fit = prune_subsets(z, mixture.locs, mixture.scales, prior, batch_size=100, generator=generator)
    assert int(fit.active.sum()) == 2 and fit.scales.shape == (6, 2, 2)
    assert adjusted_rand_index(labels.numpy(), fit.labels.numpy()) == 1.0
    for k in fit.active.nonzero().flatten().tolist():
        # the moment-matched covariance: the cluster's own scatter (divided by its size), plus reg 1e-4
        members = z[fit.labels == k]
        centred = members - members.mean(0)
        expected = centred.T @ centred / len(members) + 1e-4 * torch.eye(2, dtype=torch.float64)
        torch.testing.assert_close((fit.scales[k] @ fit.scales[k].T).double(), expected, atol=1e-5, rtol=1e-5)
    # diagonal clusters need more than one component per stretched blob
    diagonal = fit_gaussian_mixture(z, 6, random_state=0)
    generator = torch.Generator().manual_seed(0)
    prior = CRPPrior(6, dtype=torch.float64)
    fit = prune_subsets(z, diagonal.locs, diagonal.scales, prior, batch_size=100, generator=generator)
    assert int(fit.active.sum()) > 2


@pytest.mark.parametrize("cls_name", ["DRPMClustering", "VaDEClustering", "DPMixtureClustering"])
def test_estimators_fit_full_covariance_clusters(cls_name):
    from pyro_drpm.models import clustering

    z, labels, _ = _elongated_blobs()
    est = getattr(clustering, cls_name)(n_clusters=4, covariance="full", epochs=3, random_state=0, progress=False)
    est.fit(z.numpy())
    model = est.model_
    assert model.covariance == "full" and model.cluster_scales.shape == (4, 2, 2)
    assert torch.isfinite(model.scale_tril_lower).all() and np.all(np.isfinite(est.history_))
    if cls_name == "DRPMClustering":  # pruning keeps the two stretched clusters
        assert est.n_clusters_ == 2 and adjusted_rand_index(labels.numpy(), est.labels_) == 1.0
    assert est.predict(z[:5].numpy()).shape == (5,)
