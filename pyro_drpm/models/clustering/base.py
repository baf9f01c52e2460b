"""The base of deep latent clustering models: networks, ``K`` Gaussian clusters in latent space, prediction.

A :class:`LatentClusteringModel` is a :class:`~pyro.nn.PyroModule` holding the encoder/decoder pair and ``K``
Gaussian clusters, ``N(mu_k, diag sigma_k^2)`` or with full covariances ``N(mu_k, L_k L_k^T)``; subclasses write
the Pyro ``model`` and ``guide`` (both take a mini-batch ``x`` of shape ``(B, D)``) and so choose the prior over
cluster assignments.
"""

from __future__ import annotations

import math
from abc import ABCMeta, abstractmethod

import torch
from pyro.nn import PyroModule
from torch import nn

from pyro_drpm.distributions import normal_log_density
from pyro_drpm.models.clustering.initialisation import MixtureInit
from pyro_drpm.nn import MLPDecoder, MLPEncoder

__all__ = ["COVARIANCES", "LatentClusteringModel"]

#: The cluster covariance structures: ``"diagonal"`` (``diag sigma_k^2``) and ``"full"`` (``L_k L_k^T``).
COVARIANCES = ("diagonal", "full")

_MIN_LOG_SCALE = math.log(1e-3)  # clusters narrower than this in a standardised latent space are degenerate


class _AbstractPyroModuleMeta(type(PyroModule), ABCMeta):
    pass


class LatentClusteringModel(PyroModule, metaclass=_AbstractPyroModuleMeta):
    """Base class: encoder, decoder and ``K`` Gaussian clusters ``(mu_k, sigma_k)`` in the latent space.

    Subclasses implement :meth:`model` and :meth:`guide` (decorated with :func:`pyro.nn.pyro_method`, so the
    module's parameters are Pyro parameters while they run). Train each model in its own
    ``pyro.get_param_store().scope()`` when several live in one process.

    :param encoder: the :class:`~pyro_drpm.nn.MLPEncoder` of ``q(z | x)``.
    :param decoder: the :class:`~pyro_drpm.nn.MLPDecoder` of ``p(x | z)``.
    :param n_components: number of Gaussian clusters ``K`` (for the DP mixture: the truncation level).
    :param beta: weight of the ``z`` terms of the ELBO (``poutine.scale`` on the ``z`` sites of model and
        guide); ``1`` gives the plain ELBO.
    :param covariance: ``"diagonal"`` (default) or ``"full"``: the clusters' covariances ``L_k L_k^T`` with a
        learned lower-triangular ``L_k`` (its diagonal ``sigma_k`` positive, its strict lower part free).
    """

    def __init__(
        self,
        encoder: MLPEncoder,
        decoder: MLPDecoder,
        n_components: int,
        *,
        beta: float = 1.0,
        covariance: str = "diagonal",
    ):
        super().__init__()
        if isinstance(n_components, bool) or int(n_components) != n_components or n_components < 1:
            raise ValueError(f"n_components must be an integer >= 1, got {n_components!r}")
        if not (math.isfinite(beta) and beta > 0):
            raise ValueError(f"beta must be positive and finite, got {beta}")
        if covariance not in COVARIANCES:
            raise ValueError(f"unknown covariance {covariance!r}; expected one of {COVARIANCES}")
        self.encoder = encoder
        self.decoder = decoder
        self.n_components = int(n_components)
        self.latent_dim = encoder.loc.out_features
        self.beta = float(beta)
        self.covariance = covariance
        self.locs = nn.Parameter(torch.randn(n_components, self.latent_dim))
        self.log_scales = nn.Parameter(torch.zeros(n_components, self.latent_dim))
        if covariance == "full":
            self.scale_tril_lower = nn.Parameter(torch.zeros(n_components, self.latent_dim, self.latent_dim))

    @property
    def scales(self) -> torch.Tensor:
        """Cluster standard deviations ``sigma_k`` (the diagonal of ``L_k`` for full covariances), ``(K, d)``."""
        return self.log_scales.clamp(min=_MIN_LOG_SCALE).exp()

    @property
    def cluster_scales(self) -> torch.Tensor:
        """What the clusters' densities take: ``scales`` ``(K, d)``, or the Cholesky factors ``L_k`` ``(K, d, d)``
        for full covariances (see :func:`~pyro_drpm.distributions.normal_log_density`)."""
        if self.covariance == "diagonal":
            return self.scales
        return torch.diag_embed(self.scales) + self.scale_tril_lower.tril(-1)

    @torch.no_grad()
    def smallest_cluster_scale(self) -> float:
        """The smallest standard deviation of any cluster in any direction: ``min_k`` of the smallest
        ``sigma_k`` (diagonal) or of the smallest singular value of ``L_k`` (full covariances)."""
        if self.covariance == "diagonal":
            return float(self.scales.min())
        return float(torch.linalg.svdvals(self.cluster_scales).min())

    def cluster_distribution(self) -> torch.distributions.Distribution:
        """The ``K`` clusters as one batched distribution with event shape ``(d,)``."""
        if self.covariance == "diagonal":
            return torch.distributions.Independent(torch.distributions.Normal(self.locs, self.scales), 1)
        return torch.distributions.MultivariateNormal(self.locs, scale_tril=self.cluster_scales)

    def log_weights(self) -> torch.Tensor:
        """Log mixing weights used by :meth:`log_responsibilities`; uniform unless a subclass overrides it."""
        k = self.n_components
        return self.locs.new_full((k,), -math.log(k))

    def init_from_mixture(self, mixture: MixtureInit) -> None:
        """Copy a fitted Gaussian mixture's means and scales into the clusters (weights: see subclasses); a
        diagonal mixture starts full-covariance clusters with ``L_k = diag sigma_k``, a full one gives diagonal
        clusters the square roots of its variances."""
        if mixture.locs.shape != self.locs.shape:
            raise ValueError(f"mixture has {tuple(mixture.locs.shape)} means, expected {tuple(self.locs.shape)}")
        self.set_clusters(mixture.locs, mixture.scales)

    @torch.no_grad()
    def set_clusters(self, locs: torch.Tensor, scales: torch.Tensor) -> None:
        """Set the clusters to means ``(K, d)`` and scales ``(K, d)`` or Cholesky factors ``(K, d, d)``."""
        floor = math.exp(_MIN_LOG_SCALE)
        if scales.dim() == 3:
            diagonal, lower = scales.diagonal(dim1=-2, dim2=-1), scales.tril(-1)
            if self.covariance == "diagonal":  # the standard deviations of L L^T
                diagonal, lower = scales.pow(2).sum(-1).sqrt(), None
        else:
            diagonal, lower = scales, torch.zeros_like(self.scale_tril_lower) if self.covariance == "full" else None
        self.locs.copy_(locs)
        self.log_scales.copy_(diagonal.clamp(min=floor).log())
        if lower is not None:
            self.scale_tril_lower.copy_(lower)

    def cluster_log_likelihood(self, z: torch.Tensor) -> torch.Tensor:
        """``log N(z_i; mu_k, Sigma_k)``, shape ``(N, K)``."""
        return normal_log_density(z, self.locs, self.cluster_scales)

    @torch.no_grad()
    def log_responsibilities(self, x: torch.Tensor, use_weights: bool = True) -> torch.Tensor:
        """``log p(c_i = k | z_i = E_q[z_i | x_i])``: the posterior over clusters at the encoder mean, ``(N, K)``.

        With ``use_weights=False`` the mixing weights are ignored.
        """
        loc, _ = self.encoder(x)
        logits = self.cluster_log_likelihood(loc)
        if use_weights:
            logits = logits + self.log_weights()
        return torch.log_softmax(logits, dim=-1)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Hard cluster labels: the argmax of :meth:`log_responsibilities`."""
        return self.log_responsibilities(x).argmax(-1)

    @abstractmethod
    def model(self, x: torch.Tensor, **kwargs) -> None:
        """The generative model of a mini-batch ``x``."""

    @abstractmethod
    def guide(self, x: torch.Tensor, **kwargs) -> None:
        """The variational distribution of a mini-batch ``x``."""
