"""Pure relaxation functions: Gumbel-softmax, relaxed sorting, straight-through (and a fused straight-through sort)."""

from pyro_drpm.relaxations.gumbel import gumbel_softmax
from pyro_drpm.relaxations.sorting import RELAXED_SORTS, neural_sort, soft_sort
from pyro_drpm.relaxations.straight_through import straight_through
from pyro_drpm.relaxations.straight_through_sort import straight_through_sort

__all__ = ["RELAXED_SORTS", "gumbel_softmax", "neural_sort", "soft_sort", "straight_through", "straight_through_sort"]
