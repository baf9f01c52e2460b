"""The part every deep latent clustering model shares: networks, Gaussian clusters in latent space, prediction.

A :class:`LatentClusteringModel` is a ``torch.nn.Module`` that holds the encoder/decoder pair and ``K``
diagonal Gaussian clusters ``N(mu_k, diag sigma_k^2)`` in the latent space, and exposes a Pyro ``model`` and
``guide`` (both take a mini-batch ``x`` of shape ``(B, D)``). Subclasses choose the prior over cluster
assignments: a DRPM over the whole batch (:class:`~pyro_drpm.models.drpm_vc.DRPMVC`), i.i.d. categorical
(:class:`~pyro_drpm.models.mixture_baselines.IIDMixtureVAE`) or a truncated stick-breaking Dirichlet process
(:class:`~pyro_drpm.models.mixture_baselines.StickBreakingMixtureVAE`).

The networks and cluster parameters are registered with :func:`pyro.module` under the model's ``name``, so any
Pyro optimiser trains them; train each model inside its own ``pyro.get_param_store().scope()`` (as the
estimators do) when several live in one process.
"""

from __future__ import annotations

import math
import warnings

import pyro
import torch
from torch import nn

from pyro_drpm.models.networks import MLPDecoder, MLPEncoder
from pyro_drpm.models.pretraining import MixtureInit

__all__ = ["LatentClusteringModel", "gaussian_log_density"]

_MIN_LOG_SCALE = math.log(1e-3)  # clusters narrower than this in a standardised latent space are degenerate


def gaussian_log_density(z: torch.Tensor, locs: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """``log N(z_i; locs_k, diag scales_k^2)`` for every point ``i`` and cluster ``k``: shape ``(..., N, K)``."""
    diff = (z.unsqueeze(-2) - locs) / scales
    return -0.5 * diff.pow(2).sum(-1) - scales.log().sum(-1) - 0.5 * z.shape[-1] * math.log(2 * math.pi)


class LatentClusteringModel(nn.Module):
    """Base class: encoder, decoder and ``K`` Gaussian clusters ``(mu_k, sigma_k)`` in the latent space.

    :param encoder: the :class:`MLPEncoder` of ``q(z | x)``.
    :param decoder: the :class:`MLPDecoder` of ``p(x | z)``.
    :param n_components: number of Gaussian clusters ``K`` (for the DP mixture: the truncation level).
    :param beta: weight of the ``z`` terms of the ELBO (``poutine.scale`` on the ``z`` sites of model and guide);
        ``1`` gives the plain ELBO.
    :param name: the ``pyro.module`` name.
    """

    def __init__(
        self,
        encoder: MLPEncoder,
        decoder: MLPDecoder,
        n_components: int,
        beta: float = 1.0,
        name: str = "clustering",
    ):
        super().__init__()
        if n_components < 1:
            raise ValueError(f"n_components must be >= 1, got {n_components}")
        if not beta > 0:
            raise ValueError(f"beta must be positive, got {beta}")
        self.encoder = encoder
        self.decoder = decoder
        self.n_components = int(n_components)
        self.latent_dim = encoder.loc.out_features
        self.beta = float(beta)
        self.name = name
        self.locs = nn.Parameter(torch.randn(n_components, self.latent_dim))
        self.log_scales = nn.Parameter(torch.zeros(n_components, self.latent_dim))

    # ----------------------------------------------------------------------------------------------------
    @property
    def scales(self) -> torch.Tensor:
        """Cluster standard deviations ``sigma_k``, shape ``(K, d)``."""
        return self.log_scales.clamp(min=_MIN_LOG_SCALE).exp()

    def log_weights(self) -> torch.Tensor:
        """Log mixing weights used by :meth:`log_responsibilities`; uniform unless a subclass overrides it."""
        return torch.full((self.n_components,), -math.log(self.n_components), dtype=self.locs.dtype)

    def init_from_mixture(self, mixture: MixtureInit) -> None:
        """Copy a fitted Gaussian mixture's means and scales into the clusters (weights: see subclasses)."""
        if mixture.locs.shape != self.locs.shape:
            raise ValueError(f"mixture has {tuple(mixture.locs.shape)} means, expected {tuple(self.locs.shape)}")
        with torch.no_grad():
            self.locs.copy_(mixture.locs)
            self.log_scales.copy_(mixture.scales.clamp(min=math.exp(_MIN_LOG_SCALE)).log())

    def update_schedules(self, progress: float) -> None:
        """Hook called by the training loop with the fraction of training done (annealing schedules)."""

    # ----------------------------------------------------------------------------------------------------
    def cluster_log_likelihood(self, z: torch.Tensor) -> torch.Tensor:
        """``log N(z_i; mu_k, sigma_k^2)``, shape ``(N, K)``."""
        return gaussian_log_density(z, self.locs, self.scales)

    @torch.no_grad()
    def log_responsibilities(self, x: torch.Tensor, use_weights: bool = True) -> torch.Tensor:
        """``log p(c_i = k | z_i = E_q[z_i | x_i])``: the posterior over clusters at the encoder mean, ``(N, K)``.

        With ``use_weights=False`` the mixing weights are ignored (the DRPM-VC prediction rule of the paper).
        """
        loc, _ = self.encoder(x)
        logits = self.cluster_log_likelihood(loc)
        if use_weights:
            logits = logits + self.log_weights()
        return torch.log_softmax(logits, dim=-1)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Hard cluster labels: the argmax of :meth:`log_responsibilities`."""
        return self.log_responsibilities(x).argmax(-1)

    def _register(self) -> None:
        # frozen parameters (requires_grad=False, e.g. a fixed encoder trunk) are meant to stay out of the store
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*was not registered in the param store because requires_grad")
            pyro.module(self.name, self)

    def model(self, x: torch.Tensor) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def guide(self, x: torch.Tensor) -> None:  # pragma: no cover - abstract
        raise NotImplementedError
