"""The DRPM shared-factors VAE: the split of the latent dimensions into shared and independent is a DRPM latent."""

from __future__ import annotations

import pyro
import torch
from torch import nn

from pyro_drpm.distributions import DRPM
from pyro_drpm.models.shared_factors.base import PairedVAE, check_views, posterior_divergence
from pyro_drpm.partitions import AmortisedDRPM, DRPMPrior, ElementScores, PartitionPrior

__all__ = ["SharedFactorsVAE", "divergence_features", "most_probable_two_subset_partition"]

SHARED, INDEPENDENT = 0, 1  # the rows of the partition: subset 1 (top-ranked dimensions) is the shared one


def divergence_features(posterior1, posterior2) -> torch.Tensor:
    """Per-dimension features ``(B, d, 2)`` of a pair for the partition guide.

    The symmetrised divergence :math:`\\bar\\delta_j = (\\mathrm{KL}(q_{1j} \\| q_{2j}) + \\mathrm{KL}(q_{2j} \\|
    q_{1j})) / 2` as ``log(1 + delta_j)``, and its position ``(delta_j - min delta) / (max delta - min delta)``
    within the pair (the quantity Ada-VAE thresholds at one half).

    Example::

        >>> post = torch.zeros(4, 3), torch.ones(4, 3)
        >>> divergence_features(post, post).shape
        torch.Size([4, 3, 2])
    """
    (loc1, scale1), (loc2, scale2) = posterior1, posterior2
    delta = (posterior_divergence(loc1, scale1, loc2, scale2) + posterior_divergence(loc2, scale2, loc1, scale1)) / 2
    delta = delta.clamp(min=0)  # exact KLs are >= 0; the clamp removes rounding below zero
    low, high = delta.min(-1, keepdim=True).values, delta.max(-1, keepdim=True).values
    tiny = torch.finfo(delta.dtype).tiny
    relative = (delta - low) / (high - low).clamp(min=tiny)
    return torch.stack([delta.log1p(), relative], -1)


def most_probable_two_subset_partition(q: DRPM) -> torch.Tensor:
    """The exact mode of a DRPM with ``K = 2`` subsets, shape ``batch_shape + (2, n)``.

    Given its size :math:`n_1`, the most probable first subset is the :math:`n_1` elements of highest score:
    swapping a member ``i`` for a non-member ``j`` with :math:`s_j > s_i` multiplies the exponential-race
    density of every ranking in the event by :math:`e^{(s_j - s_i)(t_j - t_i)} \\ge 1`. So the mode is the best
    of the ``n + 1`` candidates "top :math:`n_1` scores first", compared with the exact :meth:`DRPM.log_prob`.

    Example::

        >>> q = DRPM(torch.tensor([0.0, 0.0]), torch.tensor([3.0, -3.0, 2.0]))
        >>> most_probable_two_subset_partition(q)[0]
        tensor([1., 0., 1.])
    """
    if q.num_subsets != 2:
        raise ValueError(f"expected a DRPM with 2 subsets, got {q.num_subsets}")
    n = q.num_elements
    with torch.no_grad():
        rank = q.score_logits.argsort(-1, descending=True).argsort(-1)
        sizes = torch.arange(n + 1, device=rank.device).reshape((n + 1,) + (1,) * rank.dim())
        first = rank.unsqueeze(0) < sizes  # (n + 1, *batch, n)
        candidates = torch.stack([first, ~first], -2).to(q.score_logits.dtype)
        best = q.log_prob(candidates).argmax(0)  # (*batch,)
        index = best.reshape((1,) + best.shape + (1, 1)).expand((1,) + candidates.shape[1:])
        return candidates.gather(0, index).squeeze(0)


class SharedFactorsVAE(PairedVAE):
    """Paired VAE whose split of the latent dimensions into shared and independent ones is a DRPM latent.

    The model of :class:`~pyro_drpm.models.shared_factors.base.PairedVAE` with the mask drawn from a prior over
    partitions of the ``d`` latent dimensions into ``K = 2`` subsets, row 0 the shared dimensions and row 1 the
    independent ones:

    .. math::

        Y \\sim p(Y), \\quad m = Y_{0\\cdot}, \\qquad q(Y \\mid x_1, x_2) =
        \\mathrm{DRPM}\\big(\\omega(x_1, x_2), s(x_1, x_2)\\big),

    the guide amortised on both views: a per-dimension network maps :func:`divergence_features` to the scores
    :math:`\\log s_j = -e^{c} \\log(1 + \\bar\\delta_j) + f(\\text{features}_j)` (a learned skip term that ranks
    similar dimensions first, plus a correction), and a Deep Sets network (mean of a per-dimension embedding)
    maps them to the two size logits, i.e. how many dimensions the pair shares. The partition site is sampled
    with the DRPM's straight-through ``rsample`` and scored with its exact ``log_prob`` in both model and guide,
    so ``Trace_ELBO`` trains everything end to end (``temperature``: keyword of :meth:`model` and :meth:`guide`).

    :meth:`shared_mask` returns the guide's most probable partition
    (:func:`most_probable_two_subset_partition`, exact), or a sample of it with ``sample=True``.

    Example::

        >>> vae = SharedFactorsVAE(8, 4, hidden_dims=(16,))
        >>> x1, x2 = torch.randn(3, 8), torch.randn(3, 8)
        >>> trace = pyro.poutine.trace(vae.guide).get_trace(x1, x2)
        >>> trace.nodes["partition"]["value"].shape, vae.shared_mask(x1, x2).shape
        (torch.Size([3, 2, 4]), torch.Size([3, 4]))

    :param input_dim: the dimension of one observation.
    :param latent_dim: the number of latent dimensions ``d`` (at least 2).
    :param prior: the prior over partitions (default :class:`~pyro_drpm.partitions.DRPMPrior` with 2 subsets and
        learned size logits); must have 2 subsets.
    :param partition_hidden: width of the partition guide's per-dimension networks.
    :param options: ``hidden_dims``, ``likelihood`` and ``copy_scale``, as in
        :class:`~pyro_drpm.models.shared_factors.base.PairedVAE`.

    References:
    [1] Sutter, Ryser, Liebeskind, Vogt, "Differentiable Random Partition Models", NeurIPS 2023,
    arXiv:2305.16841, https://arxiv.org/abs/2305.16841.
    [2] Locatello, Poole, Raetsch, Schoelkopf, Bachem, Tschannen, "Weakly-Supervised Disentanglement Without
    Compromises", ICML 2020, arXiv:2002.02886, https://arxiv.org/abs/2002.02886.
    """

    def __init__(
        self,
        input_dim: int,
        latent_dim: int,
        *,
        prior: PartitionPrior | None = None,
        partition_hidden: int = 32,
        **options,
    ):
        super().__init__(input_dim, latent_dim, **options)
        prior = DRPMPrior(2) if prior is None else prior
        if getattr(prior, "num_subsets", None) != 2:
            raise ValueError(f"prior must be a PartitionPrior with 2 subsets, got {prior!r}")
        self.prior = prior
        num_features = 2
        embedding = nn.Sequential(nn.Linear(num_features, partition_hidden), nn.ReLU())
        size_net = nn.Sequential(embedding, _MeanOverDimensions(), nn.Linear(partition_hidden, 2))
        score_net = _SkipScores(ElementScores(nn.Sequential(embedding, nn.Linear(partition_hidden, 1))))
        self.partition_guide = AmortisedDRPM(size_net, score_net)

    def model_mask(self, x1, x2, *, temperature: float = 1.0) -> torch.Tensor:
        pyro.module("prior", self.prior)
        partition = pyro.sample("partition", self.prior(self.latent_dim, temperature=temperature))
        return partition[..., SHARED, :]

    def guide_mask(self, x1, x2, posteriors, *, temperature: float = 1.0) -> torch.Tensor:
        pyro.module("partition_guide", self.partition_guide)
        q = self.partition_guide(divergence_features(*posteriors), temperature=temperature)
        return pyro.sample("partition", q)[..., SHARED, :]

    def partition_posterior(self, x1: torch.Tensor, x2: torch.Tensor, *, temperature: float = 1.0) -> DRPM:
        """The guide's ``q(Y | x1, x2)``, batch shape ``(B,)``, event shape ``(2, d)`` (row 0: shared)."""
        check_views(x1, x2, self.input_dim)
        return self.partition_guide(divergence_features(self.encoder(x1), self.encoder(x2)), temperature=temperature)

    @torch.no_grad()
    def shared_mask(self, x1: torch.Tensor, x2: torch.Tensor, *, sample: bool = False) -> torch.Tensor:
        """``(B, d)`` boolean: the shared dimensions of the guide's most probable partition (or of a sample)."""
        q = self.partition_posterior(x1, x2)
        partition = q.sample() if sample else most_probable_two_subset_partition(q)
        return partition[..., SHARED, :] > 0.5


class _MeanOverDimensions(nn.Module):
    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features.mean(-2)


class _SkipScores(nn.Module):
    """``log s_j = -exp(c) log(1 + delta_j) + net(features_j)``: similar dimensions rank first from the start."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.log_scale = nn.Parameter(torch.zeros(()))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return -self.log_scale.exp() * features[..., 0] + self.net(features)
