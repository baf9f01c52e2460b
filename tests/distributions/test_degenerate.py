"""Degenerate cases, each with its documented result (docs/bad_input_contract.md, "Degenerate cases")."""

import math

import pytest
import torch

from pyro_drpm.distributions import DRPM, MVHG, ChineseRestaurantProcess, PlackettLuce
from tests.conftest import DEVICES

F64 = torch.float64
# log-probabilities that are 0 or log(1/m) in exact arithmetic: float64 sums of a few dozen roundings
ATOL = 64 * torch.finfo(F64).eps
# the DRPM's ordered-block integrals are exact to quadrature error, about 1e-13 in float64 (measured against
# 80-digit inclusion-exclusion); sums and comparisons of them get 10x that
QUAD = 1e-12


def _samples(dist, num=4):
    methods = ("sample", "rsample") if dist.has_rsample else ("sample",)
    return [getattr(dist, method)(torch.Size((num,))) for method in methods]


@pytest.mark.parametrize("device", DEVICES)
def test_one_element(device):
    """n = 1: the only ranking has probability 1; the DRPM puts the element in subset k with P(n = e_k)."""
    pl = PlackettLuce(torch.zeros(1, dtype=F64, device=device))
    for value in _samples(pl):
        assert torch.equal(value, torch.ones(4, 1, 1, dtype=F64, device=device))
        assert torch.allclose(pl.log_prob(value), torch.zeros(4, dtype=F64, device=device), atol=ATOL)
    drpm = DRPM(torch.tensor([0.0, 1.0, -1.0], dtype=F64, device=device), torch.zeros(1, dtype=F64, device=device))
    support = drpm.enumerate_support()
    expected = torch.log_softmax(drpm.size_logits, -1)  # an urn of 1 ball per subset draws 1: P(k) = w_k / sum w
    assert torch.allclose(drpm.log_prob(support), expected, atol=ATOL)


def test_one_subset():
    """K = 1: every element in the one subset, with probability 1 (the MVHG draws all n into it)."""
    for dist in (
        DRPM(torch.zeros(1, dtype=F64), torch.randn(4, dtype=F64)),
        ChineseRestaurantProcess(torch.tensor(0.7, dtype=F64), 1, 4),
    ):
        for value in _samples(dist):
            assert torch.equal(value, torch.ones(4, 1, 4, dtype=F64))
            assert torch.allclose(dist.log_prob(value), torch.zeros(4, dtype=F64), atol=ATOL)
    mvhg = MVHG(torch.tensor([6.0], dtype=F64), 4, torch.zeros(1, dtype=F64))
    for value in _samples(mvhg):
        assert torch.equal(value, torch.full((4, 1), 4.0, dtype=F64))
        assert torch.allclose(mvhg.log_prob(value), torch.zeros(4, dtype=F64), atol=ATOL)


@pytest.mark.parametrize(
    ("make", "atol"),
    [
        (lambda: DRPM(torch.tensor([0.3, -1.2, 0.5, 2.0, 0.0], dtype=F64), torch.tensor([1.1, -0.4], dtype=F64)), QUAD),
        (lambda: ChineseRestaurantProcess(torch.tensor(1.5, dtype=F64), 5, 2), ATOL),
    ],
    ids=["DRPM", "CRP"],
)
def test_more_subsets_than_elements(make, atol):
    """K > n: at least K - n subsets are empty; the law still sums to one over all K^n assignment matrices."""
    dist = make()  # built in the test, not at collection, so that its parameters do not depend on test order
    support = dist.enumerate_support()
    assert support.shape == (25, 5, 2)
    assert abs(float(dist.log_prob(support).logsumexp(0))) < atol
    for value in _samples(dist, 50):
        assert ((value.sum(-1) == 0).sum(-1) >= 3).all()


def test_all_mass_on_one_subset():
    """A size logit far above the others puts all n elements in its subset, with log-probability 0 and finite
    gradients."""
    size_logits = torch.tensor([0.0, 1e4, 0.0], dtype=F64, requires_grad=True)
    score_logits = torch.randn(4, dtype=F64, requires_grad=True)
    dist = DRPM(size_logits, score_logits, temperature=1e-3)
    for value in _samples(dist):
        assert torch.equal(value.detach().sum(-1), torch.tensor([0.0, 4.0, 0.0], dtype=F64).expand(4, 3))
        assert torch.allclose(dist.log_prob(value.detach()), torch.zeros(4, dtype=F64), atol=ATOL)
    value = dist.rsample(torch.Size((4,)))
    loss = (value * torch.randn_like(value)).sum() + dist.log_prob(value).sum()
    grads = torch.autograd.grad(loss, [size_logits, score_logits])
    assert all(torch.isfinite(g).all() for g in grads)


def test_ties():
    """All-equal scores: every ranking has probability 1/n!, and a DRPM partition with sizes (n_k) has
    P(sizes) prod_k n_k! / n!. All-equal size logits: the MVHG is the central multivariate hypergeometric."""
    n = 4
    pl = PlackettLuce(torch.full((n,), 3.0, dtype=F64))
    support = pl.enumerate_support()
    assert torch.allclose(pl.log_prob(support), torch.full((24,), -math.lgamma(n + 1), dtype=F64), atol=ATOL)
    assert torch.equal(pl.mode, torch.eye(n, dtype=F64))  # ties keep the elements' order
    drpm = DRPM(torch.zeros(3, dtype=F64), torch.full((n,), -2.0, dtype=F64))
    support = drpm.enumerate_support()
    sizes = support.sum(-1)
    blocks = torch.lgamma(sizes + 1).sum(-1) - math.lgamma(n + 1)
    assert torch.allclose(drpm.log_prob(support), drpm.sizes.log_prob(sizes) + blocks, atol=QUAD)
    mvhg = MVHG(torch.tensor([2.0, 3.0, 4.0], dtype=F64), 3, torch.full((3,), 7.0, dtype=F64))
    points = mvhg.enumerate_support()
    m = mvhg.class_sizes
    central = (torch.lgamma(m + 1) - torch.lgamma(points + 1) - torch.lgamma(m - points + 1)).sum(-1) - math.log(84)
    assert torch.allclose(mvhg.log_prob(points), central, atol=ATOL)  # C(9, 3) = 84


def test_nothing_drawn():
    """total_count = 0: the only outcome is the zero vector (log-probability 0, zero mean, variance, entropy)."""
    mvhg = MVHG(torch.tensor([3.0, 2.0], dtype=F64), 0, torch.tensor([1.0, -1.0], dtype=F64))
    for value in _samples(mvhg):
        assert torch.equal(value, torch.zeros(4, 2, dtype=F64))
    assert abs(float(mvhg.log_prob(torch.zeros(2, dtype=F64)))) < ATOL
    assert torch.equal(mvhg.mean, torch.zeros(2, dtype=F64)) and torch.equal(mvhg.variance, torch.zeros(2, dtype=F64))
    assert abs(float(mvhg.entropy())) < ATOL
    assert torch.equal(mvhg.enumerate_support(), torch.zeros(1, 2, dtype=F64))


def test_empty_colours():
    """Colours with no balls are never drawn, whatever their logits: their counts are 0 and others absorb the
    draws; the empty urn (all colours empty, nothing drawn) has the zero vector as its only outcome."""
    mvhg = MVHG(torch.tensor([0.0, 4.0, 0.0, 2.0], dtype=F64), 3, torch.tensor([50.0, 0.0, 9.0, 1.0], dtype=F64))
    for value in _samples(mvhg, 50):
        assert (value[:, [0, 2]] == 0).all()
    points = mvhg.enumerate_support()
    assert (points[:, [0, 2]] == 0).all() and abs(float(mvhg.log_prob(points).logsumexp(0))) < ATOL
    assert torch.equal(mvhg.mean[[0, 2]], torch.zeros(2, dtype=F64))
    empty = MVHG(torch.zeros(2, dtype=F64), 0, torch.zeros(2, dtype=F64))
    assert torch.equal(empty.sample(), torch.zeros(2, dtype=F64))
    assert abs(float(empty.log_prob(torch.zeros(2, dtype=F64)))) < ATOL


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        (PlackettLuce, {"logits": torch.zeros(3)}),
        (DRPM, {"size_logits": torch.zeros(2), "score_logits": torch.zeros(3)}),
        (MVHG, {"class_sizes": torch.tensor([2.0, 2.0]), "total_count": 2, "logits": torch.zeros(2)}),
    ],
    ids=["PlackettLuce", "DRPM", "MVHG"],
)
def test_temperature_zero_is_rejected(cls, kwargs):
    """Temperature 0 is not read as the hard limit: validation rejects it naming `temperature`. Without
    validation the distribution constructs and `sample`/`log_prob` are unaffected (they never use it); only
    `rsample` would divide by it."""
    with pytest.raises(ValueError, match="`temperature` must be positive and finite, got 0.0"):
        cls(**kwargs, temperature=0.0, validate_args=True)
    lax = cls(**kwargs, temperature=0.0, validate_args=False)
    value = lax.sample()
    assert torch.isfinite(lax.log_prob(value))
