"""The main job's contrastive pretraining of the digits' networks (``--pretraining contrastive``), shared by the
benchmarks that run on the digits."""

from pyro_drpm.nn import PretrainedAutoencoder, pretrain


def pretrain_digits(X, seed: int, epochs: int, n_clusters: int) -> PretrainedAutoencoder:
    """Twin contrastive pretraining as in ``clustering_comparison.py``: latent 10, hidden 256 x 256, batches of
    256, Bernoulli likelihood; ``n_clusters`` columns of the cluster contrastive loss (the main job and the
    benchmarks of its setting: its upper bound, 20; the fixed-K benchmarks: 10)."""
    return pretrain(
        X,
        latent_dim=10,
        hidden_dims=(256, 256),
        likelihood="bernoulli",
        epochs=epochs,
        batch_size=256,
        seed=seed,
        objective="contrastive",
        n_clusters=n_clusters,
        progress=False,
    )
