"""DRPM variational clustering (DRPM-VC): the cluster assignment of a whole mini-batch is one DRPM latent."""

from __future__ import annotations

import contextlib
import math

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.nn import pyro_method

from pyro_drpm.distributions import AssignedNormal, precision_diagonal
from pyro_drpm.infer import PathDerivative
from pyro_drpm.models.clustering.base import LatentClusteringModel
from pyro_drpm.models.clustering.initialisation import MixtureInit, cluster_path_order
from pyro_drpm.models.clustering.pruning import prune_subsets
from pyro_drpm.nn import MLPDecoder, MLPEncoder
from pyro_drpm.partitions import (
    ClusterOrderedDRPM,
    DeterministicSizesDRPM,
    DRPMPrior,
    PartitionPrior,
    largest_remainder_round,
)

__all__ = ["DRPMVC"]

#: How the guide's subset sizes are trained: through the straight-through MVHG sample, or by the score function.
SIZE_GRADIENTS = ("straight_through", "score")


class DRPMVC(LatentClusteringModel):
    """DRPM variational clustering [1]: Pyro model and guide over a mini-batch whose partition is one latent.

    Model, for a mini-batch ``x_1..x_B`` (Pyro sites ``"partition"``, ``"z"`` in plate ``"data"``, ``"x"``):

    .. math::

        Y \\sim p(Y), \\qquad z_i \\mid Y \\sim \\mathcal{N}(\\mu_{k(i)}, \\mathrm{diag}\\,\\sigma_{k(i)}^2),
        \\qquad x_i \\mid z_i \\sim p_\\theta(x_i \\mid z_i),

    with ``Y`` the ``K x B`` assignment matrix, ``k(i)`` the subset of element ``i`` and ``p(Y)`` the ``prior``
    (:class:`~pyro_drpm.partitions.DRPMPrior`, learned size logits and uniform scores, by default;
    :class:`~pyro_drpm.partitions.CRPPrior` for a Chinese restaurant process). ``z_i | Y`` is an
    :class:`~pyro_drpm.distributions.AssignedNormal`, linear in ``Y``. Guide: ``q(z_i | x_i)`` from the encoder
    and ``q(Y | x)`` from ``partition_guide`` (a :class:`~pyro_drpm.partitions.ClusterOrderedDRPM`) applied to
    the responsibilities :math:`r_i = \\mathrm{softmax}_k\\, \\mathbb{E}_q[\\log \\mathcal{N}(z_i; \\mu_k,
    \\sigma_k^2)]`. With the exact DRPM ``log_prob``, ``Trace_ELBO`` estimates

    .. math::

        \\mathcal{L} = \\sum_i \\mathbb{E}_q[\\log p(x_i|z_i)]
          - \\beta\\, \\mathbb{E}_{q}\\Big[\\sum_i \\log q(z_i|x_i) - \\log \\mathcal{N}(z_i; \\mu_{k(i)},
          \\sigma_{k(i)}^2)\\Big] - \\gamma\\, \\mathrm{KL}\\big(q(Y|x) \\,\\|\\, p(Y)\\big)

    without bounds; ``beta`` and ``gamma`` (``partition_weight``) scale the ``z`` and ``"partition"`` sites.

    The partition's gradients: by default the responsibilities are differentiable in the encoder output and the
    clusters, so the partition site trains them through the straight-through sample and the exact, value-
    differentiable ``log q(Y)`` and ``log p(Y)``. ``path_derivative=True`` drops the zero-mean direct gradient of
    ``log q(Y)`` (:class:`~pyro_drpm.infer.PathDerivative`); ``detach_responsibilities=True`` makes the partition
    train only the guide's own parameters (the released code's choice). The relaxation ``temperature`` is an
    argument of :meth:`model` and :meth:`guide` (a schedule's value during training).

    Random subset sizes: when the guide's urn holds more than ``n`` balls, ``q(Y | x)`` draws its sizes
    :math:`\\mathbf n` from an MVHG. With ``size_gradient="straight_through"`` they are the straight-through
    relaxed sample, whose gradient reaches whatever the size logits depend on. With ``size_gradient="score"``
    they are drawn exactly with no path gradient and the size stage is trained by the score function,

    .. math::

        \\nabla_\\phi \\mathcal{L} \\ni \\nabla_\\phi \\log q_\\phi(\\mathbf n)\\,
          \\big(\\ell(\\mathbf n) - \\ell(\\bar{\\mathbf n})\\big), \\qquad
        \\ell(\\mathbf n) = \\gamma \\big[\\log p(Y_{\\mathbf n}) - \\log q(Y_{\\mathbf n})\\big]
          + \\beta \\sum_i \\log \\mathcal{N}(z_i; \\mu_{k_{\\mathbf n}(i)}, \\sigma_{k_{\\mathbf n}(i)}^2),

    the terms of the ELBO that depend on the sizes, with :math:`Y_{\\mathbf n}` the subsets filled with
    :math:`\\mathbf n` elements in the order of the sample's own Gumbel-perturbed scores and :math:`\\bar{\\mathbf
    n}` the rounded mean size. The baseline :math:`\\ell(\\bar{\\mathbf n})` uses the same ranking and the same
    ``z`` (common random numbers), which are independent of :math:`\\mathbf n`, so the estimator is unbiased; it
    is added to the guide as a zero-valued ``pyro.factor`` (``"partition_sizes_score"``), which leaves the loss
    value unchanged. The exact MVHG pmf is what makes :math:`\\log q_\\phi(\\mathbf n)` available.

    Subsets in use: ``K`` is an upper bound. The guide's responsibilities add, in ``prior_sweeps`` mean-field
    sweeps, the prior's predictive log weight of each subset at the other elements' soft counts
    (:meth:`~pyro_drpm.partitions.PartitionPrior.log_predictive_weights`), so the prior shapes ``q(Y | x)`` and a
    subset's soft count can vanish; :meth:`prune_` keeps only the subsets that the MAP partition of a data set
    uses under the prior (delete moves, :mod:`~pyro_drpm.models.clustering.pruning`), and the others get no
    elements. Prediction: ``argmax_k log N(E_q[z_i]; mu_k, sigma_k^2) + log w_k`` over the subsets in use, with
    the prior's predictive weights ``w_k`` at the subset sizes that :meth:`settle_` fitted.

    Example::

        >>> vc = DRPMVC(MLPEncoder(6, 2, (8,)), MLPDecoder(2, 6, (8,)), n_components=3)
        >>> loss = pyro.infer.Trace_ELBO().differentiable_loss(vc.model, vc.guide, torch.rand(5, 6))
        >>> bool(torch.isfinite(loss))
        True

    :param encoder: the encoder of ``q(z | x)``.
    :param decoder: the decoder of ``p(x | z)``.
    :param n_components: the number of subsets ``K``.
    :param prior: the prior over the batch's partition (default: ``DRPMPrior(K)`` in float64).
    :param partition_guide: the guide's partition block (default: ``ClusterOrderedDRPM(K)`` in float64, an urn
        of the rounded soft counts, so deterministic sizes).
    :param beta: ``poutine.scale`` weight of the ``z`` sites.
    :param partition_weight: ``poutine.scale`` weight of the partition site.
    :param detach_responsibilities: compute the guide's responsibilities from detached encoder outputs and
        clusters.
    :param path_derivative: use the path-derivative estimator for ``log q(Y)``.
    :param prior_sweeps: mean-field sweeps of the guide's responsibilities with the prior's predictive weights
        (``0``: the cluster densities alone).
    :param size_gradient: ``"straight_through"`` or ``"score"``: the gradient of the guide's random subset
        sizes (see above; irrelevant when the guide's sizes are deterministic).
    :param covariance: ``"diagonal"`` or ``"full"`` cluster covariances (see
        :class:`~pyro_drpm.models.clustering.base.LatentClusteringModel`).

    References:
    [1] Sutter, Ryser, Liebeskind, Vogt, "Differentiable Random Partition Models", NeurIPS 2023,
    https://arxiv.org/abs/2305.16841.
    [2] Jiang, Zheng, Tan, Tang, Zhou, "Variational Deep Embedding", IJCAI 2017, https://arxiv.org/abs/1611.05148.
    """

    def __init__(
        self,
        encoder: MLPEncoder,
        decoder: MLPDecoder,
        n_components: int,
        *,
        prior: PartitionPrior | None = None,
        partition_guide: ClusterOrderedDRPM | None = None,
        beta: float = 1.0,
        partition_weight: float = 1.0,
        detach_responsibilities: bool = False,
        path_derivative: bool = False,
        prior_sweeps: int = 2,
        size_gradient: str = "straight_through",
        covariance: str = "diagonal",
    ):
        super().__init__(encoder, decoder, n_components, beta=beta, covariance=covariance)
        if not (math.isfinite(partition_weight) and partition_weight > 0):
            raise ValueError(f"partition_weight must be positive and finite, got {partition_weight}")
        prior = DRPMPrior(self.n_components, dtype=torch.float64) if prior is None else prior
        if partition_guide is None:
            partition_guide = ClusterOrderedDRPM(self.n_components, dtype=torch.float64)
        for name, block in (("prior", prior), ("partition_guide", partition_guide)):
            if block.num_subsets != self.n_components:
                raise ValueError(f"{name} has {block.num_subsets} subsets, expected n_components={n_components}")
        self.prior = prior
        self.partition_guide = partition_guide
        self.partition_weight = float(partition_weight)
        self.detach_responsibilities = bool(detach_responsibilities)
        self.path_derivative = bool(path_derivative)
        if isinstance(prior_sweeps, bool) or int(prior_sweeps) != prior_sweeps or prior_sweeps < 0:
            raise ValueError(f"prior_sweeps must be a non-negative integer, got {prior_sweeps!r}")
        self.prior_sweeps = int(prior_sweeps)
        if size_gradient not in SIZE_GRADIENTS:
            raise ValueError(f"unknown size_gradient {size_gradient!r}; expected one of {SIZE_GRADIENTS}")
        self.size_gradient = size_gradient
        # the subsets in use, and the subset sizes of the data the model was fitted to (for predictions)
        self.register_buffer("active", torch.ones(self.n_components, dtype=torch.bool))
        self.register_buffer("subset_counts", torch.ones(self.n_components))

    def init_from_mixture(self, mixture: MixtureInit) -> None:
        """Clusters from a fitted Gaussian mixture, reordered along a short path through their means (a DRPM
        fills its subsets in a fixed order, so elements pushed across a block boundary land in a similar
        cluster); the prior's expected proportions from the mixture weights."""
        order = cluster_path_order(mixture.locs)
        ordered = MixtureInit(
            weights=mixture.weights[order],
            locs=mixture.locs[order],
            scales=mixture.scales[order],
            labels=torch.argsort(order)[torch.as_tensor(mixture.labels)].numpy(),
        )
        super().init_from_mixture(ordered)
        self.prior.init_from_weights(ordered.weights)

    @torch.no_grad()
    def prune_(self, x: torch.Tensor, *, batch_size: int, generator: torch.Generator | None = None) -> None:
        """Keep only the subsets that the MAP partition of the data set ``x`` uses under the prior, with the
        guide's ``q(z_i | x_i)`` for the codes (:func:`~pyro_drpm.models.clustering.pruning.prune_subsets`); the
        clusters and the prior's proportions become that fit's."""
        loc, scale = self.encoder(x)
        fit = prune_subsets(
            loc,
            self.locs,
            self.cluster_scales,
            self.prior,
            batch_size=batch_size,
            z_scale=scale,
            active=self.active,
            generator=generator,
        )
        self.set_clusters(fit.locs, fit.scales)
        self.active.copy_(fit.active)
        counts = torch.bincount(fit.labels, minlength=self.n_components).to(self.subset_counts.dtype)
        self.subset_counts.copy_(counts)
        self.prior.init_from_weights(counts / counts.sum())

    @torch.no_grad()
    def settle_(self, x: torch.Tensor, *, max_sweeps: int = 30) -> torch.Tensor:
        """The labels of the data set ``x`` under the posterior over its partition, with the clusters fixed:
        each point to ``argmax_k log N(E_q[z_i]; mu_k, sigma_k^2) + log w_k`` (``w_k`` the prior's predictive
        weight at the current subset sizes) until the labels settle; the sizes and the subsets in use are kept
        for :meth:`predict`."""
        loc, _ = self.encoder(x)
        log_density = self.cluster_log_likelihood(loc).masked_fill(~self.active, -math.inf)
        labels = log_density.argmax(-1)
        for _ in range(max_sweeps):
            counts = torch.bincount(labels, minlength=self.n_components).to(self.subset_counts.dtype)
            self.subset_counts.copy_(counts)
            new_labels = (log_density + self.log_weights()).argmax(-1)
            if torch.equal(new_labels, labels):
                break
            labels = new_labels
        self.subset_counts.copy_(torch.bincount(labels, minlength=self.n_components).to(self.subset_counts.dtype))
        self.active &= self.subset_counts > 0
        return labels

    def log_weights(self) -> torch.Tensor:
        """The prior's predictive log weights at the fitted subset sizes; ``-inf`` for subsets not in use."""
        counts = self.subset_counts
        log_weights = self.prior.log_predictive_weights(counts, int(counts.sum().round())).to(self.locs.dtype)
        return log_weights.masked_fill(~self.active, -math.inf)

    def responsibilities(self, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """The guide's ``r_i``, shape ``(B, K)``: ``softmax_k E_{q(z_i)}[log N(z_i; mu_k, sigma_k^2)]`` (closed
        form for Gaussians) over the subsets in use, then ``prior_sweeps`` mean-field sweeps that add the prior's
        predictive log weight at the other elements' soft counts, ``log w_k(sum_{j != i} r_j)``."""
        variance_term = 0.5 * (scale.unsqueeze(-2) ** 2 * precision_diagonal(self.cluster_scales)).sum(-1)
        logits = (self.cluster_log_likelihood(loc) - variance_term).masked_fill(~self.active, -math.inf)
        r = torch.softmax(logits, dim=-1)
        n = loc.shape[0]
        for _ in range(self.prior_sweeps):
            others = r.sum(0) - r
            r = torch.softmax(logits + self.prior.log_predictive_weights(others, n).to(logits.dtype), dim=-1)
        return r

    def partition_posterior(self, loc: torch.Tensor, scale: torch.Tensor, *, temperature: float = 0.5):
        """``q(Y | x)`` for the encoder outputs of a mini-batch."""
        if self.detach_responsibilities:
            with torch.no_grad():
                r = self.responsibilities(loc, scale)
        else:
            r = self.responsibilities(loc, scale)
        posterior = self.partition_guide(r, temperature=temperature)
        if self.path_derivative:
            with torch.no_grad():
                r_detached = self.responsibilities(loc, scale)
            posterior = PathDerivative(posterior, self.partition_guide(r_detached, temperature=temperature))
        return posterior

    def _partition_scale(self):
        """``poutine.scale`` of the partition sites by ``partition_weight`` (no messenger at the default 1)."""
        if self.partition_weight == 1.0:
            return contextlib.nullcontext()
        return poutine.scale(scale=self.partition_weight)

    @pyro_method
    def model(self, x: torch.Tensor, temperature: float = 0.5) -> None:
        """``Y ~ p(Y)``, ``z_i ~ N(mu_{k(i)}, sigma_{k(i)}^2)``, ``x_i ~ p(x | z_i)``."""
        n = x.shape[0]
        with self._partition_scale():
            partition = pyro.sample("partition", self.prior(n, temperature=temperature))
        latent_prior = AssignedNormal(partition.to(self.locs.dtype), self.locs, self.cluster_scales)
        with pyro.plate("data", n):
            with poutine.scale(scale=self.beta):
                z = pyro.sample("z", latent_prior)
            pyro.sample("x", self.decoder.distribution(z), obs=x)

    @pyro_method
    def guide(self, x: torch.Tensor, temperature: float = 0.5) -> None:
        """``q(Y | x)`` from the responsibilities and ``q(z_i | x_i) = N(encoder(x_i))``; with
        ``size_gradient="score"`` and random sizes, the zero-valued factor of the size stage's score function."""
        loc, scale = self.encoder(x)
        posterior = self.partition_posterior(loc, scale, temperature=temperature)
        sampler = posterior.sampler if isinstance(posterior, PathDerivative) else posterior
        score_sizes = self.size_gradient == "score" and not isinstance(sampler, DeterministicSizesDRPM)
        with self._partition_scale():
            if score_sizes:
                # the exact DRPM sample, stage by stage: sizes with no path gradient, a straight-through ranking
                sizes = sampler.sizes.sample()
                perturbed = sampler.perturb_scores()
                partition = sampler.fill_subsets(sizes, perturbed)
                log_q = posterior.log_prob(partition)
                pyro.sample("partition", dist.Delta(partition, log_density=log_q, event_dim=2))
            else:
                pyro.sample("partition", posterior)
        with pyro.plate("data", x.shape[0]), poutine.scale(scale=self.beta):
            z = pyro.sample("z", dist.Normal(loc, scale).to_event(1))
        if score_sizes:
            surrogate = self.size_score_surrogate(posterior, sizes, perturbed, partition, log_q, z)
            pyro.factor("partition_sizes_score", surrogate, has_rsample=True)

    def size_score_surrogate(
        self,
        posterior,
        sizes: torch.Tensor,
        perturbed: torch.Tensor,
        partition: torch.Tensor,
        log_q: torch.Tensor,
        z: torch.Tensor,
    ) -> torch.Tensor:
        """``-(log q(n) - stop_gradient(log q(n))) * (l(n) - l(n_ref))``: zero in value, minus the score-function
        estimate of the size stage's ELBO gradient in its gradient (see the class docstring).

        :param posterior: the guide's ``q(Y | x)`` (a DRPM, or a :class:`~pyro_drpm.infer.PathDerivative` of one).
        :param sizes: the sampled subset sizes ``n``; ``partition = fill_subsets(sizes, perturbed)``.
        :param perturbed: the Gumbel-perturbed scores of the sample.
        :param partition: the sample ``Y``, and ``log_q = log q(Y | x)``.
        :param z: the guide's sample of the codes.
        """
        sampler = posterior.sampler if isinstance(posterior, PathDerivative) else posterior
        with torch.no_grad():
            reference_sizes = largest_remainder_round(sampler.sizes.mean, partition.shape[-1])
            reference = sampler.fill_subsets(reference_sizes, perturbed.detach())
            advantage = self._size_dependent_elbo(partition.detach(), log_q.detach(), z.detach())
            advantage = advantage - self._size_dependent_elbo(reference, posterior.log_prob(reference), z.detach())
        log_q_sizes = sampler.sizes.log_prob(sizes)
        return -(log_q_sizes - log_q_sizes.detach()) * advantage

    def _size_dependent_elbo(self, partition: torch.Tensor, log_q: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``gamma (log p(Y) - log q(Y)) + beta sum_i log N(z_i; mu_k(i), sigma_k(i)^2)``: the ELBO terms that
        change with the subset sizes when the ranking and ``z`` are fixed."""
        log_p = self.prior(partition.shape[-1]).log_prob(partition)
        latent = AssignedNormal(partition.to(self.locs.dtype), self.locs, self.cluster_scales).log_prob(z).sum(-1)
        return self.partition_weight * (log_p - log_q).to(latent.dtype) + self.beta * latent

    @torch.no_grad()
    def sample_partition(self, x: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
        """One exact sample of ``q(Y | x)`` for the set ``x``, as labels ``(B,)`` (subset index of each element)."""
        loc, scale = self.encoder(x)
        return self.partition_posterior(loc, scale, temperature=temperature).sample().argmax(-2)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """``argmax_k log N(E_q[z_i]; mu_k, sigma_k^2) + log w_k`` over the subsets in use (see :meth:`settle_`)."""
        return self.log_responsibilities(x).argmax(-1)
