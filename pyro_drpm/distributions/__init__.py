"""Pyro distributions over rankings, subset sizes and partitions."""

from pyro_drpm.distributions.assigned_normal import (
    AssignedNormal,
    diagonal_normal_log_density,
    normal_log_density,
    precision_diagonal,
)
from pyro_drpm.distributions.chinese_restaurant_process import ChineseRestaurantProcess
from pyro_drpm.distributions.drpm import DRPM
from pyro_drpm.distributions.noncentral_hypergeometric import (
    MVHG,
    MultivariateNoncentralHypergeometric,
)
from pyro_drpm.distributions.plackett_luce import (
    PlackettLuce,
    permutation_matrix_to_ranking,
    ranking_to_permutation_matrix,
)
from pyro_drpm.distributions.urn_plan_cache import UrnPlanCache

__all__ = [
    "AssignedNormal",
    "ChineseRestaurantProcess",
    "DRPM",
    "MVHG",
    "MultivariateNoncentralHypergeometric",
    "PlackettLuce",
    "UrnPlanCache",
    "permutation_matrix_to_ranking",
    "ranking_to_permutation_matrix",
    "diagonal_normal_log_density",
    "normal_log_density",
    "precision_diagonal",
]
