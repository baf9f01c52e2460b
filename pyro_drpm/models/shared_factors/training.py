"""SVI on mini-batches of pairs, with per-pair side information (the oracle's number of shared factors)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from pyro.infer import SVI, Trace_ELBO

from pyro_drpm.infer import Schedule, minibatches, svi_optimizer
from pyro_drpm.models.shared_factors.base import PairedVAE, check_views

__all__ = ["fit_pairs"]


def fit_pairs(
    vae: PairedVAE,
    x1: torch.Tensor,
    x2: torch.Tensor,
    epochs: int,
    *,
    batch_size: int = 128,
    lr: float = 1e-3,
    num_particles: int = 1,
    schedules: Mapping[str, Schedule] | None = None,
    num_shared: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    progress: bool = False,
    desc: str | None = None,
) -> list[float]:
    """Maximise the ELBO of ``vae.model`` / ``vae.guide`` over the pairs ``(x1[i], x2[i])`` with ``Trace_ELBO``.

    As :func:`pyro_drpm.infer.train_svi` (its optimiser :func:`~pyro_drpm.infer.svi_optimizer`, random
    near-equal mini-batches, schedules evaluated at the fraction of training done and passed by name), for two
    views; ``num_shared`` (``(N,)``), when given, is sliced with the batch and passed as ``num_shared=`` (the
    oracle of :class:`AdaVAE`).

    Example::

        >>> import pyro
        >>> from pyro_drpm.models.shared_factors import AdaVAE
        >>> with pyro.get_param_store().scope():
        ...     losses = fit_pairs(AdaVAE(6, 2, hidden_dims=(8,)), torch.randn(20, 6), torch.randn(20, 6), 2)
        >>> len(losses)
        2

    :returns: the loss (negative ELBO) per pair, averaged over each epoch.
    """
    check_views(x1, x2, vae.input_dim)
    if num_shared is not None and num_shared.shape != x1.shape[:1]:
        raise ValueError(f"num_shared must have shape ({x1.shape[0]},), got {tuple(num_shared.shape)}")
    schedules = dict(schedules or {})
    svi = SVI(
        vae.model,
        vae.guide,
        svi_optimizer(lr),
        Trace_ELBO(num_particles=num_particles),
    )
    n = x1.shape[0]
    total_steps = max(1, epochs * math.ceil(n / batch_size))
    epoch_iter = range(epochs)
    if progress:
        from tqdm.auto import tqdm

        epoch_iter = tqdm(epoch_iter, desc=desc or type(vae).__name__, leave=False)
    history, step = [], 0
    vae.train()
    for _ in epoch_iter:
        total = 0.0
        for index in minibatches(n, batch_size, generator):
            options = {name: schedule(step / total_steps) for name, schedule in schedules.items()}
            if num_shared is not None:
                options["num_shared"] = num_shared[index]
            total += svi.step(x1[index], x2[index], **options)
            step += 1
        history.append(total / n)
        if progress:
            epoch_iter.set_postfix(loss=f"{history[-1]:.3f}")
    vae.eval()
    return history
