"""The SVI loop shared by every deep clustering model: mini-batches, ``Trace_ELBO``, schedules, progress bar.

Example::

    >>> from pyro_drpm.models.mixture_baselines import IIDMixtureVAE
    >>> from pyro_drpm.models.networks import MLPDecoder, MLPEncoder
    >>> vade = IIDMixtureVAE(MLPEncoder(6, 2, (8,)), MLPDecoder(2, 6, (8,)), n_components=3)
    >>> with pyro.get_param_store().scope():
    ...     history = train_svi(vade, torch.rand(30, 6), epochs=2, batch_size=10)
    >>> len(history)
    2
"""

from __future__ import annotations

import math

import pyro
import torch
from pyro.infer import SVI, Trace_ELBO, TraceMeanField_ELBO

from pyro_drpm.models.base import LatentClusteringModel
from pyro_drpm.models.pretraining import minibatches

__all__ = ["ELBOS", "train_svi"]

#: ``"trace"``: Pyro's ``Trace_ELBO`` (Monte-Carlo log-density differences at every site); ``"meanfield"``:
#: ``TraceMeanField_ELBO``, the same bound with analytic KL divergences where Pyro knows them (Gaussian ``z``
#: given the sampled assignment), Monte Carlo elsewhere (the DRPM partition site). Both are unbiased ELBOs.
ELBOS = {"trace": Trace_ELBO, "meanfield": TraceMeanField_ELBO}


def train_svi(
    model: LatentClusteringModel,
    X: torch.Tensor,
    epochs: int,
    batch_size: int = 256,
    lr: float = 1e-3,
    elbo: str = "trace",
    num_particles: int = 1,
    generator: torch.Generator | None = None,
    progress: bool = False,
    desc: str | None = None,
) -> list[float]:
    """Maximise the ELBO of ``model.model`` / ``model.guide`` with Pyro's ``SVI`` and Adam.

    Every epoch visits every point once, in ``ceil(N / batch_size)`` random batches of near-equal size. Before
    each step ``model.update_schedules(step / total_steps)`` lets the model anneal its temperature or weights.
    Parameters live in the current Pyro param store: wrap the call in ``pyro.get_param_store().scope()`` to keep
    models apart.

    :returns: the ELBO loss (negative ELBO) per data point, averaged over each epoch.
    """
    if elbo not in ELBOS:
        raise ValueError(f"unknown elbo {elbo!r}; expected one of {sorted(ELBOS)}")
    loss_fn = ELBOS[elbo](num_particles=num_particles, vectorize_particles=False)
    optimizer = pyro.optim.ClippedAdam({"lr": lr, "clip_norm": 100.0})
    svi = SVI(model.model, model.guide, optimizer, loss_fn)
    n = X.shape[0]
    steps_per_epoch = max(1, math.ceil(n / batch_size))
    total_steps = max(1, epochs * steps_per_epoch)
    epoch_iter = range(epochs)
    if progress:
        from tqdm.auto import tqdm

        epoch_iter = tqdm(epoch_iter, desc=desc or type(model).__name__, leave=False)
    history: list[float] = []
    step = 0
    model.train()
    for _ in epoch_iter:
        total = 0.0
        for index in minibatches(n, batch_size, generator):
            model.update_schedules(step / total_steps)
            total += svi.step(X[index])
            step += 1
        history.append(total / n)
        if progress:
            epoch_iter.set_postfix(loss=f"{history[-1]:.3f}")
    model.update_schedules(1.0)
    model.eval()
    return history
