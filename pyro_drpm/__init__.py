"""pyro_drpm: differentiable random partition models for Pyro.

The public distributions live in :mod:`pyro_drpm.distributions`; the relaxations they use are plain functions
in :mod:`pyro_drpm.relaxations`. :func:`enable_compilation` (opt-in) compiles the exact partition's hottest
kernels with ``torch.compile`` (:mod:`pyro_drpm.compilation`).
"""

from pyro_drpm.compilation import compilation_enabled, enable_compilation, is_compilation_enabled
from pyro_drpm.distributions import DRPM, MVHG, MultivariateNoncentralHypergeometric, PlackettLuce

__version__ = "0.2.0.dev0"

__all__ = [
    "DRPM",
    "MVHG",
    "MultivariateNoncentralHypergeometric",
    "PlackettLuce",
    "__version__",
    "compilation_enabled",
    "enable_compilation",
    "is_compilation_enabled",
]
