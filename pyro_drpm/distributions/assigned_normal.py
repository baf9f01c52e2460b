"""Gaussian clusters indexed by a partition: ``z_i | Y ~ N(mu_k, Sigma_k)`` for the subset ``k`` of ``i``.

A cluster's scale is either a vector of standard deviations (``(K, d)``: ``Sigma_k = diag sigma_k^2``) or a
lower-triangular Cholesky factor with a positive diagonal (``(K, d, d)``: ``Sigma_k = L_k L_k^T``).
"""

from __future__ import annotations

import math

import pyro.distributions as dist
import torch
from pyro.distributions import TorchDistribution
from torch.distributions import constraints, register_kl

__all__ = ["AssignedNormal", "diagonal_normal_log_density", "normal_log_density", "precision_diagonal"]


def diagonal_normal_log_density(z: torch.Tensor, locs: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """``log N(z_i; locs_k, diag scales_k^2)`` for every point ``i`` and component ``k``: shape ``(..., N, K)``.

    Example::

        >>> diagonal_normal_log_density(torch.zeros(5, 2), torch.zeros(3, 2), torch.ones(3, 2)).shape
        torch.Size([5, 3])
    """
    diff = (z.unsqueeze(-2) - locs) / scales
    return -0.5 * diff.pow(2).sum(-1) - scales.log().sum(-1) - 0.5 * z.shape[-1] * math.log(2 * math.pi)


def normal_log_density(z: torch.Tensor, locs: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """``log N(z_i; locs_k, Sigma_k)`` for every point ``i`` and component ``k``, shape ``(..., N, K)``.

    ``scales`` is ``(K, d)`` (standard deviations, :func:`diagonal_normal_log_density`) or ``(K, d, d)``
    (Cholesky factors ``L_k``: ``-1/2 |L_k^{-1} (z_i - mu_k)|^2 - sum_j log L_k[j, j] - d/2 log 2 pi``).

    Example::

        >>> L = torch.tensor([[[2.0, 0.0], [1.0, 1.0]]])
        >>> z = torch.tensor([[0.5, -1.0]])
        >>> expected = torch.distributions.MultivariateNormal(torch.zeros(2), scale_tril=L[0]).log_prob(z)
        >>> bool(torch.allclose(normal_log_density(z, torch.zeros(1, 2), L)[:, 0], expected))
        True
    """
    if scales.dim() == locs.dim():
        return diagonal_normal_log_density(z, locs, scales)
    eye = torch.eye(scales.shape[-1], dtype=scales.dtype, device=scales.device)
    inverse = torch.linalg.solve_triangular(scales, eye.expand_as(scales), upper=False)  # L_k^{-1}, (K, d, d)
    # L_k^{-1} (z_i - mu_k) for every pair, as matrix products
    white = torch.einsum("kij,...nj->...nki", inverse, z) - torch.einsum("kij,kj->ki", inverse, locs)
    log_det = scales.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    return -0.5 * white.pow(2).sum(-1) - log_det - 0.5 * z.shape[-1] * math.log(2 * math.pi)


def precision_diagonal(scales: torch.Tensor) -> torch.Tensor:
    """The diagonal of every cluster's precision ``Sigma_k^{-1}``, shape ``(K, d)``, for ``(K, d)`` standard
    deviations or ``(K, d, d)`` Cholesky factors (``diag(L^-T L^-1)_j = sum_i (L^-1)_{ij}^2``).

    ``E_{z ~ N(m, diag s^2)}[log N(z; mu_k, Sigma_k)] = log N(m; mu_k, Sigma_k) - 1/2 sum_j s_j^2 (Sigma_k^-1)_jj``.
    """
    if scales.dim() == 2:
        return scales.pow(-2)
    eye = torch.eye(scales.shape[-1], dtype=scales.dtype, device=scales.device)
    inverse = torch.linalg.solve_triangular(scales, eye.expand_as(scales), upper=False)
    return inverse.pow(2).sum(-2)


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
    :param scales: ``(K, d)`` cluster standard deviations, or ``(K, d, d)`` lower-triangular Cholesky factors of
        full cluster covariances.
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
        shape = self._extended_shape(sample_shape)
        noise = torch.randn(shape, dtype=loc.dtype, device=loc.device)
        if self.scales.dim() == 2:
            return loc + (self.assignment @ self.scales) * noise
        scale_tril = torch.einsum("...bk,kij->...bij", self.assignment, self.scales)  # each element's L
        return loc + (scale_tril @ noise.unsqueeze(-1)).squeeze(-1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        log_density = normal_log_density(value, self.locs, self.scales)  # (..., B, K)
        # equal to sum_k Y[k, i] log N_ik for 0/1 columns (see the class docstring for the centring)
        centre = log_density.logsumexp(-1, keepdim=True)
        return (self.assignment * (log_density - centre)).sum(-1) + centre.squeeze(-1)


@register_kl(dist.Independent, AssignedNormal)
def _kl_independent_normal_assigned(p: dist.Independent, q: AssignedNormal) -> torch.Tensor:
    """``KL(N(loc_i, scale_i) || p(z_i | Y)) = sum_k Y[k, i] KL(N(loc_i, scale_i) || N(mu_k, sigma_k))`` (exact for
    0/1 ``Y``); lets ``TraceMeanField_ELBO`` integrate the ``z`` term analytically given the sampled partition."""
    base = p.base_dist
    if not isinstance(base, torch.distributions.Normal) or p.reinterpreted_batch_ndims != 1 or q.scales.dim() != 2:
        raise NotImplementedError  # full covariances: Pyro's TraceMeanField_ELBO falls back to the sampled term
    loc, scale = base.loc.unsqueeze(-2), base.scale.unsqueeze(-2)  # (..., B, 1, d)
    ratio = (scale / q.scales) ** 2
    kl = 0.5 * (ratio + ((loc - q.locs) / q.scales) ** 2 - 1 - ratio.log()).sum(-1)  # (..., B, K)
    return (q.assignment * kl).sum(-1)
