"""Freezing a network: its parameters become buffers, so no optimiser (Pyro's or torch's) can train them."""

from __future__ import annotations

from torch import nn

__all__ = ["freeze_"]


def freeze_(module: nn.Module) -> nn.Module:
    """Turn every parameter of ``module`` (recursively) into a buffer of the same name, in place.

    A :class:`~pyro.nn.PyroModule` registers every ``nn.Parameter`` it reaches in Pyro's parameter store, whatever
    its ``requires_grad``, and Pyro's optimisers then train it; a buffer is never registered. The values, the
    ``state_dict`` keys and the module's device and dtype are unchanged.

    Example::

        >>> layer = freeze_(nn.Linear(3, 2))
        >>> len(list(layer.parameters())), sorted(name for name, _ in layer.named_buffers())
        (0, ['bias', 'weight'])

    :returns: ``module``.
    """
    for submodule in module.modules():
        for name, parameter in list(submodule.named_parameters(recurse=False)):
            del submodule._parameters[name]
            submodule.register_buffer(name, parameter.detach().clone())
    return module
