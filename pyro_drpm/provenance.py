"""Where a result was measured: the machine and library versions that result files and tables state."""

from __future__ import annotations

import os
import platform

import pyro
import torch

__all__ = ["describe_machine"]


def describe_machine() -> str:
    """The CPU model, its core count, the Python, torch and Pyro versions and torch's intra-op threads.

    Example::

        >>> "torch" in describe_machine()
        True
    """
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or platform.machine()
    return (
        f"{cpu} ({os.cpu_count()} cores), Python {platform.python_version()}, torch {torch.__version__}, "
        f"pyro {pyro.__version__}, {torch.get_num_threads()} thread(s)"
    )
