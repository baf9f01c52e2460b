import math

import torch

from pyro_drpm.distributions import MultivariateNoncentralHypergeometric
from tests.distributions.cases import Case


def _outside_support(dist):
    """Counts that break each part of the support: sign, integrality, class size, total."""
    sizes = dist.class_sizes.reshape(-1, dist.num_classes)[0]
    total = float(dist.total_count.reshape(-1)[0])
    valid = torch.zeros(dist.num_classes)
    valid[-1] = total  # the last class of every case holds at least `total` balls
    negative = valid.clone()
    negative[0], negative[1] = -1.0, negative[1] + 1.0
    fractional = valid.clone()
    fractional[0], fractional[-1] = 0.5, total - 0.5
    too_many = valid.clone()
    too_many[0], too_many[-1] = sizes[0] + 1.0, total - sizes[0] - 1.0
    wrong_total = valid.clone()
    wrong_total[-1] = total + 1.0
    return [negative, fractional, too_many, wrong_total]


def _skewed(dtype):
    weights = torch.tensor([0.8, 0.1, 0.1], dtype=dtype)
    return {
        "class_sizes": torch.tensor([6.0, 6.0, 6.0], dtype=dtype),
        "total_count": torch.tensor(6.0, dtype=dtype),
        "logits": weights.log(),
    }


def _batched(dtype):
    return {
        "class_sizes": torch.tensor([3.0, 0.0, 2.0, 5.0], dtype=dtype),
        "total_count": torch.tensor(4.0, dtype=dtype),
        "logits": torch.tensor([[0.5, 1.0, -1.0, 0.0], [2.0, 0.0, 0.3, -0.7]], dtype=dtype),
        "temperature": 0.3,
    }


def _per_element_totals(dtype):
    return {
        "class_sizes": torch.tensor([[4.0, 6.0, 9.0], [7.0, 1.0, 9.0]], dtype=dtype),
        "total_count": torch.tensor([5.0, 8.0], dtype=dtype),
        "logits": torch.tensor([1.0, -0.5, 0.2], dtype=dtype),
    }


_BAD = [
    ({"class_sizes": torch.tensor([-1.0, 6.0, 6.0])}, "class_sizes"),
    ({"class_sizes": torch.tensor([1.5, 6.0, 6.0])}, "class_sizes"),
    ({"total_count": torch.tensor(-2.0)}, "total_count"),
    ({"total_count": torch.tensor(2.5)}, "total_count"),
    ({"total_count": torch.tensor(19.0)}, "total_count"),
    ({"logits": torch.tensor([0.0, math.nan, 0.0])}, "logits"),
    ({"logits": torch.tensor([0.0, math.inf, 0.0])}, "logits"),
    ({"temperature": 0.0}, "temperature"),
]
_EAGER = [
    ({"class_sizes": torch.tensor([6.0, 6.0])}, "class_sizes"),
    ({"logits": torch.zeros(2, 3), "total_count": torch.ones(3)}, "do not broadcast"),
    ({"logits": torch.tensor(0.0)}, "logits"),
]

CASES = [
    Case(
        name="MVHG-skewed-drpm",
        dist_class=MultivariateNoncentralHypergeometric,
        make=_skewed,
        grad_params=("logits",),
        invalid_values=_outside_support,
        bad_params=_BAD,
        eager_errors=_EAGER,
    ),
    Case(
        name="MVHG-batched-empty-class",
        dist_class=MultivariateNoncentralHypergeometric,
        make=_batched,
        grad_params=("logits",),
        invalid_values=_outside_support,
    ),
    Case(
        name="MVHG-per-element-totals",
        dist_class=MultivariateNoncentralHypergeometric,
        make=_per_element_totals,
        grad_params=("logits",),
        invalid_values=lambda dist: [
            torch.tensor([-1.0, 1.0, 5.0]),
            torch.tensor([0.5, 0.0, 4.5]),
            torch.tensor([5.0, 0.0, 0.0]),
        ],
    ),
]
