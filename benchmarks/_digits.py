"""The main job's pretrainings of the digits' networks (``clustering_comparison.py``), shared by the benchmarks
that run on the digits."""

from pyro_drpm.nn import PretrainedAutoencoder, pretrain

#: latent dimension of each pretraining, as in the main job
LATENT_DIMS = {"contrastive": 10, "tsne": 2}


def pretrain_digits(
    X, seed: int, epochs: int, n_clusters: int, objective: str = "contrastive"
) -> PretrainedAutoencoder:
    """The main job's pretraining: hidden 256 x 256, batches of 256, Bernoulli likelihood, and either twin
    contrastive learning (``objective="contrastive"``, latent 10; ``n_clusters`` columns of the cluster contrastive
    loss: the main job and the benchmarks of its setting use its upper bound, 20; the fixed-K benchmarks 10) or the
    regression of a 2-D t-SNE of the pixels (``objective="tsne"``, the main job's default; ``n_clusters`` unused)."""
    return pretrain(
        X,
        latent_dim=LATENT_DIMS[objective],
        hidden_dims=(256, 256),
        likelihood="bernoulli",
        epochs=epochs,
        batch_size=256,
        seed=seed,
        objective=objective,
        n_clusters=n_clusters,
        progress=False,
    )
