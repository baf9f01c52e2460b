"""Regression test of the collapse of DRPM-VC with random guide sizes (benchmarks/results/guide_sizes.md)."""

import pytest

from pyro_drpm.datasets import load_digits_01
from pyro_drpm.models.clustering import DRPMClustering, clustering_scores
from pyro_drpm.nn import pretrain


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 2])
def test_random_guide_sizes_do_not_collapse_on_the_digits(seed):
    """With the full urn (random subset sizes) and the straight-through size gradient reaching the soft counts,
    DRPM-VC collapsed on these seeds of the digits: ACC 0.31 and 0.41 (9 and 8 of 10 clusters used) where the
    test was written, 0.61 with 8 clusters on seed 2 on a second machine (seed 0 did not collapse there: 0.81).
    With the guide's size logits on detached soft counts: ACC 0.84 / 0.81 and 0.78 / 0.83 on the two machines,
    10 or 9 clusters used. Per-seed results move between machines (floating-point order), so the assertions sit
    in the gap between the collapsed and the fixed runs rather than at one machine's values: at least 9
    clusters kept and ACC >= 0.7."""
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
    assert estimator.n_clusters_ >= 9
    assert clustering_scores(y, labels)["acc"] >= 0.7
