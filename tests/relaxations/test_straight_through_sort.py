"""The fused straight-through sort: values and gradients equal the dense construction's, gradcheck, the band."""

import importlib
import math

import pytest
import torch

from pyro_drpm.distributions import DRPM, PlackettLuce
from pyro_drpm.distributions.plackett_luce import gumbel_perturbed_logits
from pyro_drpm.relaxations import RELAXED_SORTS
from pyro_drpm.relaxations.sorting import _abs_deviation_sums
from pyro_drpm.relaxations.straight_through_sort import (
    _band,
    _Relaxation,
    band_exponent,
    straight_through_sort,
    straight_through_sort_reference,
)
from pyro_drpm.relaxations.windows import window_matrix

RELAXATIONS = ["neuralsort", "softsort"]
# The bar for "equal to today's gradients" in float64; the measured differences are ~1e-14 relative
# (summation order), far inside it.
TOLERANCE = 1e-10


def _gradients(sort, scores, temperature, relaxation, left, upstream):
    inputs = [scores] + ([left] if left is not None else [])
    value = sort(scores, temperature, relaxation, left)
    return value, torch.autograd.grad((value * upstream).sum(), inputs)


def _compare(scores, temperature, relaxation, num_rows=None):
    left = None
    if num_rows is not None:
        left = torch.randn(scores.shape[:-1] + (num_rows, scores.shape[-1]), dtype=scores.dtype)
        left.requires_grad_(True)
    n = scores.shape[-1]
    upstream = torch.randn(scores.shape[:-1] + ((num_rows or n), n), dtype=scores.dtype)
    scores = scores.detach().requires_grad_(True)
    fused, fused_grads = _gradients(straight_through_sort, scores, temperature, relaxation, left, upstream)
    dense, dense_grads = _gradients(straight_through_sort_reference, scores, temperature, relaxation, left, upstream)
    assert torch.equal(fused, dense)
    for got, expected in zip(fused_grads, dense_grads, strict=True):
        assert torch.isfinite(got).all()
        assert torch.allclose(got, expected, rtol=TOLERANCE, atol=TOLERANCE * expected.abs().max().clamp(min=1))


@pytest.mark.parametrize("relaxation", RELAXATIONS)
@pytest.mark.parametrize("n", [1, 2, 7, 64, 257])
@pytest.mark.parametrize("temperature", [1e-3, 0.1, 1.0, 100.0])
def test_gradients_equal_the_dense_construction(relaxation, n, temperature):
    scores = torch.randn(2, n, dtype=torch.float64)
    _compare(scores, temperature, relaxation)  # P itself (Plackett-Luce)
    _compare(scores, temperature, relaxation, num_rows=3)  # a left factor (the DRPM's window)


@pytest.mark.parametrize("relaxation", RELAXATIONS)
def test_gradients_with_ties_and_extreme_logits(relaxation):
    ties = torch.tensor([[0.5, -1.0, 0.5, 2.0, -1.0, 0.5, 3.0, 2.0]], dtype=torch.float64)
    extreme = 1e3 * torch.randn(1, 40, dtype=torch.float64)
    for scores in (ties, extreme, torch.zeros(1, 6, dtype=torch.float64)):
        for temperature in (1e-3, 1.0, 100.0):
            _compare(scores, temperature, relaxation)
            _compare(scores, temperature, relaxation, num_rows=4)


@pytest.mark.parametrize("relaxation", RELAXATIONS)
@pytest.mark.parametrize("with_left", [False, True])
def test_gradcheck_of_the_relaxed_vjp(relaxation, with_left):
    # f(s, tau) = straight_through_sort - its hard value + the relaxed value: equal to L P_hat(s, tau) for every
    # input, with the fused backward as its analytic gradient, so gradcheck compares that backward with finite
    # differences of the relaxation
    n = 6
    left = torch.randn(3, n, dtype=torch.float64) if with_left else None

    def relaxed(scores, temperature):
        value = straight_through_sort(scores, temperature, relaxation, left)
        with torch.no_grad():
            soft = RELAXED_SORTS[relaxation](scores, temperature)
            soft = soft if left is None else left @ soft
        return value - value.detach() + soft

    scores = torch.randn(2, n, dtype=torch.float64, requires_grad=True)
    temperature = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(relaxed, (scores, temperature))


@pytest.mark.parametrize("relaxation", RELAXATIONS)
@pytest.mark.parametrize("temperature", [1e-2, 0.5, 5.0])
def test_band_holds_every_entry_above_the_bound(relaxation, temperature):
    n = 400
    scores = torch.randn(n, dtype=torch.float64)
    x = scores.sort(descending=True).values
    distance = (x[:, None] - x).abs()
    if relaxation == "neuralsort":
        aux = distance.sum(-1)
        logits = (n - 1 - 2 * torch.arange(n, dtype=torch.float64))[:, None] * x - aux
    else:
        aux, logits = x, -distance
    soft = torch.softmax(logits / temperature, -1)  # the dense relaxation, rows = ranks, columns sorted
    relaxed = _Relaxation(relaxation, x, aux, torch.tensor(temperature, dtype=torch.float64))
    exponent = band_exponent(torch.float64, n) + relaxed.rounding()
    left, right = _band(relaxed, exponent)
    positions = torch.arange(n)
    outside = (positions < left[:, None]) | (positions > right[:, None])
    bound = math.exp(-band_exponent(torch.float64, n))  # eps^2 / (e n)
    assert (soft[outside] <= bound).all()
    # the band is not simply everything: the entries just outside it are below the level
    level = math.exp(-exponent)
    assert ((left == 0) | (soft[positions, (left - 1).clamp(min=0)] <= level * 1.0001)).all()


def test_neuralsort_band_is_narrow_and_banded_equals_full():
    n = 4096
    scores = torch.randn(n, dtype=torch.float64)
    x = scores.sort(descending=True).values
    relaxed = _Relaxation("neuralsort", x, _abs_deviation_sums(x), torch.tensor(0.5, dtype=torch.float64))
    left, right = _band(relaxed, band_exponent(torch.float64, n) + relaxed.rounding())
    assert (right - left + 1).max() < n // 4  # O(sqrt(n)) positions: the banded backward does less work
    window = torch.randn(10, n, dtype=torch.float64)
    upstream = torch.randn(10, n, dtype=torch.float64)
    grads = []
    for banded in (True, False):
        s = scores.clone().requires_grad_(True)
        (straight_through_sort(s, 0.5, "neuralsort", window, banded=banded) * upstream).sum().backward()
        grads.append(s.grad)
    eps = torch.finfo(torch.float64).eps
    scale = n * upstream.abs().max() * window.abs().sum(0).max() / 0.5  # the gradient's natural scale
    # the truncation error is below 3 eps^2 of the scale; what remains is the rounding of the sums over n rows
    # (each a few eps of the scale, and the same in the dense construction)
    assert (grads[0] - grads[1]).abs().max() <= 8 * eps * scale


@pytest.mark.parametrize("n", [100, 1000])
def test_auto_band_takes_the_dense_backward_below_the_crossover_and_the_band_above(n, monkeypatch):
    """``banded="auto"`` gives the gradient of the variant chosen for ``n`` (dense below 640 elements)."""
    module = importlib.import_module("pyro_drpm.relaxations.straight_through_sort")

    calls = []
    original = module._band
    monkeypatch.setattr(module, "_band", lambda *args: calls.append(1) or original(*args))
    scores = torch.randn(n, dtype=torch.float64)
    window, upstream = torch.randn(3, n, dtype=torch.float64), torch.randn(3, n, dtype=torch.float64)
    grads = {}
    for banded in ("auto", n >= module._BANDED_FROM):
        s = scores.clone().requires_grad_(True)
        (straight_through_sort(s, 0.5, "neuralsort", window, banded=banded) * upstream).sum().backward()
        grads[banded] = s.grad
    assert torch.equal(grads["auto"], grads[n >= module._BANDED_FROM])
    assert len(calls) == (2 if n >= module._BANDED_FROM else 0)


def test_unknown_banded_option_is_rejected():
    with pytest.raises(ValueError, match="banded"):
        straight_through_sort(torch.randn(4), 0.5, banded="sometimes")


@pytest.mark.parametrize("relaxation", RELAXATIONS)
@pytest.mark.parametrize("temperature", [1.0, 1e-3])
def test_float32_extremes_are_finite(relaxation, temperature):
    scores = (1e3 * torch.randn(3, 50)).requires_grad_(True)
    window = window_matrix(torch.tensor([20.0, 0.0, 30.0]), 50)
    for left in (None, window):
        value = straight_through_sort(scores, temperature, relaxation, left)
        (grad,) = torch.autograd.grad((value * torch.randn(value.shape)).sum(), scores)
        assert value.dtype == torch.float32 and torch.isfinite(grad).all()


def test_left_factor_broadcasts_and_gets_the_hard_gradient():
    scores = torch.randn(4, 9, dtype=torch.float64)
    left = torch.randn(3, 9, dtype=torch.float64, requires_grad=True)  # shared by the batch of 4
    upstream = torch.randn(4, 3, 9, dtype=torch.float64)
    (straight_through_sort(scores, 0.5, left=left) * upstream).sum().backward()
    permutation = torch.nn.functional.one_hot(scores.argsort(-1, descending=True), 9).double()
    assert torch.allclose(left.grad, (upstream @ permutation.transpose(-1, -2)).sum(0), atol=1e-12)


@pytest.mark.parametrize("relaxation", RELAXATIONS)
def test_drpm_rsample_gradients_equal_the_dense_path(relaxation):
    size_logits = torch.randn(3, dtype=torch.float64, requires_grad=True)
    score_logits = torch.randn(2, 30, dtype=torch.float64, requires_grad=True)
    d = DRPM(size_logits, score_logits, temperature=0.3, relaxation=relaxation)
    upstream = torch.randn(2, 3, 30, dtype=torch.float64)
    torch.manual_seed(1)
    fused = torch.autograd.grad((d.rsample() * upstream).sum(), (size_logits, score_logits))
    torch.manual_seed(1)  # the same draw, through today's dense construction
    counts = d.sizes.rsample()
    perturbed = gumbel_perturbed_logits(score_logits, score_logits.shape)
    window = window_matrix(counts, 30)
    dense_value = straight_through_sort_reference(perturbed, 0.3, relaxation, left=window)
    dense = torch.autograd.grad((dense_value * upstream).sum(), (size_logits, score_logits))
    for got, expected in zip(fused, dense, strict=True):
        assert torch.allclose(got, expected, rtol=TOLERANCE, atol=TOLERANCE)


def test_plackett_luce_rsample_is_the_exact_permutation_with_the_relaxed_gradient():
    logits = torch.randn(2, 12, dtype=torch.float64, requires_grad=True)
    d = PlackettLuce(logits, temperature=0.4)
    upstream = torch.randn(2, 12, 12, dtype=torch.float64)
    torch.manual_seed(2)
    value = d.rsample()
    (fused,) = torch.autograd.grad((value * upstream).sum(), logits)
    torch.manual_seed(2)
    dense_value = straight_through_sort_reference(gumbel_perturbed_logits(logits, logits.shape), 0.4)
    (dense,) = torch.autograd.grad((dense_value * upstream).sum(), logits)
    assert torch.equal(value, dense_value) and d.support.check(value).all()
    assert torch.allclose(fused, dense, rtol=TOLERANCE, atol=TOLERANCE)


def test_only_the_left_factor_gets_a_gradient_when_the_scores_need_none():
    scores = torch.randn(5, dtype=torch.float64)
    left = torch.randn(2, 5, dtype=torch.float64, requires_grad=True)
    value = straight_through_sort(scores, 0.5, left=left)
    (value * torch.arange(10.0, dtype=torch.float64).view(2, 5)).sum().backward()
    assert left.grad is not None and not scores.requires_grad


def test_empty_and_single_element_sets():
    for n in (0, 1):
        scores = torch.randn(2, n, dtype=torch.float64, requires_grad=True)
        value = straight_through_sort(scores, 0.5)
        assert value.shape == (2, n, n)
        value.sum().backward()
        assert torch.equal(scores.grad, torch.zeros_like(scores))
