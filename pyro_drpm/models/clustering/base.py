"""The base of deep latent clustering models: networks, ``K`` Gaussian clusters in latent space, prediction.

A :class:`LatentClusteringModel` is a :class:`~pyro.nn.PyroModule` holding the encoder/decoder pair and ``K``
diagonal Gaussian clusters ``N(mu_k, diag sigma_k^2)``; subclasses write the Pyro ``model`` and ``guide`` (both
take a mini-batch ``x`` of shape ``(B, D)``) and so choose the prior over cluster assignments.
"""

from __future__ import annotations

import math
from abc import ABCMeta, abstractmethod

import torch
from pyro.nn import PyroModule
from torch import nn

from pyro_drpm.distributions import diagonal_normal_log_density
from pyro_drpm.models.clustering.initialisation import MixtureInit
from pyro_drpm.nn import MLPDecoder, MLPEncoder

__all__ = ["LatentClusteringModel"]

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
    """

    def __init__(self, encoder: MLPEncoder, decoder: MLPDecoder, n_components: int, *, beta: float = 1.0):
        super().__init__()
        if isinstance(n_components, bool) or int(n_components) != n_components or n_components < 1:
            raise ValueError(f"n_components must be an integer >= 1, got {n_components!r}")
        if not (math.isfinite(beta) and beta > 0):
            raise ValueError(f"beta must be positive and finite, got {beta}")
        self.encoder = encoder
        self.decoder = decoder
        self.n_components = int(n_components)
        self.latent_dim = encoder.loc.out_features
        self.beta = float(beta)
        self.locs = nn.Parameter(torch.randn(n_components, self.latent_dim))
        self.log_scales = nn.Parameter(torch.zeros(n_components, self.latent_dim))

    @property
    def scales(self) -> torch.Tensor:
        """Cluster standard deviations ``sigma_k``, shape ``(K, d)``."""
        return self.log_scales.clamp(min=_MIN_LOG_SCALE).exp()

    def log_weights(self) -> torch.Tensor:
        """Log mixing weights used by :meth:`log_responsibilities`; uniform unless a subclass overrides it."""
        k = self.n_components
        return self.locs.new_full((k,), -math.log(k))

    def init_from_mixture(self, mixture: MixtureInit) -> None:
        """Copy a fitted Gaussian mixture's means and scales into the clusters (weights: see subclasses)."""
        if mixture.locs.shape != self.locs.shape:
            raise ValueError(f"mixture has {tuple(mixture.locs.shape)} means, expected {tuple(self.locs.shape)}")
        with torch.no_grad():
            self.locs.copy_(mixture.locs)
            self.log_scales.copy_(mixture.scales.clamp(min=math.exp(_MIN_LOG_SCALE)).log())

    def cluster_log_likelihood(self, z: torch.Tensor) -> torch.Tensor:
        """``log N(z_i; mu_k, sigma_k^2)``, shape ``(N, K)``."""
        return diagonal_normal_log_density(z, self.locs, self.scales)

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
