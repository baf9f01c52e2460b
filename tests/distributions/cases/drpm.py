import torch

from pyro_drpm.distributions.drpm import DRPM
from tests.distributions.cases import Case


def _not_assignments(dist):
    num_subsets, n = dist.event_shape
    valid = torch.zeros(num_subsets, n)
    valid[0] = 1.0
    doubled = valid.clone()
    doubled[1, 0] = 1.0  # element 0 in two subsets
    missing = valid.clone()
    missing[0, -1] = 0.0  # the last element in none
    fractional = torch.full((num_subsets, n), 1.0 / num_subsets)
    negative = valid.clone()
    negative[0, 0], negative[1, 0] = 2.0, -1.0  # the column sums to 1 but is not 0/1
    return [doubled, missing, fractional, negative]


CASES = [
    Case(
        name="DRPM-K3-n4",
        dist_class=DRPM,
        make=lambda dtype: {
            "size_logits": torch.tensor([0.5, -1.0, 0.2], dtype=dtype),
            "score_logits": torch.tensor([0.3, -0.5, 1.0, 0.0], dtype=dtype),
        },
        grad_params=("size_logits", "score_logits"),
        invalid_values=_not_assignments,
        bad_params=[
            ({"size_logits": torch.tensor([0.0, float("nan"), 1.0])}, "size_logits"),
            ({"score_logits": torch.tensor([0.0, float("inf"), 1.0, 2.0])}, "score_logits"),
            ({"class_sizes": torch.tensor([1.0, 1.0, 1.0])}, "class_sizes"),
            ({"class_sizes": torch.tensor([2.0, -1.0, 3.0])}, "class_sizes"),
            ({"class_sizes": torch.tensor([2.5, 2.0, 2.0])}, "class_sizes"),
            ({"temperature": 0.0}, "temperature"),
        ],
        eager_errors=[
            ({"size_logits": torch.zeros(0)}, "size_logits"),
            ({"score_logits": torch.zeros(0)}, "score_logits"),
            ({"size_logits": torch.zeros(2, 3), "score_logits": torch.zeros(3, 4)}, "batch shapes"),
            ({"class_sizes": torch.tensor([4.0, 4.0])}, "class_sizes"),
            ({"relaxation": "bubble"}, "relaxation"),
        ],
    ),
    Case(
        name="DRPM-batched-softsort-small-urn",
        dist_class=DRPM,
        make=lambda dtype: {
            "size_logits": torch.tensor([[0.0, 1.0, -1.0], [2.0, 0.0, 0.0]], dtype=dtype),
            "score_logits": torch.tensor([1.0, 0.0, -2.0, 0.5, 3.0], dtype=dtype),
            "class_sizes": torch.tensor([2.0, 3.0, 2.0], dtype=dtype),
            "temperature": 0.3,
            "relaxation": "softsort",
        },
        grad_params=("size_logits", "score_logits"),
        invalid_values=_not_assignments,
    ),
]
