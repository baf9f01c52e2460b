import torch

from pyro_drpm.distributions.chinese_restaurant_process import ChineseRestaurantProcess
from tests.distributions.cases import Case
from tests.distributions.cases.drpm import _not_assignments

CASES = [
    Case(
        name="CRP-K3-n4",
        dist_class=ChineseRestaurantProcess,
        make=lambda dtype: {"concentration": torch.tensor(1.3, dtype=dtype), "num_subsets": 3, "num_elements": 4},
        grad_params=("concentration",),
        invalid_values=_not_assignments,
        shapes_from_tensors=False,
        bad_params=[
            ({"concentration": torch.tensor(float("nan"))}, "concentration"),
            ({"concentration": torch.tensor(0.0)}, "concentration"),
            ({"concentration": torch.tensor(-1.0)}, "concentration"),
            ({"concentration": torch.tensor(float("inf"))}, "concentration"),
        ],
        eager_errors=[
            ({"num_subsets": 0}, "num_subsets"),
            ({"num_subsets": 2.5}, "num_subsets"),
            ({"num_elements": -3}, "num_elements"),
        ],
    ),
    Case(
        name="CRP-batched-truncated",
        dist_class=ChineseRestaurantProcess,
        make=lambda dtype: {
            "concentration": torch.tensor([0.2, 4.0], dtype=dtype),
            "num_subsets": 2,
            "num_elements": 5,
        },
        grad_params=("concentration",),
        invalid_values=_not_assignments,
        shapes_from_tensors=False,
    ),
]
