"""The generative model of pairs that share some latent dimensions; subclasses choose how the split is inferred."""

from __future__ import annotations

import math
from abc import ABCMeta, abstractmethod
from collections.abc import Sequence

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule

from pyro_drpm.models.shared_factors.switched_normal import SwitchedNormal
from pyro_drpm.nn import LIKELIHOODS, MLPDecoder, MLPEncoder

__all__ = ["PairedVAE", "check_views", "posterior_divergence"]


class _AbstractPyroModuleMeta(type(PyroModule), ABCMeta):
    pass


def check_views(x1: torch.Tensor, x2: torch.Tensor, input_dim: int) -> None:
    """Raise a ``ValueError`` unless ``x1`` and ``x2`` are both ``(B, input_dim)`` with the same ``B``."""
    for name, x in (("x1", x1), ("x2", x2)):
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[-1] != input_dim:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{name} must be a tensor of shape (B, {input_dim}), got {shape}")
    if x1.shape != x2.shape:
        raise ValueError(f"x1 and x2 must have the same batch size, got {tuple(x1.shape)} and {tuple(x2.shape)}")


def posterior_divergence(loc1, scale1, loc2, scale2) -> torch.Tensor:
    """Per-dimension ``KL(N(loc1, scale1) || N(loc2, scale2))``, the statistic Ada-VAE thresholds.

    .. math::

        \\delta_j = \\log\\frac{\\sigma_{2j}}{\\sigma_{1j}} + \\frac{\\sigma_{1j}^2 + (\\mu_{1j} - \\mu_{2j})^2}
        {2 \\sigma_{2j}^2} - \\frac12

    Example::

        >>> posterior_divergence(torch.zeros(2, 3), torch.ones(2, 3), torch.zeros(2, 3), torch.ones(2, 3))
        tensor([[0., 0., 0.],
                [0., 0., 0.]])
    """
    return (scale2 / scale1).log() + (scale1**2 + (loc1 - loc2) ** 2) / (2 * scale2**2) - 0.5


class PairedVAE(PyroModule, metaclass=_AbstractPyroModuleMeta):
    """A VAE of pairs ``(x1, x2)`` whose latent dimensions split, per pair, into shared and independent ones.

    **The model.** For every pair a binary mask ``m`` (``m_j = 1``: dimension ``j`` is shared) is chosen by the
    subclass (:meth:`model_mask`). The first view's code is drawn from ``N(0, I)``; the second view copies the
    shared dimensions (up to a small ``copy_scale`` :math:`\\sigma_0`) and draws the others afresh; one decoder
    (shared by both views) generates both:

    .. math::

        z_1 \\sim \\mathcal N(0, I), \\qquad z_{2j} \\mid z_1 \\sim \\begin{cases}
        \\mathcal N(z_{1j}, \\sigma_0^2) & m_j = 1 \\\\ \\mathcal N(0, 1) & m_j = 0 \\end{cases}, \\qquad
        x_v \\sim p_\\theta(x \\mid z_v), \\quad v = 1, 2.

    A shared dimension is thus (nearly) one latent variable for both views, with one KL term instead of two;
    that saving is what rewards the model for finding the shared dimensions.

    **The guide.** One encoder (shared by both views) gives ``q(z | x_v) = N(mu_v, sigma_v^2)``. The shared
    dimensions use the Ada-VAE average of the two posteriors [1], ``N((mu_1 + mu_2) / 2, (sigma_1^2 + sigma_2^2)
    / 2)`` (not the product of experts: the average keeps both encoders' uncertainty and is the rule of the
    baseline this model is compared with) for ``z_1``, and ``z_2`` copies them as the model does (so their
    second KL term is exactly zero); the independent dimensions of view ``v`` use ``q(z | x_v)``. Both switch
    with :class:`~pyro_drpm.models.shared_factors.switched_normal.SwitchedNormal`, linear in ``m``: under a
    straight-through mask the gradient compares sharing a dimension with not sharing it.

    Subclasses implement :meth:`model_mask` and :meth:`guide_mask` (called inside the ``"pairs"`` plate, the
    mask may be a sample site) and :meth:`shared_mask`.

    :param input_dim: the dimension of one observation.
    :param latent_dim: the number of latent dimensions ``d`` (at least 2).
    :param hidden_dims: widths of the encoder's hidden layers (the decoder mirrors them).
    :param likelihood: ``"gaussian"`` (learned per-feature scale) or ``"bernoulli"``.
    :param copy_scale: :math:`\\sigma_0`, the standard deviation of a shared dimension of ``z_2`` around ``z_1``.

    References:
    [1] Locatello, Poole, Raetsch, Schoelkopf, Bachem, Tschannen, "Weakly-Supervised Disentanglement Without
    Compromises", ICML 2020, arXiv:2002.02886, https://arxiv.org/abs/2002.02886.
    """

    def __init__(
        self,
        input_dim: int,
        latent_dim: int,
        *,
        hidden_dims: Sequence[int] = (64, 64),
        likelihood: str = "gaussian",
        copy_scale: float = 0.05,
    ):
        super().__init__()
        if not (math.isfinite(copy_scale) and copy_scale > 0):
            raise ValueError(f"copy_scale must be positive and finite, got {copy_scale}")
        self.copy_scale = float(copy_scale)
        if isinstance(input_dim, bool) or not isinstance(input_dim, int) or input_dim < 1:
            raise ValueError(f"input_dim must be an integer >= 1, got {input_dim!r}")
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 2:
            raise ValueError(f"latent_dim must be an integer >= 2 (shared and independent), got {latent_dim!r}")
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"unknown likelihood {likelihood!r}; expected one of {LIKELIHOODS}")
        self.input_dim, self.latent_dim, self.likelihood = input_dim, latent_dim, likelihood
        self.encoder = MLPEncoder(input_dim, latent_dim, tuple(hidden_dims))
        self.decoder = MLPDecoder(latent_dim, input_dim, tuple(hidden_dims), likelihood)

    # -- what subclasses choose -------------------------------------------------------------------------------

    @abstractmethod
    def model_mask(self, x1: torch.Tensor, x2: torch.Tensor, **options) -> torch.Tensor:
        """The mask ``(B, d)`` in the model (``1.0`` = shared), inside the ``"pairs"`` plate."""

    @abstractmethod
    def guide_mask(self, x1: torch.Tensor, x2: torch.Tensor, posteriors, **options) -> torch.Tensor:
        """The mask ``(B, d)`` in the guide, given the two views' posteriors ``((mu_1, sigma_1), (mu_2, sigma_2))``."""

    @abstractmethod
    def shared_mask(self, x1: torch.Tensor, x2: torch.Tensor, **options) -> torch.Tensor:
        """A ``(B, d)`` boolean tensor: the dimensions treated as shared for every pair."""

    # -- the model and the guide ------------------------------------------------------------------------------

    def model(self, x1: torch.Tensor, x2: torch.Tensor, **options) -> None:
        check_views(x1, x2, self.input_dim)
        pyro.module("decoder", self.decoder)
        zeros = x1.new_zeros(x1.shape[0], self.latent_dim)
        ones = torch.ones_like(zeros)
        with pyro.plate("pairs", x1.shape[0]):
            mask = self.model_mask(x1, x2, **options).to(x1.dtype)
            z1 = pyro.sample("z1", dist.Normal(zeros, ones).to_event(1))
            copy_scale = torch.full_like(zeros, self.copy_scale)
            z2 = pyro.sample("z2", SwitchedNormal(mask, z1, copy_scale, zeros, ones).to_event(1))
            pyro.sample("x1", self.decoder.distribution(z1), obs=x1)
            pyro.sample("x2", self.decoder.distribution(z2), obs=x2)

    def guide(self, x1: torch.Tensor, x2: torch.Tensor, **options) -> None:
        check_views(x1, x2, self.input_dim)
        pyro.module("encoder", self.encoder)
        posteriors = self.encoder(x1), self.encoder(x2)
        (loc1, scale1), (loc2, scale2) = posteriors
        with pyro.plate("pairs", x1.shape[0]):
            mask = self.guide_mask(x1, x2, posteriors, **options).to(x1.dtype)
            shared_loc, shared_scale = self.aggregate(*posteriors)
            z1 = pyro.sample("z1", SwitchedNormal(mask, shared_loc, shared_scale, loc1, scale1).to_event(1))
            copy_scale = torch.full_like(z1, self.copy_scale)
            pyro.sample("z2", SwitchedNormal(mask, z1, copy_scale, loc2, scale2).to_event(1))

    @staticmethod
    def aggregate(posterior1, posterior2) -> tuple[torch.Tensor, torch.Tensor]:
        """The Ada-VAE average of two diagonal Gaussians: means averaged, variances averaged."""
        (loc1, scale1), (loc2, scale2) = posterior1, posterior2
        return (loc1 + loc2) / 2, ((scale1**2 + scale2**2) / 2).sqrt()

    # -- evaluation -------------------------------------------------------------------------------------------

    @torch.no_grad()
    def latent_means(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's posterior means of single observations ``(N, input_dim) -> (N, d)``."""
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[-1] != self.input_dim:
            raise ValueError(f"x must be a tensor of shape (N, {self.input_dim}), got {getattr(x, 'shape', x)!r}")
        return self.encoder(x)[0]

    @torch.no_grad()
    def reconstruct(self, x1: torch.Tensor, x2: torch.Tensor, **options) -> tuple[torch.Tensor, torch.Tensor]:
        """The decoder's outputs (means or logits) at the guide's posterior means under :meth:`shared_mask`."""
        check_views(x1, x2, self.input_dim)
        mask = self.shared_mask(x1, x2, **options).to(x1.dtype)
        posteriors = self.encoder(x1), self.encoder(x2)
        shared_loc, _ = self.aggregate(*posteriors)
        return tuple(self.decoder(mask * shared_loc + (1 - mask) * loc) for loc, _ in posteriors)
