"""The machine line every benchmark writes next to its results (one definition, in the package)."""

from pyro_drpm.provenance import describe_machine

__all__ = ["describe_machine"]
