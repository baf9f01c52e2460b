"""Pure relaxation functions: Gumbel-softmax, relaxed sorting, straight-through."""

from pyro_drpm.relaxations.gumbel import gumbel_softmax
from pyro_drpm.relaxations.sorting import RELAXED_SORTS, neural_sort, soft_sort
from pyro_drpm.relaxations.straight_through import straight_through

__all__ = ["RELAXED_SORTS", "gumbel_softmax", "neural_sort", "soft_sort", "straight_through"]
