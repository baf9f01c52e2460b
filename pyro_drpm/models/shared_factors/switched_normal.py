"""A Normal whose parameters switch, entry by entry, between two settings under a (straight-through) 0/1 mask."""

from __future__ import annotations

import pyro.distributions as dist
import torch
from pyro.distributions import TorchDistribution
from torch.distributions import constraints

__all__ = ["SwitchedNormal"]


class SwitchedNormal(TorchDistribution):
    """``N(loc_on, scale_on)`` where ``mask = 1`` and ``N(loc_off, scale_off)`` where ``mask = 0``, elementwise.

    .. math::

        \\log p(z) = m \\log \\mathcal N(z; \\mu_{\\mathrm{on}}, \\sigma_{\\mathrm{on}}^2)
        + (1 - m) \\log \\mathcal N(z; \\mu_{\\mathrm{off}}, \\sigma_{\\mathrm{off}}^2),
        \\qquad z = m (\\mu_{\\mathrm{on}} + \\sigma_{\\mathrm{on}} \\varepsilon)
        + (1 - m) (\\mu_{\\mathrm{off}} + \\sigma_{\\mathrm{off}} \\varepsilon).

    For a 0/1 mask both are exact. The expressions are linear in ``m``, so when the mask is a straight-through
    sample its gradient is the *difference* between the two settings (of the log-density and of the sample), the
    contrast a discrete choice between them needs, not the derivative of one setting's parameters.

    Example::

        >>> d = SwitchedNormal(torch.tensor([1.0, 0.0]), torch.zeros(2), torch.ones(2), torch.full((2,), 5.0),
        ...                    torch.ones(2))
        >>> d.log_prob(torch.tensor([0.0, 5.0])).tolist() == dist.Normal(0.0, 1.0).log_prob(torch.zeros(2)).tolist()
        True

    :param mask: ``1.0`` where the ``on`` parameters apply, ``0.0`` where the ``off`` ones do.
    :param loc_on: mean where ``mask = 1``.
    :param scale_on: standard deviation where ``mask = 1``, positive.
    :param loc_off: mean where ``mask = 0``.
    :param scale_off: standard deviation where ``mask = 0``, positive.
    """

    arg_constraints = {
        "mask": constraints.unit_interval,
        "loc_on": constraints.real,
        "scale_on": constraints.positive,
        "loc_off": constraints.real,
        "scale_off": constraints.positive,
    }
    support = constraints.real
    has_rsample = True

    def __init__(self, mask, loc_on, scale_on, loc_off, scale_off, *, validate_args=None):
        self.mask, self.loc_on, self.scale_on, self.loc_off, self.scale_off = torch.broadcast_tensors(
            mask, loc_on, scale_on, loc_off, scale_off
        )
        super().__init__(self.mask.shape, torch.Size(), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(SwitchedNormal, _instance)
        batch_shape = torch.Size(batch_shape)
        for name in ("mask", "loc_on", "scale_on", "loc_off", "scale_off"):
            setattr(new, name, getattr(self, name).expand(batch_shape))
        super(SwitchedNormal, new).__init__(batch_shape, torch.Size(), validate_args=False)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape=torch.Size()):
        shape = self._extended_shape(sample_shape)
        noise = torch.randn(shape, dtype=self.loc_on.dtype, device=self.loc_on.device)
        on = self.loc_on + self.scale_on * noise
        off = self.loc_off + self.scale_off * noise
        return self.mask * on + (1 - self.mask) * off

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        on = dist.Normal(self.loc_on, self.scale_on).log_prob(value)
        off = dist.Normal(self.loc_off, self.scale_off).log_prob(value)
        return self.mask * on + (1 - self.mask) * off
