"""Which subsets a clustering uses: the MAP partition under a partition prior, with delete moves.

With point-estimated clusters ``N(mu_k, Sigma_k)`` (diagonal or full) and a point-mass guide over the partition, the
DRPM-VC objective of the latent codes ``z`` (one partition per mini-batch ``b``) is

.. math::

    J(Y, \\mu, \\sigma) = \\sum_i \\log \\mathcal{N}(z_i; \\mu_{k(i)}, \\sigma_{k(i)}^2) + \\sum_b \\log p(Y_b),

the part of the ELBO that the partition decides. A plain mixture fit never empties a subset, so the subsets
it starts with all stay in use; the prior's rich-get-richer term (:math:`\\sum_k \\log \\Gamma(n_k)` for the
CRP) prefers fewer, larger blocks but acts only across a whole subset. :func:`prune_subsets` therefore
alternates classification-EM sweeps (each point to :math:`\\arg\\max_k \\log \\mathcal N(z_i; \\mu_k, \\sigma_k^2) +
\\log w_k`, with :math:`w_k` the prior's predictive weight, then moment-matched clusters) with *delete moves*:
empty one subset, move its points to the others, re-run the sweeps, and keep the result when :math:`J`
increases, as the merge and delete moves of memoized variational inference for Dirichlet-process mixtures [1].

References:
[1] Hughes, Sudderth, "Memoized Online Variational Inference for Dirichlet Process Mixture Models", NeurIPS
2013, https://papers.nips.cc/paper/2013/hash/39461a19e9eddfb385ea76b26521ea48-Abstract.html.
[2] Celeux, Govaert, "A classification EM algorithm for clustering and two stochastic versions", Comput. Stat.
Data Anal. 14 (1992), https://doi.org/10.1016/0167-9473(92)90042-E.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from pyro_drpm.distributions import normal_log_density, precision_diagonal
from pyro_drpm.partitions import PartitionPrior

__all__ = ["PrunedMixture", "partition_objective", "prune_subsets"]

#: added to every moment-matched variance, as ``reg_covar`` of the mixture initialisation
_MIN_VARIANCE = 1e-4
_MAX_SWEEPS = 30


@dataclass
class PrunedMixture:
    """The result of :func:`prune_subsets`: hard ``labels`` ``(N,)``, cluster means ``(K, d)`` and scales
    (``(K, d)``, or Cholesky factors ``(K, d, d)`` for full covariances), the subsets in use."""

    labels: torch.Tensor
    locs: torch.Tensor
    scales: torch.Tensor
    active: torch.Tensor
    objective: float


def _expected_log_density(z, z_scale, locs, scales):
    """``E[log N(z_i; mu_k, Sigma_k)]``, ``(N, K)``, for ``z_i ~ N(z, diag z_scale^2)`` (``None``: at ``z``).

    Expanded into matrix products (``(z - mu)^2 = z^2 - 2 z mu + mu^2``), in float64: the delete moves evaluate
    it hundreds of times. Full covariances (``(K, d, d)`` Cholesky factors): the density at ``z`` minus
    ``1/2 sum_j z_scale_j^2 (Sigma_k^-1)_jj``.
    """
    if scales.dim() == 3:
        log_density = normal_log_density(z, locs, scales)
        if z_scale is None:
            return log_density
        return log_density - 0.5 * z_scale.pow(2) @ precision_diagonal(scales).T
    precision = scales.pow(-2)
    second = z**2 if z_scale is None else z**2 + z_scale**2
    quadratic = second @ precision.T - 2 * z @ (locs * precision).T + (locs**2 * precision).sum(-1)
    return -0.5 * (quadratic + (2 * math.pi * scales**2).log().sum(-1))


def _chunks(num_points: int, batch_size: int, generator: torch.Generator | None) -> list[torch.Tensor]:
    order = torch.randperm(num_points, generator=generator)
    return list(order.split(batch_size))


def partition_objective(z, labels, locs, scales, prior: PartitionPrior, chunks, z_scale=None) -> float:
    """:math:`J`: the clusters' log-density of ``z``, the prior log-probability of every chunk's partition, and
    the BIC term of the clusters in use."""
    k, d = locs.shape
    log_density = _expected_log_density(z, z_scale, locs, scales).gather(-1, labels.unsqueeze(-1)).sum()
    in_use = int((torch.bincount(labels, minlength=k) > 0).sum())
    per_cluster = d + (d * (d + 1) // 2 if scales.dim() == 3 else d)  # mean and (co)variances
    log_density = log_density - 0.5 * per_cluster * math.log(z.shape[0]) * in_use
    log_prior = 0.0
    by_size: dict[int, list[torch.Tensor]] = {}
    for chunk in chunks:
        by_size.setdefault(len(chunk), []).append(torch.bincount(labels[chunk], minlength=k))
    # priors with learned subset proportions (the DRPM prior's size logits) are set to this partition's, then
    # restored
    saved = {name: value.detach().clone() for name, value in prior.state_dict().items()}
    with torch.no_grad():
        prior.init_from_weights(torch.bincount(labels, minlength=k).to(torch.float64) / labels.shape[0])
        for counts in by_size.values():
            log_prior += float(prior.log_prob_sizes(torch.stack(counts).to(torch.float64)).sum())
        prior.load_state_dict(saved)
    return float(log_density) + log_prior


def _moment_match(z, z_scale, labels, locs, scales):
    k = locs.shape[0]
    one_hot = torch.nn.functional.one_hot(labels, k).to(z.dtype)
    counts = one_hot.sum(0)
    used = counts > 0
    means = (one_hot.T @ z) / counts.clamp(min=1).unsqueeze(-1)
    second = z**2 if z_scale is None else z**2 + z_scale**2
    variances = (one_hot.T @ second) / counts.clamp(min=1).unsqueeze(-1) - means**2
    new_locs = torch.where(used.unsqueeze(-1), means, locs)
    if scales.dim() == 3:  # full covariances: scatter around the mean, plus the codes' own variances
        weights = one_hot / counts.clamp(min=1)
        centred = z.unsqueeze(0) - means.unsqueeze(1)  # (K, N, d)
        covariance = torch.einsum("nk,kni,knj->kij", weights, centred, centred)
        extra = variances.new_zeros(variances.shape) if z_scale is None else weights.T @ z_scale**2
        eye = torch.eye(z.shape[-1], dtype=z.dtype, device=z.device)
        covariance = covariance + torch.diag_embed(extra) + _MIN_VARIANCE * eye
        new_scales = torch.linalg.cholesky(covariance)
        return new_locs, torch.where(used.view(-1, 1, 1), new_scales, scales)
    new_scales = (variances.clamp(min=0) + _MIN_VARIANCE).sqrt()
    return new_locs, torch.where(used.unsqueeze(-1), new_scales, scales)


def _sweeps(z, z_scale, labels, locs, scales, prior, active, batch_size):
    """Classification EM restricted to the ``active`` subsets, from ``labels``, until the labels settle."""
    k, n = locs.shape[0], z.shape[0]
    batch = min(batch_size, n)
    for _ in range(_MAX_SWEEPS):
        counts = torch.bincount(labels, minlength=k).to(torch.float64) * (batch / n)
        with torch.no_grad():
            log_weights = prior.log_predictive_weights(counts, batch).to(z.dtype)
        scores = _expected_log_density(z, z_scale, locs, scales) + log_weights
        new_labels = scores.masked_fill(~active, -torch.inf).argmax(-1)
        locs, scales = _moment_match(z, z_scale, new_labels, locs, scales)
        if torch.equal(new_labels, labels):
            break
        labels = new_labels
    return labels, locs, scales


@torch.no_grad()
def prune_subsets(
    z: torch.Tensor,
    locs: torch.Tensor,
    scales: torch.Tensor,
    prior: PartitionPrior,
    *,
    batch_size: int,
    z_scale: torch.Tensor | None = None,
    active: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> PrunedMixture:
    """Classification EM and greedy delete moves on :math:`J` from the clusters ``(locs, scales)``.

    Each round tries to delete every subset in use and keeps the deletion that increases :math:`J` most; it
    stops when none does (at least one subset always stays).

    Example::

        >>> from pyro_drpm.partitions import CRPPrior
        >>> g = torch.Generator().manual_seed(0)
        >>> z = torch.cat([torch.randn(50, 2, generator=g) - 4, torch.randn(50, 2, generator=g) + 4])
        >>> locs = torch.tensor([[-4.5, -4.0], [-3.5, -4.0], [4.0, 4.5], [4.0, 3.5]])  # each blob split in two
        >>> fit = prune_subsets(z, locs, torch.ones(4, 2), CRPPrior(4), batch_size=100)
        >>> fit.active.tolist()
        [False, True, False, True]

    :param z: latent codes ``(N, d)``.
    :param locs: initial cluster means ``(K, d)``.
    :param scales: initial cluster standard deviations ``(K, d)``, or Cholesky factors ``(K, d, d)`` of full
        covariances (the fit then keeps full covariances).
    :param prior: the partition prior (its :meth:`~pyro_drpm.partitions.PartitionPrior.log_prob_sizes` and
        :meth:`~pyro_drpm.partitions.PartitionPrior.log_predictive_weights`).
    :param batch_size: the size of the sets the prior partitions (the model's mini-batches).
    :param z_scale: standard deviations ``(N, d)`` of Gaussian codes ``N(z_i, diag z_scale_i^2)`` (the guide's
        ``q(z_i | x_i)``): densities become expected log-densities and cluster variances include them.
    :param active: the subsets that may be used (default: all).
    :param generator: the random split of ``z`` into mini-batches for :math:`J`.
    """
    z = torch.as_tensor(z, dtype=torch.float64)
    z_scale = None if z_scale is None else torch.as_tensor(z_scale, dtype=torch.float64)
    locs, scales = locs.detach().to(torch.float64), scales.detach().to(torch.float64)
    k = locs.shape[0]
    active = torch.ones(k, dtype=torch.bool) if active is None else active.clone()
    chunks = _chunks(z.shape[0], batch_size, generator)
    start = _expected_log_density(z, z_scale, locs, scales).masked_fill(~active, -torch.inf).argmax(-1)
    labels, locs, scales = _sweeps(z, z_scale, start, locs, scales, prior, active, batch_size)
    active = active & (torch.bincount(labels, minlength=k) > 0)
    objective = partition_objective(z, labels, locs, scales, prior, chunks, z_scale)
    while int(active.sum()) > 1:
        best = None
        for candidate in active.nonzero().flatten().tolist():
            trial_active = active.clone()
            trial_active[candidate] = False
            moved = _expected_log_density(z, z_scale, locs, scales).masked_fill(~trial_active, -torch.inf).argmax(-1)
            trial = _sweeps(z, z_scale, moved, locs, scales, prior, trial_active, batch_size)
            trial_active = trial_active & (torch.bincount(trial[0], minlength=k) > 0)
            value = partition_objective(z, *trial, prior, chunks, z_scale)
            if value > objective and (best is None or value > best[0]):
                best = (value, trial, trial_active)
        if best is None:
            break
        objective, (labels, locs, scales), active = best
    return PrunedMixture(labels, locs.float(), scales.float(), active, objective)
