"""Training and evaluation of the multitask networks by plain gradient descent (Adam), no SVI.

Example::

    >>> from torch import nn
    >>> from pyro_drpm.models.multitask import PartitionedMultitaskNet
    >>> net = PartitionedMultitaskNet(nn.Linear(6, 4), [nn.Linear(4, 3), nn.Linear(4, 2)], 4)
    >>> x, targets = torch.randn(32, 6), torch.stack([torch.randint(3, (32,)), torch.randint(2, (32,))], -1)
    >>> history = train_multitask(net, x, targets, epochs=2, batch_size=16)
    >>> len(history["loss"]), history["units"].shape
    (2, (2, 2))
    >>> evaluate_multitask(net, x, targets)["accuracy"].shape
    (2,)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from pyro_drpm.infer.minibatch import minibatches
from pyro_drpm.models.multitask.base import MultitaskNet, units_per_task
from pyro_drpm.models.multitask.loss_weighting import SumOfLosses

__all__ = ["evaluate_multitask", "train_multitask"]

TaskLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _check_targets(net: MultitaskNet, x: torch.Tensor, targets: torch.Tensor) -> None:
    if targets.dim() != 2 or targets.shape[-1] != net.n_tasks or targets.shape[0] != x.shape[0]:
        raise ValueError(
            f"targets must have shape (N = {x.shape[0]}, n_tasks = {net.n_tasks}), got {tuple(targets.shape)}"
        )


def train_multitask(
    net: MultitaskNet,
    x: torch.Tensor,
    targets: torch.Tensor,
    *,
    epochs: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    loss_weighting: nn.Module | None = None,
    task_loss: TaskLoss = F.cross_entropy,
    generator: torch.Generator | None = None,
    progress: bool = False,
    desc: str | None = None,
) -> dict[str, np.ndarray]:
    """Minimise ``loss_weighting([task_loss(output_t, targets[:, t])]_t) + net.regularizer(partition)`` with Adam.

    Every epoch visits every row once in random batches of near-equal size; before step ``s`` of ``S`` the
    network's temperature schedule is evaluated at ``s / S`` and passed to ``net(x, temperature=...)``.

    :param net: a :class:`~pyro_drpm.models.multitask.base.MultitaskNet`.
    :param x: inputs, ``(N, ...)``.
    :param targets: one target per task, ``(N, n_tasks)`` (class indices for the default loss).
    :param epochs: passes over the data.
    :param loss_weighting: module combining the ``(n_tasks,)`` task losses into one (default their sum); its
        parameters are trained too.
    :param task_loss: ``(output, target) -> scalar``, default cross-entropy.
    :param generator: the random generator of the mini-batches.
    :returns: ``{"loss": (epochs,), "units": (epochs, n_tasks)}``: the mean training loss and the mean number
        of units each task received, per epoch.
    """
    _check_targets(net, x, targets)
    loss_weighting = SumOfLosses() if loss_weighting is None else loss_weighting
    n_weights = getattr(loss_weighting, "n_tasks", net.n_tasks)
    if n_weights != net.n_tasks:
        raise ValueError(f"loss_weighting weighs {n_weights} tasks, the network has {net.n_tasks} heads")
    parameters = [*net.parameters(), *loss_weighting.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=lr)
    n = x.shape[0]
    total_steps = max(1, epochs * len(minibatches(n, batch_size)))
    epoch_iter = range(epochs)
    if progress:
        from tqdm.auto import tqdm

        epoch_iter = tqdm(epoch_iter, desc=desc or type(net).__name__, leave=False)
    losses, units = [], []
    step = 0
    net.train()
    for _ in epoch_iter:
        epoch_loss, epoch_units = 0.0, torch.zeros(net.n_tasks)
        for index in minibatches(n, batch_size, generator):
            outputs, partition = net(x[index], temperature=net.temperature_schedule(step / total_steps))
            task_losses = torch.stack([task_loss(output, targets[index, t]) for t, output in enumerate(outputs)])
            loss = loss_weighting(task_losses) + net.regularizer(partition)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            epoch_loss += float(loss.detach()) * len(index)
            epoch_units += units_per_task(partition).sum(0).cpu()
            step += 1
        losses.append(epoch_loss / n)
        units.append((epoch_units / n).numpy())
        if progress:
            epoch_iter.set_postfix(loss=f"{losses[-1]:.3f}")
    net.eval()
    return {"loss": np.asarray(losses), "units": np.stack(units)}


@torch.no_grad()
def evaluate_multitask(
    net: MultitaskNet,
    x: torch.Tensor,
    targets: torch.Tensor,
    *,
    temperature: float | None = None,
    batch_size: int = 1024,
) -> dict[str, np.ndarray]:
    """Per-task accuracy of ``argmax`` predictions and the units each task received, on one forward pass each.

    :param temperature: passed to ``net`` (default the schedule's final value).
    :returns: ``{"accuracy": (n_tasks,), "units": (N, n_tasks), "partition": (N, n_tasks, n_units)}``.
    """
    _check_targets(net, x, targets)
    was_training = net.training
    net.eval()
    correct = torch.zeros(net.n_tasks)
    units, partitions = [], []
    for index in torch.arange(x.shape[0]).split(batch_size):
        outputs, partition = net(x[index], temperature=temperature)
        for t, output in enumerate(outputs):
            correct[t] += (output.argmax(-1) == targets[index, t]).sum().cpu()
        units.append(units_per_task(partition).cpu())
        partitions.append(partition.cpu())
    net.train(was_training)
    return {
        "accuracy": (correct / x.shape[0]).numpy(),
        "units": torch.cat(units).numpy(),
        "partition": torch.cat(partitions).numpy(),
    }
