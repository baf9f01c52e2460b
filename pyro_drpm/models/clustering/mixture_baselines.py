"""Deep mixture baselines for DRPM-VC: an i.i.d. categorical mixture (VaDE-style) and a truncated
stick-breaking Dirichlet-process mixture, both as Pyro model/guide pairs over the same encoder and decoder.

Both put the mixture on the latent code and marginalise the cluster indicator ``c_i`` exactly
(``MixtureSameFamily``), so a single-sample ``Trace_ELBO`` is an honest estimate of

.. math::

    \\mathcal{L}(x) = \\sum_i \\mathbb{E}_{q(z_i|x_i)}\\big[\\log p(x_i|z_i)\\big]
        - \\beta \\sum_i \\mathbb{E}_{q(z_i|x_i)}\\Big[\\log q(z_i|x_i)
        - \\log \\textstyle\\sum_k \\pi_k \\mathcal{N}(z_i; \\mu_k, \\sigma_k^2)\\Big]
        \\;\\big[-\\, \\tfrac{B}{N} \\mathrm{KL}(q(v) \\| p(v))\\big]

(the last term for the Dirichlet process only). With ``beta = 1`` this is the VaDE bound with the optimal
``q(c | z)`` (Jiang et al. 2017); it differs from DRPM-VC only in the prior over assignments:

- :class:`IIDMixtureVAE`: ``c_i ~ Categorical(pi)`` i.i.d. with learned weights ``pi`` (a point estimate);
- :class:`StickBreakingMixtureVAE`: ``pi = stick(v)``, ``v_t ~ Beta(1, alpha)``, ``t < T`` (truncation ``T``),
  mean-field ``q(v_t) = Beta(a_t, b_t)`` (Blei and Jordan 2006), trained by SVI on mini-batches as in Pyro's
  Dirichlet-process mixture tutorial; the global KL is counted once per pass over the data (scale ``B / N``).

Example::

    >>> from pyro_drpm.nn import MLPDecoder, MLPEncoder
    >>> vade = IIDMixtureVAE(MLPEncoder(6, 2, (8,)), MLPDecoder(2, 6, (8,)), n_components=3)
    >>> loss = pyro.infer.Trace_ELBO().differentiable_loss(vade.model, vade.guide, torch.rand(5, 6))
    >>> loss.shape
    torch.Size([])

References:
[1] Jiang, Zheng, Tan, Tang, Zhou, "Variational Deep Embedding", arXiv:1611.05148.
[2] Blei and Jordan, "Variational Inference for Dirichlet Process Mixtures", Bayesian Analysis 1 (2006).
[3] Sethuraman, "A Constructive Definition of Dirichlet Priors", Statistica Sinica 4 (1994).
"""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.nn import pyro_method
from torch import nn

from pyro_drpm.models.clustering.base import LatentClusteringModel
from pyro_drpm.models.clustering.initialisation import MixtureInit
from pyro_drpm.nn import MLPDecoder, MLPEncoder

__all__ = ["IIDMixtureVAE", "StickBreakingMixtureVAE", "stick_breaking_log_weights"]


def stick_breaking_log_weights(v: torch.Tensor) -> torch.Tensor:
    """Log weights of ``T`` sticks from ``T - 1`` break fractions ``v``: ``pi_t = v_t prod_{j<t} (1 - v_j)``.

    The last weight takes the remainder ``prod_j (1 - v_j)``, so the weights sum to one.
    """
    log_v = torch.log(v)
    log_rest = torch.log1p(-v)
    cumulative = torch.nn.functional.pad(torch.cumsum(log_rest, -1), (1, 0))
    return torch.nn.functional.pad(log_v, (0, 1)) + cumulative


class _MarginalisedMixtureVAE(LatentClusteringModel):
    """Shared model/guide: ``z_i ~ sum_k pi_k N(mu_k, sigma_k^2)``, ``x_i ~ p(x | z_i)``, ``q(z_i | x_i)``."""

    def _latent_prior(self, log_weights: torch.Tensor) -> dist.Distribution:
        if self.covariance == "diagonal":
            components = dist.Normal(self.locs, self.scales).to_event(1)
        else:
            components = dist.MultivariateNormal(self.locs, scale_tril=self.cluster_scales)
        return dist.MixtureSameFamily(dist.Categorical(logits=log_weights), components)

    def _local_model(self, x: torch.Tensor, log_weights: torch.Tensor) -> None:
        with pyro.plate("data", x.shape[0]):
            with poutine.scale(scale=self.beta):
                z = pyro.sample("z", self._latent_prior(log_weights))
            pyro.sample("x", self.decoder.distribution(z), obs=x)

    def _local_guide(self, x: torch.Tensor) -> None:
        loc, scale = self.encoder(x)
        with pyro.plate("data", x.shape[0]), poutine.scale(scale=self.beta):
            pyro.sample("z", dist.Normal(loc, scale).to_event(1))


class IIDMixtureVAE(_MarginalisedMixtureVAE):
    """VaDE-style deep clustering: i.i.d. cluster indicators with learned mixing weights, marginalised exactly.

    Model: ``c_i ~ Categorical(softmax(w))``, ``z_i | c_i ~ N(mu_c, sigma_c^2)``, ``x_i | z_i ~`` decoder
    likelihood; guide: ``q(z_i | x_i)`` from the encoder. ``mu``, ``sigma`` and ``w`` are point estimates
    initialised from a Gaussian mixture fitted to the pretrained embedding (:meth:`init_from_mixture`).
    Prediction: ``argmax_k pi_k N(E_q[z_i]; mu_k, sigma_k^2)``.

    :param encoder: see :class:`~pyro_drpm.models.clustering.base.LatentClusteringModel`.
    :param decoder: see :class:`~pyro_drpm.models.clustering.base.LatentClusteringModel`.
    :param n_components: see :class:`~pyro_drpm.models.clustering.base.LatentClusteringModel`.
    :param beta: see :class:`~pyro_drpm.models.clustering.base.LatentClusteringModel`.
    :param covariance: see :class:`~pyro_drpm.models.clustering.base.LatentClusteringModel`.
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
        super().__init__(encoder, decoder, n_components, beta=beta, covariance=covariance)
        self.weight_logits = nn.Parameter(torch.zeros(n_components))

    def log_weights(self) -> torch.Tensor:
        return torch.log_softmax(self.weight_logits, -1)

    def init_from_mixture(self, mixture: MixtureInit) -> None:
        super().init_from_mixture(mixture)
        with torch.no_grad():
            self.weight_logits.copy_(mixture.weights.clamp(min=1e-6).log())

    @pyro_method
    def model(self, x: torch.Tensor) -> None:
        self._local_model(x, self.log_weights())

    @pyro_method
    def guide(self, x: torch.Tensor) -> None:
        self._local_guide(x)


class StickBreakingMixtureVAE(_MarginalisedMixtureVAE):
    """Deep clustering with a truncated stick-breaking Dirichlet-process mixture prior in the latent space.

    Model: ``v_t ~ Beta(1, alpha)`` for ``t = 1..T-1``, ``pi = stick(v)``, ``z_i ~ sum_t pi_t N(mu_t, sigma_t^2)``
    (indicator marginalised), ``x_i | z_i ~`` decoder likelihood. Guide: ``q(v_t) = Beta(a_t, b_t)`` and the
    encoder's ``q(z_i | x_i)``. ``mu_t, sigma_t`` are point estimates. On a mini-batch of ``B`` out of
    ``dataset_size`` points the stick sites are scaled by ``B / dataset_size`` so that one epoch counts the
    global KL once. Prediction: ``argmax_t E_q[pi_t] N(E_q[z_i]; mu_t, sigma_t^2)``; the number of clusters
    found is the number of components that receive at least one point.

    :param n_components: truncation level ``T``.
    :param concentration: the DP concentration ``alpha`` (larger: more clusters a priori).
    :param dataset_size: number of points in the training set (for the ``B / N`` scaling).
    :param covariance: see :class:`~pyro_drpm.models.clustering.base.LatentClusteringModel`.
    """

    def __init__(
        self,
        encoder: MLPEncoder,
        decoder: MLPDecoder,
        n_components: int,
        *,
        beta: float = 1.0,
        concentration: float = 1.0,
        dataset_size: int | None = None,
        covariance: str = "diagonal",
    ):
        super().__init__(encoder, decoder, n_components, beta=beta, covariance=covariance)
        if n_components < 2:
            raise ValueError(f"the stick-breaking mixture needs a truncation >= 2, got {n_components}")
        if not concentration > 0:
            raise ValueError(f"concentration must be positive, got {concentration}")
        self.concentration = float(concentration)
        self.dataset_size = dataset_size
        # q(v_t) = Beta(exp(a_t), exp(b_t)), initially the prior Beta(1, alpha)
        self.stick_log_a = nn.Parameter(torch.zeros(n_components - 1))
        self.stick_log_b = nn.Parameter(torch.full((n_components - 1,), math.log(concentration)))

    def _stick_posterior(self) -> dist.Beta:
        return dist.Beta(self.stick_log_a.exp(), self.stick_log_b.exp())

    def log_weights(self) -> torch.Tensor:
        """``log E_q[pi_t]`` (the sticks are independent under ``q``, so the expectation factorises)."""
        q = self._stick_posterior()
        return stick_breaking_log_weights(q.mean)

    def init_from_mixture(self, mixture: MixtureInit) -> None:
        """Means and scales from ``mixture``; ``q(v)`` set to the coordinate-ascent update of Blei and Jordan
        for the mixture's weights: ``a_t = 1 + N_t``, ``b_t = alpha + sum_{j > t} N_j``, ``N_t = N pi_t``."""
        super().init_from_mixture(mixture)
        n = float(self.dataset_size or 1)
        counts = mixture.weights * n
        # sort clusters by decreasing weight: stick-breaking favours heavy components first
        order = torch.argsort(counts, descending=True)
        with torch.no_grad():
            self.locs.copy_(self.locs[order].clone())
            self.log_scales.copy_(self.log_scales[order].clone())
            if self.covariance == "full":
                self.scale_tril_lower.copy_(self.scale_tril_lower[order].clone())
            counts = counts[order]
            tail = counts.flip(0).cumsum(0).flip(0)[1:]  # sum_{j > t} N_j, for t = 0..T-2
            self.stick_log_a.copy_((1.0 + counts[:-1]).log())
            self.stick_log_b.copy_((self.concentration + tail).log())

    def _sticks(self, x: torch.Tensor, sample_fn) -> torch.Tensor:
        scale = x.shape[0] / self.dataset_size if self.dataset_size else 1.0
        with pyro.plate("sticks", self.n_components - 1), poutine.scale(scale=scale):
            return sample_fn()

    @pyro_method
    def model(self, x: torch.Tensor) -> None:
        ones = self.locs.new_ones(self.n_components - 1)
        prior = dist.Beta(ones, ones * self.concentration)
        v = self._sticks(x, lambda: pyro.sample("v", prior))
        self._local_model(x, stick_breaking_log_weights(v))

    @pyro_method
    def guide(self, x: torch.Tensor) -> None:
        self._sticks(x, lambda: pyro.sample("v", self._stick_posterior()))
        self._local_guide(x)
