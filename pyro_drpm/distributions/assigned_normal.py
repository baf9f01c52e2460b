"""Gaussian clusters indexed by a partition: ``z_i | Y ~ N(mu_k, diag sigma_k^2)`` for the subset ``k`` of ``i``."""

from __future__ import annotations

import math

import pyro.distributions as dist
import torch
from pyro.distributions import TorchDistribution
from torch.distributions import constraints, register_kl

__all__ = ["AssignedNormal", "diagonal_normal_log_density"]


def diagonal_normal_log_density(z: torch.Tensor, locs: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """``log N(z_i; locs_k, diag scales_k^2)`` for every point ``i`` and component ``k``: shape ``(..., N, K)``.

    Example::

        >>> diagonal_normal_log_density(torch.zeros(5, 2), torch.zeros(3, 2), torch.ones(3, 2)).shape
        torch.Size([5, 3])
    """
    diff = (z.unsqueeze(-2) - locs) / scales
    return -0.5 * diff.pow(2).sum(-1) - scales.log().sum(-1) - 0.5 * z.shape[-1] * math.log(2 * math.pi)


class AssignedNormal(TorchDistribution):
    """``z_i | Y ~ N(mu_k, diag sigma_k^2)`` for the subset ``k`` holding element ``i``, one event per element.

    The log-density is written *linearly* in the assignment matrix,
    ``log p(z_i | Y) = sum_k Y[k, i] log N(z_i; mu_k, sigma_k^2)``, which equals the Gaussian of the chosen cluster
    for a 0/1 ``Y``. The linear form matters for straight-through gradients: the derivative with respect to
    ``Y[k, i]`` is the log-likelihood of cluster ``k`` (the "reward" of moving element ``i`` there), whereas
    ``Normal(Y^T mu, Y^T sigma)`` would differentiate through the mixed mean and scale, a signal that depends on
    the absolute position of the cluster means. The log-densities are also centred per element,
    ``sum_k Y[k, i] (log N_ik - c_i) + c_i`` with ``c_i = logsumexp_k log N_ik``: the same value for a 0/1 column
    and the same gradients for the continuous parameters, but the derivative with respect to ``Y`` no longer
    carries the common level ``c_i``, to which a relaxed permutation (whose columns need not sum to one) would
    otherwise respond.

    Example::

        >>> Y = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])  # elements 0, 2 in subset 0, element 1 in 1
        >>> d = AssignedNormal(Y, torch.zeros(2, 4), torch.ones(2, 4))
        >>> d.batch_shape, d.event_shape, d.rsample().shape
        (torch.Size([3]), torch.Size([4]), torch.Size([3, 4]))

    :param assignment: ``(..., K, B)`` assignment matrix (a DRPM sample).
    :param locs: ``(K, d)`` cluster means.
    :param scales: ``(K, d)`` cluster standard deviations.
    """

    arg_constraints = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, assignment: torch.Tensor, locs: torch.Tensor, scales: torch.Tensor, *, validate_args=None):
        self.assignment = assignment.transpose(-1, -2)  # (..., B, K)
        self.locs = locs
        self.scales = scales
        batch_shape = self.assignment.shape[:-1]
        super().__init__(batch_shape, locs.shape[-1:], validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(AssignedNormal, _instance)
        batch_shape = torch.Size(batch_shape)
        new.assignment = self.assignment.expand(batch_shape + self.assignment.shape[-1:])
        new.locs, new.scales = self.locs, self.scales
        super(AssignedNormal, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape=torch.Size()):
        loc = self.assignment @ self.locs
        scale = self.assignment @ self.scales
        shape = self._extended_shape(sample_shape)
        return loc + scale * torch.randn(shape, dtype=loc.dtype, device=loc.device)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        log_density = diagonal_normal_log_density(value, self.locs, self.scales)  # (..., B, K)
        # equal to sum_k Y[k, i] log N_ik for 0/1 columns (see the class docstring for the centring)
        centre = log_density.logsumexp(-1, keepdim=True)
        return (self.assignment * (log_density - centre)).sum(-1) + centre.squeeze(-1)


@register_kl(dist.Independent, AssignedNormal)
def _kl_independent_normal_assigned(p: dist.Independent, q: AssignedNormal) -> torch.Tensor:
    """``KL(N(loc_i, scale_i) || p(z_i | Y)) = sum_k Y[k, i] KL(N(loc_i, scale_i) || N(mu_k, sigma_k))`` (exact for
    0/1 ``Y``); lets ``TraceMeanField_ELBO`` integrate the ``z`` term analytically given the sampled partition."""
    base = p.base_dist
    if not isinstance(base, torch.distributions.Normal) or p.reinterpreted_batch_ndims != 1:
        raise NotImplementedError
    loc, scale = base.loc.unsqueeze(-2), base.scale.unsqueeze(-2)  # (..., B, 1, d)
    ratio = (scale / q.scales) ** 2
    kl = 0.5 * (ratio + ((loc - q.locs) / q.scales) ** 2 - 1 - ratio.log()).sum(-1)  # (..., B, K)
    return (q.assignment * kl).sum(-1)
