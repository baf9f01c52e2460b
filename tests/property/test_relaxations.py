"""Property-based tests of the relaxations: valid relaxed values and finite gradients at every scale."""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st

from pyro_drpm.relaxations import gumbel_softmax, neural_sort, soft_sort, straight_through
from pyro_drpm.relaxations.windows import soft_window_matrix, window_matrix
from tests.property.strategies import DTYPES, batch_shapes, logits, temperatures

SEEDS = st.integers(0, 2**31 - 1)


def _sums_to_one(values: torch.Tensor, dim: int) -> bool:
    # a softmax row of m entries sums to 1 up to m roundings of its dtype
    tol = 4 * values.shape[dim] * torch.finfo(values.dtype).eps
    return bool(((values.sum(dim) - 1).abs() <= tol).all())


@st.composite
def scores(draw, min_size=1):
    dtype = draw(st.sampled_from(DTYPES))
    (batch,) = draw(batch_shapes(1))
    n = draw(st.integers(min_size, 6))
    return draw(logits(batch + (n,), dtype))


@given(x=scores(), temperature=temperatures, seed=SEEDS)
def test_gumbel_softmax_is_a_probability_vector_with_finite_gradients(x, temperature, seed):
    torch.manual_seed(seed)
    x = x.clone().requires_grad_(True)
    hard, soft = gumbel_softmax(x, temperature)
    assert hard.shape == soft.shape == x.shape and soft.dtype == x.dtype
    assert torch.isfinite(soft).all() and (soft >= 0).all() and _sums_to_one(soft, -1)
    assert ((hard == 0) | (hard == 1)).all() and (hard.sum(-1) == 1).all()
    (grad,) = torch.autograd.grad((soft * torch.randn_like(soft)).sum(), x)
    assert torch.isfinite(grad).all()


@given(x=scores(), temperature=temperatures, relaxed_sort=st.sampled_from([neural_sort, soft_sort]))
def test_relaxed_sorts_are_row_stochastic_with_finite_gradients(x, temperature, relaxed_sort):
    x = x.clone().requires_grad_(True)
    relaxed = relaxed_sort(x, temperature)
    n = x.shape[-1]
    assert relaxed.shape == x.shape + (n,) and relaxed.dtype == x.dtype
    assert torch.isfinite(relaxed).all() and (relaxed >= 0).all() and _sums_to_one(relaxed, -1)
    (grad,) = torch.autograd.grad((relaxed * torch.randn_like(relaxed)).sum(), x)
    assert torch.isfinite(grad).all()


@st.composite
def compositions(draw):
    """Subset sizes ``(..., K)`` summing to ``n`` (K >= 1, n >= 1, empty subsets allowed)."""
    dtype = draw(st.sampled_from(DTYPES))
    k, n = draw(st.integers(1, 5)), draw(st.integers(1, 8))
    (batch,) = draw(batch_shapes(1))
    rows = []
    for _ in range(int(torch.Size(batch).numel())):
        cuts = sorted(draw(st.lists(st.integers(0, n), min_size=k - 1, max_size=k - 1)))
        bounds = [0, *cuts, n]
        rows.append([b - a for a, b in zip(bounds[:-1], bounds[1:], strict=True)])
    return torch.tensor(rows, dtype=dtype).reshape(batch + (k,)), n


@given(drawn=compositions(), smoothing=st.floats(0.05, 2.0))
def test_window_matrices_are_exact_staircases_with_columns_summing_to_one(drawn, smoothing):
    counts, n = drawn
    counts = counts.clone().requires_grad_(True)
    window = window_matrix(counts, n, smoothing)
    assert window.shape == counts.shape + (n,)
    assert ((window == 0) | (window == 1)).all()
    assert (window.sum(-2) == 1).all()  # every rank in exactly one subset
    assert torch.equal(window.detach().sum(-1), counts.detach())  # subset k takes n_k ranks
    soft = soft_window_matrix(counts, n, smoothing)
    assert _sums_to_one(soft.transpose(-1, -2), -1)
    (grad,) = torch.autograd.grad((window * torch.randn_like(window)).sum(), counts)
    assert torch.isfinite(grad).all()


@given(x=scores())
def test_straight_through_is_hard_forward_and_soft_backward(x):
    soft = x.clone().requires_grad_(True)
    hard = (x > 0).to(x.dtype)
    out = straight_through(hard, soft)
    assert torch.equal(out.detach(), hard)
    (grad,) = torch.autograd.grad(out.sum(), soft)
    assert torch.equal(grad, torch.ones_like(grad))
