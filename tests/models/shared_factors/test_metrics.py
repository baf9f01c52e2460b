"""MIG, DCI disentanglement and the count confusion against hand-computed cases."""

import math

import numpy as np
import pytest

from pyro_drpm.models.shared_factors.metrics import (
    count_confusion,
    dci_disentanglement,
    discretise,
    disentanglement_from_importance,
    mutual_information_gap,
)


def _grid(values: int, num_factors: int) -> np.ndarray:
    """Every combination of ``values`` levels of each factor once: the factors are exactly independent."""
    return np.stack(np.meshgrid(*[np.arange(float(values))] * num_factors, indexing="ij"), -1).reshape(-1, num_factors)


def test_mig_of_a_permuted_copy_is_one_and_of_a_duplicated_latent_zero():
    factors = _grid(4, 3)
    assert mutual_information_gap(factors[:, [2, 0, 1]], factors, bins=4) == pytest.approx(1.0)
    # both latents copy factor 0: its gap is 0; factor 1 is in no latent: gap 0
    assert mutual_information_gap(factors[:, [0, 0]], factors[:, :2], bins=4) == pytest.approx(0.0)


def test_mig_hand_computed():
    # two binary factors, each value half of the time, independent: H = log 2 each.
    # latent 0 = factor 0, latent 1 = factor 0 XOR factor 1 (independent of either factor alone)
    v0 = np.array([0, 0, 1, 1] * 25, dtype=float)
    v1 = np.array([0, 1, 0, 1] * 25, dtype=float)
    latents = np.stack([v0, np.logical_xor(v0, v1).astype(float)], 1)
    # factor 0: I = (log 2, 0) -> gap 1; factor 1: I = (0, 0) -> gap 0; MIG = 1/2
    assert mutual_information_gap(latents, np.stack([v0, v1], 1), bins=2) == pytest.approx(0.5)


def test_mig_uses_natural_log_consistently():
    # a 4-valued factor seen by a latent that merges values {0, 1} and {2, 3}: I = log 2, H = log 4 -> gap 1/2
    v = np.repeat(np.arange(4.0), 25)
    latents = np.stack([np.floor(v / 2), np.zeros_like(v)], 1)
    assert mutual_information_gap(latents, v[:, None], bins=4) == pytest.approx(math.log(2) / math.log(4))


def test_discretise_equal_width_bins():
    values = np.array([[0.0, 5.0], [0.49, 5.0], [0.51, 6.0], [1.0, 7.0]])
    assert discretise(values, bins=2).tolist() == [[0, 0], [0, 0], [1, 1], [1, 1]]


def test_disentanglement_from_importance_hand_computed():
    assert disentanglement_from_importance(np.eye(4)) == pytest.approx(1.0)
    assert disentanglement_from_importance(np.ones((2, 2))) == pytest.approx(0.0)
    # latent 0 only for factor 0 (D_0 = 1, weight 1/2); latent 1 equally for both (D_1 = 0, weight 1/2)
    assert disentanglement_from_importance([[1.0, 0.0], [0.5, 0.5]]) == pytest.approx(0.5)
    # a latent with no importance has weight 0
    assert disentanglement_from_importance([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]) == pytest.approx(1.0)
    # P = (3/4, 1/4): 1 - H_2 = 1 - (-(3/4) log2(3/4) - (1/4) log2(1/4))
    expected = 1 + 0.75 * math.log2(0.75) + 0.25 * math.log2(0.25)
    assert disentanglement_from_importance([[3.0, 1.0]]) == pytest.approx(expected)


def test_dci_of_an_axis_aligned_code_is_high_and_of_a_rotated_code_lower():
    factors = np.random.default_rng(1).uniform(-1, 1, size=(600, 3))
    aligned = dci_disentanglement(np.tanh(factors[:, [1, 2, 0]]), factors)
    rotation = np.linalg.qr(np.random.default_rng(2).normal(size=(3, 3)))[0]
    rotated = dci_disentanglement(factors @ rotation, factors)
    # measured: aligned 0.99, rotated about 0.3 (margin: aligned > 0.9, rotated below aligned - 0.3)
    assert aligned > 0.9
    assert rotated < aligned - 0.3


def test_count_confusion():
    table = count_confusion([0, 0, 2, 1], [0, 1, 2, 1], 2)
    assert table.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    with pytest.raises(ValueError, match="inferred_counts"):
        count_confusion([0], [3], 2)


def test_metric_inputs_are_checked():
    with pytest.raises(ValueError, match="differ in length"):
        mutual_information_gap(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="NaN"):
        mutual_information_gap(np.full((3, 2), np.nan), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="at least 2 latent"):
        mutual_information_gap(np.zeros((3, 1)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="num_factors >= 2"):
        disentanglement_from_importance(np.ones((2, 1)))
