"""The path-derivative ("sticking the landing") gradient estimator as a distribution wrapper."""

from __future__ import annotations

import torch
from pyro.distributions import TorchDistribution
from torch.distributions import constraints

__all__ = ["PathDerivative"]


class PathDerivative(TorchDistribution):
    """Samples from ``sampler``, log-densities from ``scorer``: one distribution, two gradient paths.

    In a guide, ``E_q[log p(z) - log q(z)]`` has the gradient of ``log q`` with respect to its parameters *at a
    fixed sample* as a term of expectation zero, which only adds variance. Roeder, Wu and Duvenaud [1] drop it:
    ``log q`` is differentiated through the reparameterised sample alone. Pass the guide's distribution as
    ``sampler`` and the same distribution built from detached parameters as ``scorer``:

    .. math::

        \\nabla \\log q_{\\bar\\phi}(z_\\phi(\\epsilon)), \\qquad \\bar\\phi = \\mathrm{stop\\_gradient}(\\phi).

    The scorer's log-density must be differentiable in its value (true of every reparameterised Pyro
    distribution and of :meth:`~pyro_drpm.distributions.DRPM.log_prob` for straight-through samples). Parameters
    that the scorer keeps undetached still get their direct term.

    Example::

        >>> loc = torch.zeros(3, requires_grad=True)
        >>> import pyro.distributions as dist
        >>> q = PathDerivative(dist.Normal(loc, 1.0).to_event(1), dist.Normal(loc.detach(), 1.0).to_event(1))
        >>> z = q.rsample()
        >>> q.log_prob(z).shape, q.event_shape
        (torch.Size([]), torch.Size([3]))

    :param sampler: the distribution whose (reparameterised) samples are used.
    :param scorer: the same distribution with the parameters whose direct gradient is dropped detached; it
        must have the sampler's batch and event shapes.

    References:
    [1] Roeder, Wu, Duvenaud, "Sticking the Landing: Simple, Lower-Variance Gradient Estimators for Variational
    Inference", NeurIPS 2017, https://arxiv.org/abs/1703.09194.
    """

    arg_constraints = {}

    def __init__(self, sampler: TorchDistribution, scorer: TorchDistribution, *, validate_args=None):
        if sampler.batch_shape != scorer.batch_shape or sampler.event_shape != scorer.event_shape:
            raise ValueError(
                "PathDerivative: `scorer` must have the batch and event shapes of `sampler`, got "
                f"{tuple(scorer.batch_shape)} / {tuple(scorer.event_shape)} and "
                f"{tuple(sampler.batch_shape)} / {tuple(sampler.event_shape)}"
            )
        self.sampler, self.scorer = sampler, scorer
        super().__init__(sampler.batch_shape, sampler.event_shape, validate_args=False)

    @property
    def has_rsample(self) -> bool:
        return self.sampler.has_rsample

    @constraints.dependent_property
    def support(self):
        return self.sampler.support

    def expand(self, batch_shape, _instance=None):
        return PathDerivative(self.sampler.expand(batch_shape), self.scorer.expand(batch_shape))

    def rsample(self, sample_shape=torch.Size()):
        return self.sampler.rsample(sample_shape)

    def sample(self, sample_shape=torch.Size()):
        return self.sampler.sample(sample_shape)

    def log_prob(self, value):
        return self.scorer.log_prob(value)
