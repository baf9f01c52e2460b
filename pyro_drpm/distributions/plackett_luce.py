"""The Plackett-Luce distribution over rankings, with a straight-through reparameterised sampler."""

from __future__ import annotations

import itertools
import math

import torch
from pyro.distributions import TorchDistribution

from pyro_drpm.distributions import constraints
from pyro_drpm.distributions._checks import check_event_shape, check_temperature, check_temperature_shape
from pyro_drpm.distributions._enumeration import batch_support, check_support_size
from pyro_drpm.ops import broadcast_vectors, gumbel_noise, reverse_logcumsumexp
from pyro_drpm.relaxations import RELAXED_SORTS
from pyro_drpm.relaxations.straight_through_sort import straight_through_sort

__all__ = [
    "PlackettLuce",
    "gumbel_perturbed_logits",
    "permutation_matrix_to_ranking",
    "ranking_to_permutation_matrix",
]


def ranking_to_permutation_matrix(ranking: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Turn rankings ``(..., n)`` (``ranking[r]`` = element at rank ``r``) into permutation matrices ``(..., n, n)``.

    Row ``r`` of the result is the one-hot of ``ranking[r]``.
    """
    n = ranking.shape[-1]
    return torch.nn.functional.one_hot(ranking.long(), n).to(dtype or torch.get_default_dtype())


def gumbel_perturbed_logits(logits: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """``logits`` expanded to ``shape`` plus Gumbel(0, 1) noise: sorted decreasingly, an exact Plackett-Luce draw.

    .. math::

        \tilde\\ell_i = \\ell_i + g_i, \\quad g_i \\sim \\mathrm{Gumbel}(0, 1), \\qquad
        \\pi = \\mathrm{argsort}(\tilde\\ell, \text{descending}) \\sim \\mathrm{PL}(e^{\\ell}).

    The one perturb step of every Plackett-Luce sampler here (this distribution's and the DRPM's); the
    straight-through samplers relax the same sort.

    Example::

        >>> gumbel_perturbed_logits(torch.zeros(3), torch.Size([2, 3])).shape
        torch.Size([2, 3])

    :param logits: log-scores ``(..., n)``, broadcastable to ``shape``.
    :param shape: the shape of the draw, ``sample_shape + batch_shape + (n,)``.
    :returns: the perturbed logits, dtype and device of ``logits``.

    Reference: Yellott, "The relationship between Luce's Choice Axiom, Thurstone's Theory of Comparative Judgment,
    and the double exponential distribution", J. Math. Psych. 15 (1977),
    https://doi.org/10.1016/0022-2496(77)90026-8.
    """
    return logits.expand(shape) + gumbel_noise(shape, logits)


def permutation_matrix_to_ranking(matrix: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`ranking_to_permutation_matrix`: the column of the 1 in every row, as ``long``."""
    return matrix.argmax(dim=-1)


class PlackettLuce(TorchDistribution):
    """Plackett-Luce distribution over rankings of ``n`` elements.

    **A sample** is a permutation matrix of shape ``batch_shape + (n, n)`` whose row ``r`` is the one-hot of the
    element placed at rank ``r`` (rank 0 = first, i.e. highest score). Use
    :func:`permutation_matrix_to_ranking` to get the ranking as an index vector.

    .. math::

        p(\\pi) = \\prod_{r=0}^{n-1} \\frac{s_{\\pi_r}}{\\sum_{q \\ge r} s_{\\pi_q}}, \\qquad
        \\log p(\\pi) = \\sum_r \\Big[\\ell_{\\pi_r} - \\log \\sum_{q \\ge r} e^{\\ell_{\\pi_q}}\\Big],

    with scores :math:`s_i = e^{\\ell_i}`. The log-probability is computed with a reversed ``logcumsumexp``, so it
    stays finite for float32 logits of magnitude 1e3 (TensorFlow Probability's version works in probability space
    and overflows there).

    **Sampling.** :meth:`sample` is exact: sort the Gumbel-perturbed logits in decreasing order. :meth:`rsample`
    returns the *same* exact hard permutation matrix in the forward pass and takes its gradient from a relaxed sort
    of the perturbed logits at ``temperature`` (straight-through). With ``hard=False`` it returns the relaxed,
    row-stochastic matrix itself; that value lies outside the support, so it is for use outside ``pyro.sample``
    (or with validation off) only.

    ``enumerate_support()`` lists all ``n!`` permutation matrices for ``n <= 8``. ``has_enumerate_support`` stays
    ``False`` on purpose: Pyro's enumeration would silently drop guide weights of a reparameterised site.

    Example::

        >>> d = PlackettLuce(torch.tensor([2.0, 0.0, -1.0]))
        >>> d.sample().shape
        torch.Size([3, 3])
        >>> d.log_prob(d.mode).exp() > 0.5
        tensor(True)

    :param logits: log-scores :math:`\\ell`, shape ``batch_shape + (n,)``; finite.
    :param temperature: positive temperature of the relaxed sort used by :meth:`rsample`.
    :param hard: if ``True`` (default) :meth:`rsample` is straight-through (exact forward value); if ``False`` it
        returns the relaxed matrix.
    :param relaxation: ``"neuralsort"`` (as in the DRPM paper) or ``"softsort"``; see
        :mod:`pyro_drpm.relaxations.sorting`.
    :param validate_args: as in ``torch.distributions``.

    References:
    [1] Plackett, "The Analysis of Permutations", Applied Statistics 24 (1975). [2] Luce, "Individual Choice
    Behavior" (1959). [3] Grover et al., "Stochastic Optimization of Sorting Networks via Continuous Relaxations",
    arXiv:1903.08850, https://arxiv.org/abs/1903.08850. [4] Prillo and Eisenschlos, "SoftSort",
    arXiv:2006.16038, https://arxiv.org/abs/2006.16038.
    """

    arg_constraints = {"logits": constraints.finite_real_vector}
    support = constraints.permutation_matrix
    has_rsample = True

    def __init__(
        self,
        logits: torch.Tensor,
        *,
        temperature: float | torch.Tensor = 1.0,
        hard: bool = True,
        relaxation: str = "neuralsort",
        validate_args: bool | None = None,
    ):
        logits = torch.as_tensor(logits)
        if not logits.is_floating_point():
            logits = logits.to(torch.get_default_dtype())
        if logits.dim() < 1 or logits.shape[-1] < 1:
            raise ValueError(
                f"PlackettLuce: `logits` must have shape (..., n) with n >= 1 elements, got {tuple(logits.shape)}"
            )
        if relaxation not in RELAXED_SORTS:
            raise ValueError(
                f"PlackettLuce: unknown `relaxation` {relaxation!r}; expected one of {sorted(RELAXED_SORTS)}"
            )
        self.logits = logits
        self.temperature = check_temperature_shape(temperature, "PlackettLuce")
        self.hard = bool(hard)
        self.relaxation = relaxation
        n = logits.shape[-1]
        super().__init__(logits.shape[:-1], torch.Size((n, n)), validate_args=validate_args)
        if self._validate_args:
            check_temperature(temperature, "PlackettLuce")

    @property
    def num_elements(self) -> int:
        return self.logits.shape[-1]

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(PlackettLuce, _instance)
        batch_shape = torch.Size(batch_shape)
        new.logits = self.logits.expand(batch_shape + self.logits.shape[-1:])
        new.temperature = self.temperature
        new.hard = self.hard
        new.relaxation = self.relaxation
        super(PlackettLuce, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @classmethod
    def infer_shapes(cls, logits, **_):
        return logits[:-1], logits[-1:] * 2

    def _perturbed_logits(self, sample_shape) -> torch.Tensor:
        return gumbel_perturbed_logits(self.logits, self._extended_shape(sample_shape)[:-1])

    def sample(self, sample_shape=torch.Size()):
        with torch.no_grad():
            perturbed = self._perturbed_logits(sample_shape)
            ranking = perturbed.argsort(dim=-1, descending=True)
            return ranking_to_permutation_matrix(ranking, self.logits.dtype)

    def rsample(self, sample_shape=torch.Size()):
        perturbed = self._perturbed_logits(sample_shape)
        if not self.hard:
            return RELAXED_SORTS[self.relaxation](perturbed, self.temperature)
        # the exact permutation matrix, with the relaxed sort's gradient computed in row chunks in the backward
        return straight_through_sort(perturbed, self.temperature, self.relaxation)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        value = torch.as_tensor(value, dtype=self.logits.dtype, device=self.logits.device)
        check_event_shape(value, self.event_shape, "PlackettLuce")
        valid = self.support.check(value)
        ranking = permutation_matrix_to_ranking(value)
        logits, ranking = broadcast_vectors(self.logits, ranking)
        ranked_logits = logits.gather(-1, ranking)
        log_prob = (ranked_logits - reverse_logcumsumexp(ranked_logits)).sum(-1)
        return torch.where(valid, log_prob, torch.full_like(log_prob, -math.inf))

    @property
    def mode(self):
        ranking = self.logits.argsort(dim=-1, descending=True)
        return ranking_to_permutation_matrix(ranking, self.logits.dtype)

    def enumerate_support(self, expand=True):
        n = self.num_elements
        check_support_size("PlackettLuce", math.factorial(n), f"n! rankings for n = {n}")
        rankings = torch.tensor(list(itertools.permutations(range(n))), device=self.logits.device)
        values = ranking_to_permutation_matrix(rankings, self.logits.dtype)
        return batch_support(values, self.batch_shape, self.event_shape, expand)
