import torch

from pyro_drpm.distributions import PlackettLuce
from tests.distributions.cases import Case


def _not_permutations(dist):
    n = dist.event_shape[-1]
    eye = torch.eye(n)
    doubled = eye.clone()
    doubled[0] = eye[1]  # two rows pick the same element
    fractional = torch.full((n, n), 1.0 / n)
    return [doubled, fractional, 2 * eye]


CASES = [
    Case(
        name="PlackettLuce-n4",
        dist_class=PlackettLuce,
        make=lambda dtype: {"logits": torch.tensor([0.5, -1.0, 2.0, 0.0], dtype=dtype)},
        grad_params=("logits",),
        invalid_values=_not_permutations,
        bad_params=[
            ({"logits": torch.tensor([0.0, float("nan")])}, "logits"),
            ({"logits": torch.tensor([0.0, float("inf")])}, "logits"),
            ({"temperature": 0.0}, "temperature"),
        ],
        eager_errors=[
            ({"logits": torch.zeros(0)}, "logits"),
            ({"logits": torch.tensor(1.0)}, "logits"),
            ({"temperature": torch.ones(2)}, "temperature"),
            ({"relaxation": "bubble"}, "relaxation"),
        ],
    ),
    Case(
        name="PlackettLuce-batched-softsort",
        dist_class=PlackettLuce,
        make=lambda dtype: {
            "logits": torch.tensor([[0.0, 1.0, 2.0], [3.0, -3.0, 0.0]], dtype=dtype),
            "temperature": 0.3,
            "relaxation": "softsort",
        },
        grad_params=("logits",),
        invalid_values=_not_permutations,
    ),
]
