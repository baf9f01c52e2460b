"""Pretraining of an encoder/decoder pair: autoencoder (optionally denoising), twin contrastive learning,
regression onto a t-SNE embedding, or the linear networks of a principal component analysis.

Deep latent-variable models start from an embedding that already separates the data; several models of one
comparison can share one :class:`PretrainedAutoencoder`.

Example::

    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> enc, dec = MLPEncoder(8, 2, (16,)), MLPDecoder(2, 8, (16,))
    >>> losses = pretrain_autoencoder(enc, dec, torch.rand(40, 8), epochs=2, batch_size=20)
    >>> len(losses), embed(enc, torch.rand(40, 8)).shape
    (2, torch.Size([40, 2]))

References:
[1] Jiang, Zheng, Tan, Tang, Zhou, "Variational Deep Embedding", arXiv:1611.05148.
[2] Sutter, Ryser, Liebeskind, Vogt, "Differentiable Random Partition Models", arXiv:2305.16841.
[3] van der Maaten, Hinton, "Visualizing Data using t-SNE", JMLR 9 (2008).
[4] Tipping, Bishop, "Probabilistic Principal Component Analysis", JRSS B 61 (1999).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from pyro_drpm.infer.minibatch import minibatches
from pyro_drpm.nn.augmentation import CONTRASTIVE_AUGMENTATION, augment_images, image_side
from pyro_drpm.nn.mlp import MLPDecoder, MLPEncoder

__all__ = [
    "PRETRAINING_OBJECTIVES",
    "ContrastiveHeads",
    "PretrainedAutoencoder",
    "embed",
    "identity_networks",
    "pca_networks",
    "pretrain",
    "pretrain_autoencoder",
    "pretrain_contrastive",
    "pretrain_tsne",
    "tsne_targets",
]

#: ``"autoencoder"``: reconstruction only (denoising with ``augment``); ``"contrastive"``: the DRPM code's
#: twin-contrastive pretraining (instance and cluster contrastive losses on two augmented views, plus
#: reconstruction), for square images only; ``"identity"``: no pretraining, linear networks that start as the
#: identity map (the latent space is the standardised feature space), for small tabular data; ``"tsne"``: the
#: encoder's mean regresses a t-SNE embedding of the training set (at most 3 latent dimensions), plus
#: reconstruction, so that the latent space keeps the data's neighbourhoods; ``"pca"``: no training, linear
#: networks set to the principal axes of the training set (the latent space holds its leading principal
#: component scores), for real-valued data.
PRETRAINING_OBJECTIVES = ("autoencoder", "contrastive", "identity", "pca", "tsne")


def _reconstruction_loss(decoder: MLPDecoder, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return -decoder.distribution(z).log_prob(x).mean()


def pretrain_autoencoder(
    encoder: MLPEncoder,
    decoder: MLPDecoder,
    X: torch.Tensor,
    epochs: int = 100,
    batch_size: int = 256,
    lr: float = 1e-3,
    generator: torch.Generator | None = None,
    progress: bool = False,
    corrupt=None,
) -> list[float]:
    """Train ``decoder(encoder.loc(x)) ~ x`` with Adam on the decoder's negative log-likelihood.

    With ``corrupt`` (a function of a batch, e.g. :func:`augment_images`), the encoder sees ``corrupt(x)`` and
    the decoder reconstructs the clean ``x`` (a denoising autoencoder). Only the encoder's trunk and mean head are
    trained; its scale head is reset to the constant ``e^-2`` afterwards. Returns the mean loss of every epoch.
    """

    def batch_loss(x):
        inputs = corrupt(x) if corrupt is not None else x
        return _reconstruction_loss(decoder, encoder(inputs)[0], x)

    args = (X, epochs, batch_size, lr, generator, progress, "pretraining")
    return _train_epochs(encoder, decoder, [], batch_loss, *args)


def _train_epochs(
    encoder, decoder, extra_params, batch_loss, X, epochs, batch_size, lr, generator, progress, desc, targets=None
):
    """Adam on the encoder (all but its scale head), the decoder and ``extra_params``, minimising
    ``batch_loss(x)`` (``batch_loss(x, t)`` with the batch's rows of ``targets`` when given) over ``epochs``
    passes of :func:`minibatches`; resets the scale head afterwards and returns the mean loss of every epoch."""
    params = [p for name, p in encoder.named_parameters() if not name.startswith("log_scale")]
    params += list(decoder.parameters()) + list(extra_params)
    optimizer = torch.optim.Adam(params, lr=lr)
    history = []
    epoch_iter = range(epochs)
    if progress:
        from tqdm.auto import tqdm

        epoch_iter = tqdm(epoch_iter, desc=desc, leave=False)
    encoder.train()
    decoder.train()
    for _ in epoch_iter:
        total = 0.0
        for index in minibatches(X.shape[0], batch_size, generator):
            loss = batch_loss(X[index]) if targets is None else batch_loss(X[index], targets[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(index)
        history.append(total / X.shape[0])
        if progress:
            epoch_iter.set_postfix(loss=f"{history[-1]:.3f}")
    encoder.reset_scale()
    return history


class ContrastiveHeads(nn.Module):
    """The two projection heads of twin contrastive learning on top of an encoder trunk of width ``width``.

    ``instance``: ``width -> width -> projection_dim`` (GELU), compared by cosine similarity across views;
    ``cluster``: ``width -> width -> n_clusters`` (GELU) followed by a softmax, soft cluster assignments.
    Used during pretraining only and discarded afterwards.
    """

    def __init__(self, width: int, n_clusters: int, projection_dim: int = 64):
        super().__init__()
        self.instance = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, projection_dim))
        self.cluster = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, n_clusters))

    def forward(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.instance(hidden), self.cluster(hidden).softmax(-1)


def _contrastive_loss(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE (NT-Xent): row ``i`` of ``a`` must pick row ``i`` of ``b`` among all other rows of both."""
    import torch.nn.functional as F

    z = F.normalize(torch.cat([a, b]), dim=-1)
    n = a.shape[0]
    similarity = (z @ z.T / temperature).fill_diagonal_(-math.inf)
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(a.device)
    return F.cross_entropy(similarity, target)


def _balance_loss(probabilities: torch.Tensor) -> torch.Tensor:
    """``log K - H(mean cluster probability)``: zero iff the batch is spread evenly over the clusters."""
    mean = probabilities.mean(0).clamp(min=torch.finfo(probabilities.dtype).tiny)
    return math.log(mean.shape[0]) + (mean * mean.log()).sum()


def pretrain_contrastive(
    encoder: MLPEncoder,
    decoder: MLPDecoder,
    X: torch.Tensor,
    corrupt,
    n_clusters: int,
    epochs: int = 200,
    batch_size: int = 256,
    lr: float = 1e-3,
    instance_temperature: float = 0.5,
    cluster_temperature: float = 1.0,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> list[float]:
    """Twin contrastive pretraining with reconstruction, as the DRPM code's ``pretrain_tcl`` (Li et al. 2022).

    For a batch ``x`` and two augmented views ``x' = corrupt(x)``, ``x'' = corrupt(x)`` with trunk features
    ``h', h''`` the loss is

    .. math::

        \\mathrm{InfoNCE}(g(h'), g(h''); 0.5) + \\mathrm{InfoNCE}(c(h')^T, c(h'')^T; 1.0)
        + \\sum_{v} [\\log K - H(\\bar c(h^v))] + \\tfrac{1}{D} \\sum_v \\overline{-\\log p(x \\mid \\mu(x^v))},

    with ``g`` and ``c`` the :class:`ContrastiveHeads` (the cluster InfoNCE contrasts the ``K`` columns of the
    batch's soft assignments, the entropy term keeps them balanced) and the last term the decoder's negative
    log-likelihood of the clean batch from each view's mean embedding, per feature. The instance term makes the
    trunk invariant to the augmentations, the cluster term makes it group the data into ``K`` classes; the
    encoder's mean head and the decoder learn through the reconstruction. Differences from the code: both views
    are augmented (the code leaves one clean) and the decoder reconstructs the clean image (the code: the view)
    with the model's likelihood instead of a squared error. Only the trunk, the mean head and the decoder are kept;
    the scale head is reset to ``e^-2``. Returns the mean loss of every epoch.

    References: Li, Hu, Liu, Peng, Zhou, Peng, "Twin Contrastive Learning for Online Clustering", IJCV 2022;
    Sutter et al. 2023 (the DRPM code's pretraining).
    """
    heads = ContrastiveHeads(encoder.loc.in_features, n_clusters).to(X.dtype)
    n_features = X.shape[1]

    def batch_loss(x):
        views = [encoder.trunk(corrupt(x)), encoder.trunk(corrupt(x))]
        (g1, c1), (g2, c2) = heads(views[0]), heads(views[1])
        loss = _contrastive_loss(g1, g2, instance_temperature) + _contrastive_loss(c1.T, c2.T, cluster_temperature)
        loss = loss + _balance_loss(c1) + _balance_loss(c2)
        for hidden in views:
            loss = loss + _reconstruction_loss(decoder, encoder.loc(hidden), x) / n_features
        return loss

    return _train_epochs(
        encoder,
        decoder,
        heads.parameters(),
        batch_loss,
        X,
        epochs,
        batch_size,
        lr,
        generator,
        progress,
        "contrastive pretraining",
    )


def tsne_targets(X: torch.Tensor, n_components: int = 2, seed: int = 0) -> torch.Tensor:
    """scikit-learn's t-SNE of the rows of ``X`` (``init="pca"``, perplexity 30, or ``(N - 1) / 3`` for fewer
    than 91 rows), centred and divided by its root mean square over all coordinates (the layout's shape kept),
    as a tensor on ``X``'s device and in its dtype: the targets of :func:`pretrain_tsne`.

    The t-SNE runs on one OpenMP thread (``threadpoolctl``): its Barnes-Hut gradient sums in an order that
    depends on the number of threads, so with the default (all cores) the layout for one ``seed`` would differ
    between machines with different core counts.

    Example::

        >>> targets = tsne_targets(torch.randn(40, 5), 2, seed=0)
        >>> targets.shape, round(float(targets.square().mean()), 4)
        (torch.Size([40, 2]), 1.0)

    :param n_components: 1 to 3 (scikit-learn's Barnes-Hut t-SNE, ``O(N log N)``).
    :param seed: ``random_state`` of the t-SNE.
    """
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    if n_components not in (1, 2, 3):
        raise ValueError(f"t-SNE targets need n_components (latent_dim) 1, 2 or 3, got {n_components}")
    if X.shape[0] < 4:
        raise ValueError(f"t-SNE targets need at least 4 rows of X, got {X.shape[0]}")
    perplexity = min(30.0, (X.shape[0] - 1) / 3.0)
    tsne = TSNE(n_components, perplexity=perplexity, init="pca", random_state=seed)
    with threadpool_limits(limits=1, user_api="openmp"):
        layout = tsne.fit_transform(X.detach().cpu().double().numpy())
    layout = layout - layout.mean(0)
    layout = layout / np.sqrt(np.square(layout).mean())
    return torch.as_tensor(layout, dtype=X.dtype, device=X.device)


def pretrain_tsne(
    encoder: MLPEncoder,
    decoder: MLPDecoder,
    X: torch.Tensor,
    targets: torch.Tensor,
    epochs: int = 200,
    batch_size: int = 256,
    lr: float = 1e-3,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> list[float]:
    """Train the encoder's mean to reproduce a fixed embedding of ``X`` (``targets``, e.g. :func:`tsne_targets`)
    and the decoder to reconstruct ``X`` from it:

    .. math::

        \\overline{\\lVert \\mu(x_i) - t_i \\rVert^2} + \\tfrac{1}{D}\\, \\overline{-\\log p(x_i \\mid \\mu(x_i))}.

    With t-SNE targets the latent space keeps the data's neighbourhoods (t-SNE's objective) and the encoder
    extends the layout to new points (an amortised, regressed t-SNE, rather than the parametric t-SNE of van der
    Maaten 2009, which trains the network on the t-SNE loss itself). Only the trunk, the mean head and the decoder
    are kept; the scale head is reset to ``e^-2``. Returns the mean loss of every epoch.

    :param targets: ``(N, latent_dim)``, the rows in the order of ``X``.

    Reference: van der Maaten, Hinton, "Visualizing Data using t-SNE", JMLR 9 (2008).
    """
    if targets.shape != (X.shape[0], encoder.loc.out_features):
        raise ValueError(
            f"targets must have shape {(X.shape[0], encoder.loc.out_features)} (rows of X, latent dimension), "
            f"got {tuple(targets.shape)}"
        )
    n_features = X.shape[1]

    def batch_loss(x, t):
        loc = encoder(x)[0]
        return (loc - t).square().sum(-1).mean() + _reconstruction_loss(decoder, loc, x) / n_features

    args = (X, epochs, batch_size, lr, generator, progress, "t-SNE pretraining", targets)
    return _train_epochs(encoder, decoder, [], batch_loss, *args)


@torch.no_grad()
def embed(encoder: nn.Module, X: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """The encoder means ``E_q[z | x]`` for all rows of ``X``."""
    return torch.cat([encoder(X[i : i + batch_size])[0] for i in range(0, X.shape[0], batch_size)])


@dataclass
class PretrainedAutoencoder:
    """A pretrained encoder/decoder pair with the feature preprocessing it was trained with.

    Several models can start from one :class:`PretrainedAutoencoder` (the estimators deep-copy the networks), so
    that a comparison shares the pretraining (as the DRPM code shares cached checkpoints between DRPM-VC, VaDE
    and the latent GMM of one seed). ``preprocess`` maps raw features to the networks' input: the identity for
    the Bernoulli likelihood, standardisation with ``feature_mean`` / ``feature_scale`` for the Gaussian one.
    """

    encoder: MLPEncoder
    decoder: MLPDecoder
    likelihood: str
    feature_mean: torch.Tensor
    feature_scale: torch.Tensor
    history: list

    @property
    def n_features(self) -> int:
        return self.feature_mean.shape[0]

    def preprocess(self, X) -> torch.Tensor:
        """Raw features ``(N, D)`` (numpy or tensor) to the float32 network input."""
        X = torch.as_tensor(np.asarray(X, dtype=np.float32))
        return (X - self.feature_mean) / self.feature_scale

    def embed(self, X) -> torch.Tensor:
        """Encoder means of the raw features ``X``."""
        return embed(self.encoder, self.preprocess(X))


def identity_networks(n_features: int, likelihood: str = "gaussian") -> tuple[MLPEncoder, MLPDecoder]:
    """A linear encoder/decoder pair that starts as the identity map: ``q(z | x) = N(x, (e^-2)^2)``, mean ``z``.

    No hidden layers (the encoder's trunk is empty, so freezing it freezes nothing): the encoder's mean and scale
    heads and the decoder stay trainable. A Gaussian decoder's noise starts at the encoder's scale, ``e^-2``.

    Example::

        >>> encoder, decoder = identity_networks(3)
        >>> x = torch.randn(4, 3)
        >>> bool(torch.equal(encoder(x)[0], x)), bool(torch.equal(decoder(x), x))
        (True, True)
    """
    encoder = MLPEncoder(n_features, n_features, ())
    decoder = MLPDecoder(n_features, n_features, (), likelihood=likelihood)
    with torch.no_grad():
        for layer in (encoder.loc, decoder.out):
            layer.weight.copy_(torch.eye(n_features))
            layer.bias.zero_()
        if decoder.obs_log_scale is not None:
            decoder.obs_log_scale.fill_(encoder.log_scale.bias[0].item())
    encoder.eval()
    decoder.eval()
    return encoder, decoder


@torch.no_grad()
def pca_networks(X: torch.Tensor, n_components: int) -> tuple[MLPEncoder, MLPDecoder]:
    """A linear encoder/decoder pair set to the principal component analysis of the rows of ``X``: the encoder's
    mean is the vector of the ``n_components`` leading principal component scores, the Gaussian decoder maps
    scores back to the features, and its noise is each feature's root mean square residual.

    .. math::

        \\mu(x) = V^\\top (x - \\bar x), \\qquad
        p(x \\mid z) = \\mathcal N(\\bar x + V z,\\, \\mathrm{diag}(\\sigma^2)), \\qquad
        \\sigma_j^2 = \\overline{\\big((I - V V^\\top) (x_i - \\bar x)\\big)_j^2},

    with ``V`` (``D x n_components``) the leading right singular vectors of the centred ``X``, each signed so that
    its entry of largest magnitude is positive (the result does not depend on the SVD routine's signs), and
    ``sigma_j`` never below the encoder's initial scale ``e^-2`` (the noise of :func:`identity_networks`, where
    the reconstruction is exact). With the scores as codes this decoder is the maximum-likelihood
    linear-Gaussian one (the floor aside): probabilistic PCA [4] with a noise per feature. A latent clustering
    model on top is a mixture in the principal subspace whose decoder still explains every feature. No hidden
    layers (the encoder's trunk is empty); the encoder's scale starts at ``e^-2``; everything stays trainable. The
    networks are created on ``X``'s device and in its dtype.

    Example::

        >>> X = torch.randn(50, 4) * torch.tensor([3.0, 2.0, 0.5, 0.1])
        >>> encoder, decoder = pca_networks(X, 2)
        >>> scores = encoder(X)[0].detach()
        >>> scores.shape, bool(torch.allclose(scores.mean(0), torch.zeros(2), atol=1e-5))
        (torch.Size([50, 2]), True)
        >>> bool((scores.var(0)[0] >= scores.var(0)[1]).item())  # leading component first
        True

    :param X: ``(N, D)`` real-valued features (already standardised if they should be; :func:`pretrain` does).
    :param n_components: 1 to ``min(N, D)``.
    """
    if X.dim() != 2:
        raise ValueError(f"X must be a matrix (N, D), got shape {tuple(X.shape)}")
    n, d = X.shape
    if isinstance(n_components, bool) or not isinstance(n_components, int) or not 1 <= n_components <= min(n, d):
        raise ValueError(
            f"n_components (latent_dim) must be an integer from 1 to min(N, D) = {min(n, d)}, got {n_components!r}"
        )
    mean = X.mean(0)
    centred = X - mean
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    axes = vh[:n_components]  # (n_components, D), orthonormal rows
    largest = axes.gather(-1, axes.abs().argmax(-1, keepdim=True))
    axes = axes * torch.where(largest < 0, -1.0, 1.0).to(axes.dtype)
    residual = centred - (centred @ axes.T) @ axes
    encoder = MLPEncoder(d, n_components, ()).to(device=X.device, dtype=X.dtype)
    decoder = MLPDecoder(n_components, d, (), likelihood="gaussian").to(device=X.device, dtype=X.dtype)
    encoder.loc.weight.copy_(axes)
    encoder.loc.bias.copy_(-(axes @ mean))
    decoder.out.weight.copy_(axes.T)
    decoder.out.bias.copy_(mean)
    noise_floor = float(encoder.log_scale.bias.max())
    decoder.obs_log_scale.copy_(residual.square().mean(0).sqrt().log().clamp(min=noise_floor))
    encoder.eval()
    decoder.eval()
    return encoder, decoder


def pretrain(
    X,
    latent_dim: int = 10,
    hidden_dims=(256, 256),
    likelihood: str = "bernoulli",
    epochs: int = 100,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = False,
    augment: bool = False,
    objective: str = "autoencoder",
    n_clusters: int = 10,
) -> PretrainedAutoencoder:
    """Build and pretrain an encoder/decoder pair on raw features ``X`` (numpy ``(N, D)``).

    Gaussian-likelihood features are standardised first (per feature; constant features keep scale 1).
    ``objective="autoencoder"``: :func:`pretrain_autoencoder`; with ``augment=True`` (square images in [0, 1]
    only) a denoising autoencoder on :func:`augment_images`. ``objective="contrastive"`` (square images in
    [0, 1] only): :func:`pretrain_contrastive` with ``n_clusters`` cluster columns and the stronger
    augmentations of :data:`CONTRASTIVE_AUGMENTATION`. ``objective="tsne"``: :func:`pretrain_tsne` on the
    :func:`tsne_targets` of the preprocessed features (``latent_dim`` 1 to 3, no ``augment``; the t-SNE's
    ``random_state`` is ``seed``). ``objective="pca"`` (Gaussian likelihood only): nothing is trained; the
    linear networks of :func:`pca_networks` on the standardised features, ``latent_dim`` principal components
    (1 to ``min(N, D)``). ``objective="identity"``: nothing is trained; the
    encoder's mean head and the decoder are linear maps set to the identity (``latent_dim`` must equal the
    number of features; ``hidden_dims``, ``epochs`` and the optimiser settings are not used), the encoder's
    scale and a Gaussian decoder's noise start at ``e^-2``; a model trained from them clusters the
    standardised features themselves. Randomness comes from ``seed`` only (the global torch RNG is left
    untouched).
    """
    if objective not in PRETRAINING_OBJECTIVES:
        raise ValueError(f"unknown pretraining objective {objective!r}; expected one of {PRETRAINING_OBJECTIVES}")
    X = np.asarray(X, dtype=np.float32)
    if objective == "identity" and latent_dim != X.shape[1]:
        raise ValueError(
            f"objective='identity' needs latent_dim equal to the number of features ({X.shape[1]}), got {latent_dim}"
        )
    if objective == "tsne" and latent_dim not in (1, 2, 3):
        raise ValueError(f"objective='tsne' needs latent_dim 1, 2 or 3 (Barnes-Hut t-SNE), got {latent_dim}")
    if objective == "pca" and likelihood != "gaussian":
        raise ValueError(f"objective='pca' needs the Gaussian likelihood (real-valued features), got {likelihood!r}")
    if objective == "pca" and augment:
        raise ValueError("augment=True is not supported with objective='pca' (no network is trained)")
    if objective == "tsne" and augment:
        raise ValueError("augment=True is not supported with objective='tsne' (its targets are the clean data's)")
    if likelihood == "gaussian":
        mean = torch.as_tensor(X.mean(0))
        scale = torch.as_tensor(X.std(0))
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    else:
        mean = torch.zeros(X.shape[1])
        scale = torch.ones(X.shape[1])
    corrupt = None
    if augment or objective == "contrastive":
        side = image_side(X.shape[1])
        if side is None or likelihood != "bernoulli":
            what = "augment=True" if objective == "autoencoder" else "objective='contrastive'"
            raise ValueError(f"{what} needs square images with features in [0, 1] (Bernoulli likelihood)")
        settings = CONTRASTIVE_AUGMENTATION if objective == "contrastive" else {}
        corrupt = functools.partial(augment_images, side=side, **settings)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if objective == "identity":  # layer construction draws weights (then overwritten) from the forked RNG
            return PretrainedAutoencoder(*identity_networks(X.shape[1], likelihood), likelihood, mean, scale, [])
        if objective == "pca":
            networks = pca_networks((torch.as_tensor(X) - mean) / scale, latent_dim)
            return PretrainedAutoencoder(*networks, likelihood, mean, scale, [])
        encoder = MLPEncoder(X.shape[1], latent_dim, hidden_dims)
        decoder = MLPDecoder(latent_dim, X.shape[1], hidden_dims, likelihood=likelihood)
        result = PretrainedAutoencoder(encoder, decoder, likelihood, mean, scale, [])
        generator = torch.Generator().manual_seed(seed)
        settings = dict(epochs=epochs, batch_size=batch_size, lr=lr, generator=generator, progress=progress)
        data = result.preprocess(X)
        if objective == "contrastive":
            result.history = pretrain_contrastive(encoder, decoder, data, corrupt, n_clusters, **settings)
        elif objective == "tsne":
            targets = tsne_targets(data, latent_dim, seed)
            result.history = pretrain_tsne(encoder, decoder, data, targets, **settings)
        else:
            result.history = pretrain_autoencoder(encoder, decoder, data, corrupt=corrupt, **settings)
    encoder.eval()
    decoder.eval()
    return result
