"""Regression test of the collapse of DRPM-VC with random guide sizes (benchmarks/results/guide_sizes.md)."""

import pytest

from pyro_drpm.datasets import load_digits_01
from pyro_drpm.models.clustering import DRPMClustering, clustering_scores
from pyro_drpm.nn import pretrain


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 2])
def test_random_guide_sizes_keep_every_cluster_on_the_digits(seed):
    """With the full urn (random subset sizes) and the straight-through size gradient reaching the soft counts,
    DRPM-VC collapsed on these two seeds of the digits (ACC 0.31 and 0.41, 9 and 8 of 10 clusters used); with
    the guide's size logits on detached soft counts it keeps all 10 clusters at the accuracy of the
    deterministic guide (0.83 and 0.88 on these seeds)."""
    X, y = load_digits_01()
    pretrained = pretrain(
        X,
        latent_dim=10,
        hidden_dims=(256, 256),
        likelihood="bernoulli",
        epochs=100,
        batch_size=256,
        seed=seed,
        objective="contrastive",
        n_clusters=10,
        progress=False,
    )
    estimator = DRPMClustering(
        10, pretrained=pretrained, guide_urn="full", prune=False, epochs=50, random_state=seed, progress=False
    )
    labels = estimator.fit_predict(X)
    assert estimator.n_clusters_ == 10
    assert clustering_scores(y, labels)["acc"] >= 0.7
