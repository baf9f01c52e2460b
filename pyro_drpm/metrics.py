"""Moved to :mod:`pyro_drpm.models.clustering.metrics`; this path keeps working."""

from pyro_drpm.models.clustering.metrics import *  # noqa: F403
from pyro_drpm.models.clustering.metrics import __all__  # noqa: F401
