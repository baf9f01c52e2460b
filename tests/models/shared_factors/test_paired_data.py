"""The paired-factors generator: shared factors equal, the others redrawn, counts uniform, seeded, checked."""

import numpy as np
import pytest
from scipy import stats

from pyro_drpm.datasets import make_paired_factors, nonlinear_mixing


def test_shared_factors_are_equal_and_the_others_differ():
    data = make_paired_factors(500, num_factors=5, observed_dim=12, seed=0)
    assert data.x1.shape == data.x2.shape == (500, 12) and data.x1.dtype == np.float32
    assert np.array_equal(data.factors1[data.shared], data.factors2[data.shared])
    assert (data.factors1[~data.shared] != data.factors2[~data.shared]).all()
    assert ((data.factors1 >= -1) & (data.factors1 <= 1)).all()


def test_shared_counts_are_uniform_over_zero_to_d_minus_one():
    counts = make_paired_factors(5000, num_factors=4, seed=1).num_shared
    observed = np.bincount(counts, minlength=4)
    assert observed.shape == (4,)  # never all four shared
    assert stats.chisquare(observed).pvalue > 1e-3


def test_fixed_shared_subset_and_noise_free_views_follow_the_mixing():
    shared = np.array([True, True, False, False])
    data = make_paired_factors(50, num_factors=4, observed_dim=6, noise_scale=0.0, shared=shared, seed=2)
    assert (data.shared == shared).all() and (data.num_shared == 2).all()
    np.testing.assert_allclose(data.x1, nonlinear_mixing(data.factors1, 6).astype(np.float32), atol=1e-6)


def test_seeds_reproduce():
    a, b = make_paired_factors(10, seed=3), make_paired_factors(10, seed=3)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert not np.array_equal(a.x1, make_paired_factors(10, seed=4).x1)


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_factors"):
        make_paired_factors(10, num_factors=1)
    with pytest.raises(ValueError, match="shared"):
        make_paired_factors(10, num_factors=3, shared=[True, False])
    with pytest.raises(ValueError, match="num_pairs"):
        make_paired_factors(0)
    with pytest.raises(ValueError, match="noise_scale"):
        make_paired_factors(5, noise_scale=-1.0)
