"""The SVI training loop: mini-batches, an ELBO, schedules passed as keyword arguments, a progress bar.

Example::

    >>> import pyro.distributions as dist
    >>> from pyro_drpm.infer import ExponentialSchedule
    >>> def model(x, temperature):
    ...     loc = pyro.param("loc", torch.zeros(()))
    ...     with pyro.plate("data", len(x)):
    ...         pyro.sample("x", dist.Normal(loc, temperature), obs=x)
    >>> def guide(x, temperature):
    ...     pass
    >>> class Problem:
    ...     model, guide = staticmethod(model), staticmethod(guide)
    >>> with pyro.get_param_store().scope():
    ...     history = train_svi(Problem(), torch.randn(30) + 3, epochs=2, batch_size=10,
    ...                         schedules={"temperature": ExponentialSchedule(2.0, 1.0)})
    >>> len(history)
    2
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Protocol

import pyro
import torch
from pyro.infer import SVI, Trace_ELBO, TraceMeanField_ELBO

from pyro_drpm.infer.minibatch import minibatches
from pyro_drpm.infer.schedules import Schedule

__all__ = ["ELBOS", "SVIModel", "evaluate_elbo", "svi_optimizer", "train_svi"]

#: ``"trace"``: Pyro's ``Trace_ELBO`` (Monte-Carlo log-density differences at every site); ``"meanfield"``:
#: ``TraceMeanField_ELBO``, the same bound with analytic KL divergences where Pyro knows them, Monte Carlo
#: elsewhere. Both are unbiased ELBO estimates.
ELBOS = {"trace": Trace_ELBO, "meanfield": TraceMeanField_ELBO}


def svi_optimizer(lr: float = 1e-3) -> pyro.optim.PyroOptim:
    """The optimiser of :func:`train_svi`: Pyro's ``ClippedAdam`` at learning rate ``lr``, every gradient entry
    clipped to ``[-100, 100]``.

    Example::

        >>> svi = SVI(lambda: None, lambda: None, svi_optimizer(1e-2), Trace_ELBO())
    """
    return pyro.optim.ClippedAdam({"lr": lr, "clip_norm": 100.0})


class SVIModel(Protocol):
    """What :func:`train_svi` trains: a Pyro ``model`` and ``guide`` that take a mini-batch (and the schedules'
    values as keyword arguments). An ``nn.Module`` is switched to ``train()`` during training and ``eval()``
    afterwards."""

    def model(self, x: torch.Tensor, **kwargs) -> None: ...

    def guide(self, x: torch.Tensor, **kwargs) -> None: ...


def train_svi(
    model: SVIModel,
    X: torch.Tensor,
    epochs: int,
    *,
    batch_size: int = 256,
    lr: float = 1e-3,
    elbo: str = "trace",
    num_particles: int = 1,
    schedules: Mapping[str, Schedule] | None = None,
    generator: torch.Generator | None = None,
    progress: bool = False,
    desc: str | None = None,
) -> list[float]:
    """Maximise the ELBO of ``model.model`` / ``model.guide`` with Pyro's ``SVI`` and clipped Adam
    (:func:`svi_optimizer`).

    Every epoch visits every row of ``X`` once, in ``ceil(N / batch_size)`` random batches of near-equal size
    (:func:`~pyro_drpm.infer.minibatch.minibatches`). Before step ``t`` of ``T`` every schedule is evaluated at
    ``t / T`` and its value passed to the model and the guide under its name (for example
    ``schedules={"temperature": ExponentialSchedule(1.0, 0.5)}`` calls ``guide(x, temperature=...)``).
    Parameters live in the current Pyro param store: wrap the call in ``pyro.get_param_store().scope()`` to keep
    models apart.

    :returns: the loss (negative ELBO) per data point, averaged over each epoch.
    """
    if elbo not in ELBOS:
        raise ValueError(f"unknown elbo {elbo!r}; expected one of {sorted(ELBOS)}")
    schedules = dict(schedules or {})
    loss_fn = ELBOS[elbo](num_particles=num_particles, vectorize_particles=False)
    svi = SVI(model.model, model.guide, svi_optimizer(lr), loss_fn)
    n = X.shape[0]
    total_steps = max(1, epochs * max(1, math.ceil(n / batch_size)))
    epoch_iter = range(epochs)
    if progress:
        from tqdm.auto import tqdm

        epoch_iter = tqdm(epoch_iter, desc=desc or type(model).__name__, leave=False)
    history: list[float] = []
    step = 0
    _set_mode(model, training=True)
    for _ in epoch_iter:
        total = 0.0
        for index in minibatches(n, batch_size, generator):
            values = {name: schedule(step / total_steps) for name, schedule in schedules.items()}
            total += svi.step(X[index], **values)
            step += 1
        history.append(total / n)
        if progress:
            epoch_iter.set_postfix(loss=f"{history[-1]:.3f}")
    _set_mode(model, training=False)
    return history


def evaluate_elbo(
    model: SVIModel,
    X: torch.Tensor,
    *,
    batch_size: int = 256,
    num_particles: int = 10,
    elbo: str = "trace",
    generator: torch.Generator | None = None,
    **kwargs,
) -> float:
    """The ELBO per data point of ``model.model`` / ``model.guide`` on ``X``, without training: the sum over one
    random split of ``X`` into mini-batches (:func:`~pyro_drpm.infer.minibatch.minibatches`, drawn from
    ``generator``) of each batch's ELBO estimate from ``num_particles`` samples, divided by ``len(X)``.

    It is the quantity that :func:`train_svi` maximises (its history is minus this, at one particle, while the
    parameters move), so it compares fitted models of the same data on the same split: a model whose mini-batch
    is the set being partitioned (variational clustering) has a bound that depends on the split. Samples come
    from the global torch RNG; ``kwargs`` go to the model and the guide (e.g. ``temperature``).

    Example::

        >>> def model(x):
        ...     with pyro.plate("data", len(x)):
        ...         pyro.sample("x", pyro.distributions.Normal(0.0, 1.0), obs=x)
        >>> class Problem:
        ...     model, guide = staticmethod(model), staticmethod(lambda x: None)
        >>> x = torch.zeros(4)
        >>> round(evaluate_elbo(Problem(), x, batch_size=2), 4)  # log N(0; 0, 1), no latent variable
        -0.9189
    """
    if elbo not in ELBOS:
        raise ValueError(f"unknown elbo {elbo!r}; expected one of {sorted(ELBOS)}")
    if isinstance(num_particles, bool) or not isinstance(num_particles, int) or num_particles < 1:
        raise ValueError(f"num_particles must be an integer >= 1, got {num_particles!r}")
    loss_fn = ELBOS[elbo](num_particles=num_particles, vectorize_particles=False)
    n = X.shape[0]
    total = sum(
        loss_fn.loss(model.model, model.guide, X[index], **kwargs) for index in minibatches(n, batch_size, generator)
    )
    return -float(total) / n


def _set_mode(model, training: bool) -> None:
    if isinstance(model, torch.nn.Module):
        model.train(training)
