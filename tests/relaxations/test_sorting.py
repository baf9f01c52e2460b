"""Relaxed sorts: gradcheck, zero-temperature limit, agreement with the pairwise definition."""

import pytest
import torch

from pyro_drpm.relaxations import gumbel_softmax, neural_sort, soft_sort, straight_through
from pyro_drpm.relaxations.sorting import _abs_deviation_sums

SORTS = [neural_sort, soft_sort]


@pytest.mark.parametrize("relaxed_sort", SORTS)
def test_gradcheck(relaxed_sort):
    scores = torch.randn(2, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s: relaxed_sort(s, 0.7), (scores,))


@pytest.mark.parametrize("relaxed_sort", SORTS)
def test_tends_to_the_exact_permutation(relaxed_sort):
    # distinct scores at least 0.3 apart, so that 1e-3 is far below every gap
    scores = torch.stack([torch.randperm(8) for _ in range(3)]).double() * 0.3 - 1.0
    exact = torch.nn.functional.one_hot(scores.argsort(-1, descending=True), 8).double()
    errors = [(relaxed_sort(scores, t) - exact).abs().max().item() for t in (1.0, 0.1, 1e-3)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-10


@pytest.mark.parametrize("relaxed_sort", SORTS)
def test_rows_are_probability_vectors(relaxed_sort):
    value = relaxed_sort(torch.randn(4, 6), 0.3)
    assert value.shape == (4, 6, 6)
    assert torch.allclose(value.sum(-1), torch.ones(4, 6))
    assert (value >= 0).all()


def test_neural_sort_matches_pairwise_definition():
    scores = torch.randn(3, 7, dtype=torch.float64)
    pairwise = (scores.unsqueeze(-1) - scores.unsqueeze(-2)).abs().sum(-1)
    assert torch.allclose(_abs_deviation_sums(scores), pairwise, atol=1e-12)
    n = 7
    weight = (n + 1 - 2 * (torch.arange(n, dtype=torch.float64) + 1)).unsqueeze(-1)
    expected = torch.softmax((weight * scores.unsqueeze(-2) - pairwise.unsqueeze(-2)) / 0.4, -1)
    assert torch.allclose(neural_sort(scores, 0.4), expected, atol=1e-12)


@pytest.mark.parametrize("relaxed_sort", SORTS)
def test_float32_extremes_are_finite(relaxed_sort):
    scores = (1e3 * torch.randn(16)).requires_grad_(True)
    for temperature in (1.0, 1e-3):
        value = relaxed_sort(scores, temperature)
        (grad,) = torch.autograd.grad((value * torch.randn(16, 16)).sum(), scores)
        assert torch.isfinite(value).all() and torch.isfinite(grad).all()


def test_gumbel_softmax_hard_is_exact_categorical():
    torch.manual_seed(0)
    logits = torch.tensor([0.0, 1.0, -1.0, float("-inf")], dtype=torch.float64)
    hard, soft = gumbel_softmax(logits.expand(40_000, 4), temperature=0.5)
    frequency = hard.mean(0)
    assert hard[:, 3].sum() == 0 and soft[:, 3].sum() == 0
    assert torch.allclose(frequency, torch.softmax(logits, -1), atol=0.01)


def test_straight_through_forward_is_hard_and_gradient_is_soft():
    soft = torch.tensor([0.3, 0.7], requires_grad=True)
    hard = torch.tensor([0.0, 1.0])
    out = straight_through(hard, soft)
    assert torch.equal(out, hard)
    (out * torch.tensor([2.0, 3.0])).sum().backward()
    assert torch.equal(soft.grad, torch.tensor([2.0, 3.0]))
