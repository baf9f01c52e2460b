"""The common shape of the multitask networks: a shared encoder, one head per task, a units mask per input."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pyro_drpm.infer.schedules import ConstantSchedule, Schedule

__all__ = ["MultitaskNet", "units_per_task"]


def units_per_task(partition: torch.Tensor) -> torch.Tensor:
    """The number of units each task receives, per input: the row sums of a ``(B, n_tasks, n_units)`` mask.

    Example::

        >>> partition = torch.tensor([[[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])
        >>> units_per_task(partition)
        tensor([[2, 1]])

    :param partition: a 0/1 mask of shape ``(..., n_tasks, n_units)`` (a forward pass's ``partition``).
    :returns: int64 counts of shape ``(..., n_tasks)``, without gradient.
    """
    if partition.dim() < 2:
        raise ValueError(f"partition must have shape (..., n_tasks, n_units), got {tuple(partition.shape)}")
    return partition.detach().sum(-1).round().long()


class MultitaskNet(nn.Module):
    """``x -> encoder -> features``; head ``t`` sees the features masked to task ``t``'s units, rescaled.

    Subclasses say which units each task sees (:meth:`masks`, shape ``(B, n_tasks, n_units)``). Head ``t``
    receives

    .. math::

        h_t = \\frac{n}{\\max(n_t, 1)}\\, f \\odot m_t, \\qquad n_t = \\textstyle\\sum_i m_{ti},

    the features :math:`f` masked by row :math:`m_t` and scaled by the inverse of the task's share of the
    :math:`n` units (as inverted dropout scales the units it keeps), so the size of a head's input does not grow
    with the number of units it gets. With ``rescale=False`` the head sees :math:`f \\odot m_t`.

    :param encoder: module ``x -> (B, n_units)`` features.
    :param heads: one module per task, each taking ``(B, n_units)``.
    :param n_units: the width of the features.
    :param rescale: scale every head's input by ``n_units / n_t``.
    """

    #: the temperature of the training loop's step, as a function of the fraction of training done
    temperature_schedule: Schedule = ConstantSchedule(1.0)

    def __init__(self, encoder: nn.Module, heads: Sequence[nn.Module], n_units: int, *, rescale: bool = True):
        super().__init__()
        if isinstance(heads, nn.Module) and not isinstance(heads, nn.ModuleList):
            raise ValueError("heads must be a sequence of modules, one per task, got a single module")
        heads = list(heads)
        if len(heads) < 1 or not all(isinstance(head, nn.Module) for head in heads):
            raise ValueError(f"heads must be a non-empty sequence of nn.Modules, one per task, got {heads!r}")
        if int(n_units) != n_units or n_units < 1:
            raise ValueError(f"n_units must be a positive integer, got {n_units!r}")
        self.encoder = encoder
        self.heads = nn.ModuleList(heads)
        self.n_units = int(n_units)
        self.rescale = bool(rescale)

    @property
    def n_tasks(self) -> int:
        return len(self.heads)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's output, checked to be ``(B, n_units)``."""
        features = self.encoder(x)
        if features.dim() != 2 or features.shape[-1] != self.n_units:
            raise ValueError(
                f"the encoder must map x to features of shape (B, n_units = {self.n_units}), "
                f"got {tuple(features.shape)}: check n_units or the encoder"
            )
        return features

    def masks(self, x: torch.Tensor, features: torch.Tensor, *, temperature: float) -> torch.Tensor:
        """The units each task sees, ``(B, n_tasks, n_units)``."""
        raise NotImplementedError

    def regularizer(self, partition: torch.Tensor) -> torch.Tensor:
        """The term added to the training loss for this mask (zero here)."""
        return partition.new_zeros(())

    def forward(self, x: torch.Tensor, *, temperature: float | None = None) -> tuple[list[torch.Tensor], torch.Tensor]:
        """``(outputs, partition)``: one output per task and the mask, ``(B, n_tasks, n_units)``.

        :param temperature: the temperature of the partition's relaxation; default the schedule's final value.
        """
        if temperature is None:
            temperature = self.temperature_schedule(1.0)
        features = self.features(x)
        partition = self.masks(x, features, temperature=temperature)
        inputs = features.unsqueeze(-2) * partition
        if self.rescale:
            # differentiable in the mask: the gradient to the partition is not the gain from a larger input
            inputs = inputs * (self.n_units / partition.sum(-1, keepdim=True).clamp(min=1.0))
        outputs = [head(inputs[..., t, :]) for t, head in enumerate(self.heads)]
        return outputs, partition
