"""Opt-in compiled kernels: the exact partition's hottest tensor code through ``torch.compile``.

The exact Plackett-Luce ordered-blocks term of the DRPM's log-probability (the race integral:
:func:`~pyro_drpm.distributions.ordered_blocks.log_race_terms`) is some hundred small tensor operations: the
search for each block's integration interval, the quadrature, its analytic backward pass and the value gradient
of a straight-through sample. In eager PyTorch each operation pays its dispatch overhead, which dominates at
mini-batch sizes. With compilation enabled, the functions marked :func:`compiled_kernel` run through
``torch.compile`` (TorchInductor fuses them into a few loops): the same arithmetic up to rounding, as accurate
as eager (the tests compare both against float64). Off by default, as Pyro's own JIT (``JitTrace_ELBO``) is
opt-in, because compiling costs time up front:

- the first call compiles (about 30-45 s on a 2-core machine, less once TorchInductor's on-disk cache holds the
  kernels), and a new shape or dtype compiles again (after the first change, for dynamic shapes);
- TorchInductor needs a C++ compiler (CPU) or Triton (GPU). When compiling a kernel fails, a
  ``RuntimeWarning`` says so once and that kernel stays eager: results never depend on whether it compiled.

So it pays off for long trainings (``benchmarks/results/clustering_cost.md`` measures the step and the first
step). A kernel is compiled with its backward pass, which needs no double backward (the race integral's custom
backward has none in any case). The switch is global, like ``pyro.enable_validation``; use
:func:`compilation_enabled` around the training loop.

Example::

    >>> import pyro_drpm
    >>> with pyro_drpm.compilation_enabled(False):  # True to compile; False here keeps the example fast
    ...     pyro_drpm.is_compilation_enabled()
    False
"""

from __future__ import annotations

import contextlib
import functools
import warnings

import torch

__all__ = ["compilation_enabled", "compiled_kernel", "enable_compilation", "is_compilation_enabled"]

_ENABLED = False


def enable_compilation(enabled: bool = True) -> None:
    """Compile the kernels from now on (``False``: run them eagerly again)."""
    global _ENABLED
    if not isinstance(enabled, bool):
        raise ValueError(f"enabled must be a bool, got {enabled!r}")
    _ENABLED = enabled


def is_compilation_enabled() -> bool:
    """Whether the kernels are compiled (see :func:`enable_compilation`)."""
    return _ENABLED


@contextlib.contextmanager
def compilation_enabled(enabled: bool = True):
    """Context manager: compile the kernels inside the block (or not, with ``False``), then restore the setting."""
    previous = is_compilation_enabled()
    enable_compilation(enabled)
    try:
        yield
    finally:
        enable_compilation(previous)


def compiled_kernel(function):
    """Mark ``function`` (pure tensor code whose gradient needs no double backward) as a kernel, compiled with its
    backward pass while compilation is enabled (traced inline when another compilation reaches it).

    The compiled version is created on first use; if compiling or running it raises, the eager function is
    called instead (an error in the inputs then raises from there, as without compilation), and if the eager
    call succeeds the kernel is marked as failed, warned about once and kept eager. ``kernel.eager`` is the
    undecorated function.
    """
    state = {"compiled": None, "failed": False}

    @functools.wraps(function)
    def kernel(*args, **kwargs):
        if not _ENABLED or state["failed"] or torch.compiler.is_compiling():
            return function(*args, **kwargs)
        if state["compiled"] is None:
            state["compiled"] = torch.compile(function)
        try:
            with warnings.catch_warnings():
                # what the tracer and TorchInductor say while compiling is addressed to torch's developers
                # (complex operators stay eager kernels, deprecated internals); a kernel is pure tensor code
                warnings.simplefilter("ignore")
                return state["compiled"](*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - a missing or failing compiler must not change results
            result = function(*args, **kwargs)  # a genuine error in the inputs raises here, as when eager
            state["failed"] = True
            warnings.warn(
                f"pyro_drpm: compiling {function.__qualname__} failed ({type(error).__name__}: {error}); "
                "it runs eagerly from now on",
                RuntimeWarning,
                stacklevel=2,
            )
            return result

    kernel.eager = function
    kernel._state = state  # for tests: whether it compiled ("compiled" set, "failed" False)
    return kernel
