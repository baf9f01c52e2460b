"""Autoencoder pretraining and the mixture initialisation of the latent prior.

Deep clustering models start from an embedding that already separates the data: DRPM-VC, VaDE and the
stick-breaking DP mixture all pretrain the encoder/decoder pair as a plain autoencoder (the encoder's mean
head only), embed the data with it, and fit a Gaussian mixture to the embedding to initialise the prior's
component means, scales and weights (Jiang et al. 2017, section 3.3; the DRPM code's ``init_gmm``). All deep
models of one comparison share the same pretrained networks, so their difference is the clustering stage alone.

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
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from pyro_drpm.models.networks import MLPDecoder, MLPEncoder

__all__ = [
    "CONTRASTIVE_AUGMENTATION",
    "PRETRAINING_OBJECTIVES",
    "ContrastiveHeads",
    "MixtureInit",
    "PretrainedAutoencoder",
    "augment_images",
    "embed",
    "fit_gaussian_mixture",
    "image_side",
    "minibatches",
    "pretrain",
    "pretrain_autoencoder",
    "pretrain_contrastive",
]

#: ``"autoencoder"``: reconstruction only (denoising with ``augment``); ``"contrastive"``: the DRPM code's
#: twin-contrastive pretraining (instance and cluster contrastive losses on two augmented views, plus
#: reconstruction), for square images only.
PRETRAINING_OBJECTIVES = ("autoencoder", "contrastive")

#: :func:`augment_images` settings of the contrastive views: stronger than the denoising default (the DRPM code
#: uses rotations up to 30 degrees, shifts of 20% and scalings of 25% on MNIST).
CONTRASTIVE_AUGMENTATION = dict(rotation=0.3, scaling=0.15, translation=0.2, noise=0.05)


def minibatches(n: int, batch_size: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """A random split of ``range(n)`` into ``ceil(n / batch_size)`` index batches whose sizes differ by <= 1.

    Every point is used once per epoch and no batch is a tiny remainder, which matters for DRPM-VC, where a
    batch is the set being partitioned.
    """
    n_batches = max(1, -(-n // batch_size))
    order = torch.randperm(n, generator=generator)
    return list(torch.tensor_split(order, n_batches))


def augment_images(
    x: torch.Tensor,
    side: int,
    rotation: float = 0.2,
    scaling: float = 0.1,
    translation: float = 0.15,
    noise: float = 0.05,
) -> torch.Tensor:
    """Random small affine jitter plus pixel noise for flattened square images ``(B, side * side)`` in [0, 1].

    Per image: rotation uniform in ``+-rotation`` radians, scale in ``1 +- scaling``, shift in ``+-translation``
    of the half-width (bilinear resampling, zero padding), then Gaussian noise of std ``noise``; clipped to
    ``[0, 1]``. Used as a denoising target during pretraining: the autoencoder sees the jittered image and
    reconstructs the clean one, which makes the embedding less sensitive to small deformations (on the 8 x 8
    digits a Gaussian mixture on the embedding gains several points of accuracy). Uses the global torch RNG.
    """
    import torch.nn.functional as F

    b = x.shape[0]
    angle = (torch.rand(b) * 2 - 1) * rotation
    scale = 1 + (torch.rand(b) * 2 - 1) * scaling
    shift = (torch.rand(b, 2) * 2 - 1) * translation
    cos, sin = scale * angle.cos(), scale * angle.sin()
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], -1), torch.stack([sin, cos, shift[:, 1]], -1)], 1).to(
        x.dtype
    )
    grid = F.affine_grid(theta, [b, 1, side, side], align_corners=False)
    images = F.grid_sample(x.reshape(b, 1, side, side), grid, align_corners=False, padding_mode="zeros")
    images = images.reshape(b, -1)
    return (images + noise * torch.randn_like(images)).clamp(0.0, 1.0)


def image_side(n_features: int) -> int | None:
    """The side of a square image with ``n_features`` pixels, or ``None`` if ``n_features`` is not a square >= 16."""
    side = int(round(n_features**0.5))
    return side if side * side == n_features and side >= 4 else None


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


def _train_epochs(encoder, decoder, extra_params, batch_loss, X, epochs, batch_size, lr, generator, progress, desc):
    """Adam on the encoder (all but its scale head), the decoder and ``extra_params``, minimising
    ``batch_loss(x)`` over ``epochs`` passes of :func:`minibatches`; resets the scale head afterwards and returns
    the mean loss of every epoch."""
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
            loss = batch_loss(X[index])
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


@torch.no_grad()
def embed(encoder: nn.Module, X: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """The encoder means ``E_q[z | x]`` for all rows of ``X``."""
    return torch.cat([encoder(X[i : i + batch_size])[0] for i in range(0, X.shape[0], batch_size)])


@dataclass
class MixtureInit:
    """Parameters of a diagonal Gaussian mixture fitted to an embedding: ``(K,)`` weights, ``(K, d)`` locs/scales."""

    weights: torch.Tensor
    locs: torch.Tensor
    scales: torch.Tensor
    labels: np.ndarray


def fit_gaussian_mixture(
    Z,
    n_components: int,
    random_state: int | None = None,
    n_init: int = 10,
    reg_covar: float = 1e-4,
    dirichlet_process: bool = False,
) -> MixtureInit:
    """Fit a diagonal Gaussian mixture to ``Z`` (scikit-learn) and return its parameters as float32 tensors.

    ``dirichlet_process=True`` fits ``BayesianGaussianMixture`` with a Dirichlet-process weight prior instead
    (used to initialise the truncated stick-breaking baseline, ``n_components`` being the truncation level).
    The settings follow the DRPM code (``covariance_type="diag"``, 10 k-means++ starts, ``reg_covar=1e-4``).
    """
    from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

    Z = np.asarray(torch.as_tensor(Z).detach().cpu().numpy(), dtype=np.float64)
    common = dict(
        n_components=n_components,
        covariance_type="diag",
        reg_covar=reg_covar,
        n_init=n_init,
        init_params="k-means++",
        random_state=random_state,
        max_iter=300,
    )
    if dirichlet_process:
        mixture = BayesianGaussianMixture(weight_concentration_prior_type="dirichlet_process", **common)
    else:
        mixture = GaussianMixture(**common)
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mixture.fit(Z)
    return MixtureInit(
        weights=torch.as_tensor(mixture.weights_, dtype=torch.float32),
        locs=torch.as_tensor(mixture.means_, dtype=torch.float32),
        scales=torch.as_tensor(np.sqrt(mixture.covariances_), dtype=torch.float32),
        labels=mixture.predict(Z),
    )


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
    augmentations of :data:`CONTRASTIVE_AUGMENTATION`. Randomness comes from ``seed`` only (the global torch RNG
    is left untouched).
    """
    if objective not in PRETRAINING_OBJECTIVES:
        raise ValueError(f"unknown pretraining objective {objective!r}; expected one of {PRETRAINING_OBJECTIVES}")
    X = np.asarray(X, dtype=np.float32)
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
        encoder = MLPEncoder(X.shape[1], latent_dim, hidden_dims)
        decoder = MLPDecoder(latent_dim, X.shape[1], hidden_dims, likelihood=likelihood)
        result = PretrainedAutoencoder(encoder, decoder, likelihood, mean, scale, [])
        generator = torch.Generator().manual_seed(seed)
        settings = dict(epochs=epochs, batch_size=batch_size, lr=lr, generator=generator, progress=progress)
        data = result.preprocess(X)
        if objective == "contrastive":
            result.history = pretrain_contrastive(encoder, decoder, data, corrupt, n_clusters, **settings)
        else:
            result.history = pretrain_autoencoder(encoder, decoder, data, corrupt=corrupt, **settings)
    encoder.eval()
    decoder.eval()
    return result
