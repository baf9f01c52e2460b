"""Two special cases of the DRPM with a cheaper exact ``log_prob``: equal scores, and deterministic sizes.

Both are :class:`~pyro_drpm.distributions.DRPM` subclasses that sample exactly as the DRPM does and differ only
in how ``log_prob`` is computed; the value is the same to rounding.
"""

from __future__ import annotations

import math

import torch

from pyro_drpm.distributions import DRPM, UrnPlanCache
from pyro_drpm.distributions.ordered_blocks import log_prob_ordered_blocks

__all__ = ["DeterministicSizesDRPM", "ExchangeableDRPM"]


class ExchangeableDRPM(DRPM):
    """A DRPM whose score logits are all equal (given as zeros ``(n,)``): a uniformly random ranking.

    Every ranking is equally likely, so the ordered-blocks probability has the closed form

    .. math::

        \\log p(Y) = \\log p_{\\mathrm{MVHG}}(\\mathbf n) + \\sum_k \\log n_k! - \\log n!,

    with no quadrature (the general DRPM integrates each block's race numerically). The gradient in a
    straight-through value reaches the sizes through :math:`\\log \\Gamma(n_k + 1)`.

    Example::

        >>> d = ExchangeableDRPM(torch.zeros(2), torch.zeros(3))
        >>> Y = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
        >>> bool(torch.isclose(d.log_prob(Y), DRPM(torch.zeros(2), torch.zeros(3)).log_prob(Y)))
        True

    Arguments as for :class:`~pyro_drpm.distributions.DRPM`, with ``score_logits`` all equal (not checked), and
    ``plan_cache``: an :class:`~pyro_drpm.distributions.UrnPlanCache` for the size stage's ``log_prob`` (see
    :class:`~pyro_drpm.distributions.MultivariateNoncentralHypergeometric`), which a prior keeps across steps.
    """

    def __init__(self, size_logits, score_logits, *, plan_cache: UrnPlanCache | None = None, **kwargs):
        self.plan_cache = plan_cache
        super().__init__(size_logits, score_logits, **kwargs)

    def expand(self, batch_shape, _instance=None):
        new = super().expand(batch_shape, _instance=self._get_checked_instance(ExchangeableDRPM, _instance))
        new.plan_cache = self.plan_cache
        return new

    def log_prob(self, value):
        valid, _, sizes = self._prepare(value)
        n = torch.tensor(float(self.num_elements), dtype=sizes.dtype, device=sizes.device)
        log_prob = self.sizes.log_prob(sizes) + torch.lgamma(sizes + 1).sum(-1) - torch.lgamma(n + 1)
        return torch.where(valid, log_prob, torch.full_like(log_prob, -math.inf))


class DeterministicSizesDRPM(DRPM):
    """A DRPM whose urn holds exactly ``n`` balls (``class_sizes`` summing to ``n``): the sizes are the urn.

    The size stage has one outcome, so :math:`\\log p(\\mathbf n) = 0` on the support and ``log_prob`` is the
    ordered-blocks term alone (``-inf`` where the row sums differ from ``class_sizes``).

    Example::

        >>> d = DeterministicSizesDRPM(torch.zeros(2), torch.randn(3), class_sizes=torch.tensor([2.0, 1.0]))
        >>> Y = d.sample()
        >>> Y.sum(-1).tolist(), bool(torch.isclose(d.log_prob(Y), DRPM(d.size_logits, d.score_logits,
        ...     class_sizes=d.class_sizes).log_prob(Y)))
        ([2.0, 1.0], True)

    Arguments as for :class:`~pyro_drpm.distributions.DRPM`; ``class_sizes`` is required and must sum to ``n``.
    """

    def __init__(
        self,
        size_logits,
        score_logits,
        *,
        temperature=1.0,
        hard=True,
        relaxation="neuralsort",
        class_sizes=None,
        validate_args=None,
    ):
        if class_sizes is None:
            raise ValueError("DeterministicSizesDRPM: `class_sizes` (summing to n) is required")
        super().__init__(
            size_logits,
            score_logits,
            temperature=temperature,
            hard=hard,
            relaxation=relaxation,
            class_sizes=class_sizes,
            validate_args=validate_args,
        )
        if not bool((self.class_sizes.sum(-1) == self.num_elements).all()):
            raise ValueError(
                f"DeterministicSizesDRPM: `class_sizes` must sum to n = {self.num_elements}, "
                f"got {self.class_sizes.sum(-1)}"
            )

    def expand(self, batch_shape, _instance=None):
        return super().expand(batch_shape, _instance=self._get_checked_instance(DeterministicSizesDRPM, _instance))

    def rsample(self, sample_shape=torch.Size()):
        """As :meth:`DRPM.rsample <pyro_drpm.distributions.DRPM.rsample>`, without drawing the sizes: they are
        ``class_sizes``, so the straight-through sample is ``fill_subsets(class_sizes, perturb_scores())``
        (the MVHG draw of the one possible outcome cost about half of the sample's time at ``n = 256``)."""
        sample_shape = torch.Size(sample_shape)
        if self.num_subsets == 1:  # the one partition with one subset: every element in it
            shape = sample_shape + self.batch_shape + self.event_shape
            return torch.ones(shape, dtype=self.score_logits.dtype, device=self.score_logits.device)
        if not self.hard:
            return super().rsample(sample_shape)
        sizes = self.class_sizes.expand(sample_shape + self.class_sizes.shape)
        return self.fill_subsets(sizes, self.perturb_scores(sample_shape))

    def log_prob(self, value):
        valid, assignment, sizes = self._prepare(value)
        valid = valid & (sizes.detach() == self.class_sizes).all(-1)
        log_prob = log_prob_ordered_blocks(self.score_logits, assignment)
        return torch.where(valid, log_prob, torch.full_like(log_prob, -math.inf))
