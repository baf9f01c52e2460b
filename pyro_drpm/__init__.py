"""pyro_drpm: differentiable random partition models for Pyro.

The public distributions live in :mod:`pyro_drpm.distributions`; the relaxations they use are plain functions
in :mod:`pyro_drpm.relaxations`.
"""

from pyro_drpm.distributions import DRPM, MVHG, MultivariateNoncentralHypergeometric, PlackettLuce

__version__ = "0.2.0.dev0"

__all__ = ["DRPM", "MVHG", "MultivariateNoncentralHypergeometric", "PlackettLuce", "__version__"]
