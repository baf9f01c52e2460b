"""A DRPM splits a shared representation's units among the tasks, one partition per input."""

from __future__ import annotations

from collections.abc import Sequence
from copy import deepcopy

import torch
from torch import nn

from pyro_drpm.distributions import DRPM
from pyro_drpm.infer.schedules import ConstantSchedule, ExponentialSchedule, Schedule
from pyro_drpm.models.multitask.base import MultitaskNet
from pyro_drpm.partitions import AmortisedDRPM, largest_remainder_round

__all__ = [
    "PAPER_REGULARIZATION",
    "PAPER_TEMPERATURE",
    "PARTITION_INPUTS",
    "PartitionedMultitaskNet",
    "central_partition",
]

#: The weight of the size regulariser in the DRPM paper's multitask code (``regularization_weight``).
PAPER_REGULARIZATION = 0.015
#: What feeds the size and score logits when ``partition_net`` is not a module: ``"copy"``, a second network
#: of the encoder's architecture with its own weights (as the paper's code does), or ``"features"``, the
#: encoder's own output.
PARTITION_INPUTS = ("copy", "features")
#: The paper's temperature annealing (exponential from 1 to 0.5), the default schedule.
PAPER_TEMPERATURE = ExponentialSchedule(1.0, 0.5)


def _reinitialised_copy(module: nn.Module) -> nn.Module:
    copy = deepcopy(module)
    for submodule in copy.modules():
        if callable(getattr(submodule, "reset_parameters", None)):
            submodule.reset_parameters()
    return copy


def central_partition(distribution: DRPM) -> torch.Tensor:
    r"""A deterministic partition at the centre of a DRPM: the mean sizes, rounded, filled in score order.

    The sizes are the MVHG's mean :math:`\mathbb{E}[\mathbf{n}]` rounded to integers that still sum to ``n``
    (largest remainders), and the units are ranked by their score logits without Gumbel noise (the
    Plackett-Luce mode), so subset 1 takes the :math:`n_1` highest-scoring units, and so on. It is not the
    DRPM's mode in general; it is the partition a network evaluates with when it should not be random.

    Example::

        >>> central_partition(DRPM(torch.zeros(2), torch.tensor([0.0, 3.0, 1.0, 2.0])))
        tensor([[0., 1., 0., 1.],
                [1., 0., 1., 0.]])

    :param distribution: a DRPM of batch shape ``batch_shape``.
    :returns: a 0/1 assignment matrix of shape ``batch_shape + (K, n)``, without gradient.
    """
    num_subsets, n = distribution.event_shape
    with torch.no_grad():
        counts = largest_remainder_round(distribution.sizes.mean, n).long()
        ranking = distribution.score_logits.argsort(dim=-1, descending=True)  # ranking[r] = unit at rank r
        rank = torch.arange(n, device=counts.device).expand(ranking.shape).contiguous()
        block_of_rank = torch.searchsorted(counts.cumsum(-1), rank, right=True)
        block = torch.empty_like(block_of_rank).scatter_(-1, ranking, block_of_rank)
        one_hot = torch.nn.functional.one_hot(block, num_subsets)
        return one_hot.transpose(-1, -2).to(distribution.score_logits.dtype)


class PartitionedMultitaskNet(MultitaskNet):
    """Multitask learning with a DRPM: every input's ``n_units`` features are partitioned among the ``T`` tasks.

    **The partition** of an input ``x`` is a DRPM sample ``Y`` of shape ``(T, n_units)`` [1]: the subset sizes
    from an MVHG with size logits :math:`\\log\\omega(x)`, the units ranked by a Plackett-Luce draw with score
    logits :math:`\\log s(x)` and handed out in rank order (task 1 the top :math:`n_1` units, ...). Both sets of
    logits are linear maps (an :class:`~pyro_drpm.partitions.AmortisedDRPM`) of :math:`g(x)`, the output of a
    *partition network*: by default a second network of the encoder's architecture with its own weights (as in
    the paper's code); ``partition_net="features"`` reads the encoder's own features instead, which lets the
    partition's gradients reshape the features the heads use (on the tutorial's noisy digits that cost the
    noisy task accuracy; see the tutorial). Head ``t`` sees only task ``t``'s units, rescaled as in
    :class:`~pyro_drpm.models.multitask.base.MultitaskNet`:

    .. math::

        Y \\sim \\mathrm{DRPM}(W_\\omega g(x) + b_\\omega,\\ W_s g(x) + b_s), \\qquad
        \\hat y_t = \\mathrm{head}_t\\Big(\\frac{n}{\\max(n_t, 1)}\\, f(x) \\odot Y_t\\Big), \\qquad
        \\mathcal{L} = \\sum_t \\ell_t(\\hat y_t, y_t)
          + \\lambda\\, \\frac{1}{B} \\sum_b \\sum_t \\log \\Gamma(n_{bt} + 1).

    The last term is :meth:`regularizer` (``regularization`` :math:`=\\lambda`, 0.015 in the paper's code); for a
    fixed total it is smallest for equal sizes.

    **Sampling and gradients.** ``Y`` is ``DRPM.rsample``: an exact 0/1 partition in the forward pass (every unit
    in exactly one task), straight-through gradients to the size and score logits at the ``temperature`` of the
    step, so the whole network trains by plain gradient descent. The temperature is an argument of
    :meth:`forward`; ``temperature`` here is the schedule a training loop evaluates
    (:func:`~pyro_drpm.models.multitask.training.train_multitask` passes ``temperature_schedule(progress)``).
    In evaluation mode (``net.eval()``) the partition is deterministic, :func:`central_partition` (the rounded
    mean sizes filled in score order), unless ``sample_in_eval=True``.

    .. note::
        Why the heads' inputs are rescaled: with the plain mask :math:`f \\odot Y_t`, the straight-through
        gradient of a task's loss with respect to its memberships includes the gain from simply making its input
        larger, which is large for a task that already predicts well (its logits grow more confident) and about
        zero for a task still at chance. The task that learns first then takes nearly all units and the size
        logits saturate, where the gradient vanishes, so the other task never recovers. Dividing by the share
        (``rescale=True``, differentiably) removes that scale term; see the multitask tutorial for the
        measurement.

    Example::

        >>> net = PartitionedMultitaskNet(nn.Linear(5, 8), [nn.Linear(8, 3), nn.Linear(8, 2)], 8)
        >>> outputs, partition = net(torch.randn(4, 5), temperature=0.5)
        >>> [tuple(o.shape) for o in outputs], tuple(partition.shape)
        ([(4, 3), (4, 2)], (4, 2, 8))

    :param encoder: module ``x -> (B, n_units)`` features.
    :param heads: one module per task, each taking ``(B, n_units)``; their number is the number of subsets.
    :param n_units: the width of the features, at least the number of tasks.
    :param temperature: the temperature schedule (a :class:`~pyro_drpm.infer.schedules.Schedule`, or a number
        for a constant); default the paper's exponential annealing from 1 to 0.5.
    :param regularization: the weight :math:`\\lambda \\ge 0` of the size regulariser (0 disables it).
    :param partition_net: what feeds the size and score logits: ``"copy"`` (default: a deep copy of ``encoder``
        whose submodules with a ``reset_parameters`` method are re-initialised from torch's global generator;
        other parameters keep the encoder's initial values), ``"features"`` (the encoder's output) or a module
        ``x -> (B, partition_features)``.
    :param partition_features: the width of a ``partition_net`` module's output (required with one).
    :param rescale: scale head ``t``'s input by ``n_units / n_t`` (see the note).
    :param class_sizes: the MVHG urn of the sizes (default ``n_units`` balls per task).
    :param relaxation: the relaxed sort of the ranking, ``"neuralsort"`` or ``"softsort"``.
    :param sample_in_eval: draw random partitions in evaluation mode too.

    References:
    [1] Sutter, Ryser, Liebeskind, Vogt, "Differentiable Random Partition Models", NeurIPS 2023,
    arXiv:2305.16841, https://arxiv.org/abs/2305.16841.
    """

    def __init__(
        self,
        encoder: nn.Module,
        heads: Sequence[nn.Module],
        n_units: int,
        *,
        temperature: Schedule | float = PAPER_TEMPERATURE,
        regularization: float = PAPER_REGULARIZATION,
        partition_net: nn.Module | str = "copy",
        partition_features: int | None = None,
        rescale: bool = True,
        class_sizes: torch.Tensor | None = None,
        relaxation: str = "neuralsort",
        sample_in_eval: bool = False,
    ):
        super().__init__(encoder, heads, n_units, rescale=rescale)
        if self.n_units < self.n_tasks:
            raise ValueError(
                f"n_units = {self.n_units} must be at least the number of tasks (len(heads) = {self.n_tasks})"
            )
        if not float(regularization) >= 0.0:
            raise ValueError(f"regularization must be non-negative, got {regularization!r}")
        if isinstance(partition_net, str):
            if partition_net not in PARTITION_INPUTS:
                raise ValueError(
                    f"partition_net must be an nn.Module or one of {PARTITION_INPUTS}, got {partition_net!r}"
                )
            if partition_features is not None:
                raise ValueError(
                    f"partition_features is the width of a partition_net module; it cannot go with {partition_net!r}"
                )
        elif partition_features is None:
            raise ValueError("partition_features (the width of partition_net's output) must be given with a module")
        if partition_features is not None and (int(partition_features) != partition_features or partition_features < 1):
            raise ValueError(f"partition_features must be a positive integer, got {partition_features!r}")
        if class_sizes is not None:
            class_sizes = torch.as_tensor(class_sizes)
            if class_sizes.shape[-1:] != (self.n_tasks,):
                raise ValueError(
                    f"class_sizes must have one urn size per task (len(heads) = {self.n_tasks}), "
                    f"got shape {tuple(class_sizes.shape)}"
                )
        if isinstance(temperature, (int, float)):
            temperature = ConstantSchedule(float(temperature))
        if not callable(temperature):
            raise ValueError(f"temperature must be a Schedule (progress -> float) or a number, got {temperature!r}")
        self.temperature_schedule = temperature
        self.regularization = float(regularization)
        self.sample_in_eval = bool(sample_in_eval)
        if isinstance(partition_net, str) and partition_net == "copy":
            partition_net, partition_features = _reinitialised_copy(encoder), self.n_units
        self.partition_net = None if isinstance(partition_net, str) else partition_net
        width = self.n_units if partition_features is None else int(partition_features)
        self.amortised = AmortisedDRPM(
            nn.Linear(width, self.n_tasks),
            nn.Linear(width, self.n_units),
            class_sizes=class_sizes,
            relaxation=relaxation,
        )

    def partition_distribution(self, x: torch.Tensor, features: torch.Tensor, *, temperature: float):
        """The DRPM of the inputs' partitions, batch shape ``(B,)``, event shape ``(n_tasks, n_units)``."""
        inputs = features if self.partition_net is None else self.partition_net(x)
        return self.amortised(inputs, temperature=temperature)

    def masks(self, x: torch.Tensor, features: torch.Tensor, *, temperature: float) -> torch.Tensor:
        distribution = self.partition_distribution(x, features, temperature=temperature)
        return distribution.rsample() if self.training or self.sample_in_eval else central_partition(distribution)

    def regularizer(self, partition: torch.Tensor) -> torch.Tensor:
        """``regularization * mean_b sum_t lgamma(n_bt + 1)``, differentiable through the straight-through sizes.

        :param partition: the forward pass's partition, ``(B, n_tasks, n_units)``.
        :returns: a scalar; exactly 0 when ``regularization`` is 0.
        """
        if self.regularization == 0.0:
            return partition.new_zeros(())
        return self.regularization * torch.lgamma(partition.sum(-1) + 1.0).sum(-1).mean()
