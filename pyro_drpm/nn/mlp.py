"""MLP encoder ``x -> (loc, scale)`` of a diagonal Gaussian ``q(z | x)``, MLP decoder ``z -> p(x | z)``.

The decoder's likelihood is Bernoulli (logits, for data in ``[0, 1]``) or Gaussian (means and a learned
per-feature scale, for real-valued standardised features).

Example::

    >>> enc, dec = MLPEncoder(64, 10, (32, 32)), MLPDecoder(10, 64, (32, 32))
    >>> loc, scale = enc(torch.rand(5, 64))
    >>> loc.shape, scale.shape, dec(loc).shape
    (torch.Size([5, 10]), torch.Size([5, 10]), torch.Size([5, 64]))
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pyro.distributions as dist
import torch
from torch import nn

__all__ = ["LIKELIHOODS", "MLPDecoder", "MLPEncoder", "observation_distribution"]

LIKELIHOODS = ("bernoulli", "gaussian")
_INITIAL_LOG_SCALE = -2.0  # the DRPM code resets the encoder's log-sigma head to this after pretraining


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """``x -> (loc, scale)`` of the diagonal Gaussian ``q(z | x)``: an MLP trunk with ReLUs and two linear heads.

    The scale head starts with zero weights and bias ``-2`` (``scale = e^-2``, as the DRPM code sets it after
    pretraining), so a freshly built encoder is an almost deterministic autoencoder encoder.

    :param input_dim: number of features.
    :param latent_dim: dimension of ``z``.
    :param hidden_dims: widths of the hidden layers.
    """

    def __init__(self, input_dim: int, latent_dim: int, hidden_dims: Sequence[int] = (256, 256)):
        super().__init__()
        self.trunk = _mlp([input_dim, *hidden_dims])
        width = hidden_dims[-1] if hidden_dims else input_dim
        self.loc = nn.Linear(width, latent_dim)
        self.log_scale = nn.Linear(width, latent_dim)
        self.reset_scale()

    def reset_scale(self, log_scale: float = _INITIAL_LOG_SCALE) -> None:
        """Set the scale head to a constant ``exp(log_scale)`` (zero weights)."""
        with torch.no_grad():
            self.log_scale.weight.zero_()
            self.log_scale.bias.fill_(log_scale)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.trunk(x)
        # a soft floor keeps the scale positive and the Gaussian log-densities finite
        log_scale = self.log_scale(hidden).clamp(min=math.log(1e-4), max=math.log(1e2))
        return self.loc(hidden), log_scale.exp()


class MLPDecoder(nn.Module):
    """``z ->`` the observation parameter: Bernoulli logits or Gaussian means (one per feature).

    For the Gaussian likelihood the per-feature log-scale is a learnable parameter of this module.

    :param latent_dim: dimension of ``z``.
    :param output_dim: number of features.
    :param hidden_dims: widths of the hidden layers, listed from the data side (mirrored here).
    :param likelihood: ``"bernoulli"`` or ``"gaussian"``.
    """

    def __init__(
        self,
        latent_dim: int,
        output_dim: int,
        hidden_dims: Sequence[int] = (256, 256),
        likelihood: str = "bernoulli",
    ):
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"unknown likelihood {likelihood!r}; expected one of {LIKELIHOODS}")
        self.likelihood = likelihood
        self.trunk = _mlp([latent_dim, *reversed(tuple(hidden_dims))])
        width = hidden_dims[0] if hidden_dims else latent_dim
        self.out = nn.Linear(width, output_dim)
        self.obs_log_scale = nn.Parameter(torch.zeros(output_dim)) if likelihood == "gaussian" else None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.trunk(z))

    def distribution(self, z: torch.Tensor) -> dist.Distribution:
        """``p(x | z)`` as a distribution with event shape ``(output_dim,)``."""
        return observation_distribution(self.likelihood, self(z), self.obs_log_scale)


def observation_distribution(
    likelihood: str, output: torch.Tensor, obs_log_scale: torch.Tensor | None = None
) -> dist.Distribution:
    """The likelihood ``p(x | z)`` for decoder ``output``, one event per row.

    ``"bernoulli"`` is the binary cross-entropy used by VaDE and DRPM-VC for pixel intensities in ``[0, 1]``;
    it is normalised only for binary data, so argument validation is off for fractional intensities.
    ``"gaussian"`` is ``Normal(output, exp(obs_log_scale))`` for real-valued features.
    """
    if likelihood == "bernoulli":
        return dist.Bernoulli(logits=output, validate_args=False).to_event(1)
    if likelihood == "gaussian":
        scale = obs_log_scale.clamp(min=math.log(1e-3)).exp().expand_as(output)
        return dist.Normal(output, scale).to_event(1)
    raise ValueError(f"unknown likelihood {likelihood!r}; expected one of {LIKELIHOODS}")
