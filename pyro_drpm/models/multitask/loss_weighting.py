"""How the task losses are combined: a plain sum, or learned weights from homoscedastic uncertainty."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SumOfLosses", "UncertaintyWeighting"]


class SumOfLosses(nn.Module):
    """``sum_t L_t``: every task weighted 1.

    Example::

        >>> SumOfLosses()(torch.tensor([1.0, 2.0]))
        tensor(3.)
    """

    def forward(self, task_losses: torch.Tensor) -> torch.Tensor:
        return task_losses.sum(-1)


class UncertaintyWeighting(nn.Module):
    """Task weights learned from homoscedastic uncertainty (Kendall, Gal and Cipolla 2018) [1].

    Each task ``t`` has a learned log-variance :math:`s_t = \\log \\sigma_t^2` (initialised at 0, weight 1);
    for classification losses the combined loss is

    .. math::

        \\mathcal{L} = \\sum_t e^{-s_t} L_t + \\tfrac{1}{2} s_t,

    so a task with a persistently high loss is weighted down, and the :math:`s_t / 2` term keeps the weights
    from vanishing. Its minimum over :math:`s_t` is at :math:`e^{-s_t} = 1 / (2 L_t)`.

    Example::

        >>> weighting = UncertaintyWeighting(2)
        >>> weighting(torch.tensor([1.0, 2.0]))
        tensor(3., grad_fn=<SumBackward1>)

    :param n_tasks: the number of tasks.

    References:
    [1] Kendall, Gal, Cipolla, "Multi-Task Learning Using Uncertainty to Weigh Losses for Scene Geometry and
    Semantics", CVPR 2018, arXiv:1705.07115, https://arxiv.org/abs/1705.07115.
    """

    def __init__(self, n_tasks: int):
        super().__init__()
        if int(n_tasks) != n_tasks or n_tasks < 1:
            raise ValueError(f"n_tasks must be a positive integer, got {n_tasks!r}")
        self.log_variance = nn.Parameter(torch.zeros(int(n_tasks)))

    @property
    def n_tasks(self) -> int:
        return self.log_variance.numel()

    def forward(self, task_losses: torch.Tensor) -> torch.Tensor:
        if task_losses.shape[-1:] != self.log_variance.shape:
            raise ValueError(
                f"task_losses must end in the {self.log_variance.numel()} tasks, got {tuple(task_losses.shape)}"
            )
        return (torch.exp(-self.log_variance) * task_losses + 0.5 * self.log_variance).sum(-1)
