"""The generated two-digit canvas: layout, labels, pepper noise at the stated rate, seeding, disjoint splits."""

import numpy as np
import pytest

from pyro_drpm.datasets import load_digits_01, make_two_digit_canvas


def test_layout_and_labels_match_the_digits():
    images, labels = load_digits_01()
    X, y = make_two_digit_canvas(50, seed=3)
    assert X.shape == (50, 128) and X.dtype == np.float32 and y.shape == (50, 2) and y.dtype == np.int64
    canvas = X.reshape(50, 8, 16)
    for half, column in ((canvas[:, :, :8], 0), (canvas[:, :, 8:], 1)):
        # every half is one of the digit images, with that image's label
        distance = ((half.reshape(50, 1, 64) - images[None]) ** 2).sum(-1)
        match = distance.argmin(1)
        assert np.allclose(distance.min(1), 0.0)
        assert np.array_equal(labels[match], y[:, column])


def test_overlap_combines_by_maximum():
    X, _ = make_two_digit_canvas(4, overlap=8, seed=0)
    assert X.shape == (4, 64)
    left, _ = make_two_digit_canvas(4, overlap=0, seed=0)
    left = left.reshape(4, 8, 16)
    assert np.array_equal(X.reshape(4, 8, 8), np.maximum(left[:, :, :8], left[:, :, 8:]))


def test_pepper_noise_removes_the_stated_fraction_of_the_right_digits_ink():
    clean, _ = make_two_digit_canvas(400, noise_rate=0.0, seed=1)
    noisy, _ = make_two_digit_canvas(400, noise_rate=0.3, seed=1)
    clean, noisy = clean.reshape(400, 8, 16), noisy.reshape(400, 8, 16)
    assert np.array_equal(clean[:, :, :8], noisy[:, :, :8]), "the left digit is untouched"
    ink = clean[:, :, 8:] > 0
    removed = (noisy[:, :, 8:][ink] == 0).mean()
    # about 11,000 ink pixels: the binomial standard error is about 0.005
    assert removed == pytest.approx(0.3, abs=0.02)
    assert np.all((noisy[:, :, 8:] == 0) | (noisy[:, :, 8:] == clean[:, :, 8:]))
    gone, _ = make_two_digit_canvas(20, noise_rate=1.0, seed=1)
    assert np.all(gone.reshape(20, 8, 16)[:, :, 8:] == 0)


def test_seeded_and_splits_disjoint():
    a, b = make_two_digit_canvas(30, noise_rate=0.5, seed=7), make_two_digit_canvas(30, noise_rate=0.5, seed=7)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], make_two_digit_canvas(30, noise_rate=0.5, seed=8)[0])
    images, _ = load_digits_01()

    def used(split):
        X, _ = make_two_digit_canvas(2000, split=split, seed=0)
        halves = X.reshape(-1, 8, 16)[:, :, :8].reshape(-1, 64)
        return {int(((images - h) ** 2).sum(-1).argmin()) for h in halves}

    assert not used("train") & used("test")


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n_samples": 0}, "n_samples"),
        ({"n_samples": 2, "noise_rate": 1.5}, "noise_rate"),
        ({"n_samples": 2, "overlap": 9}, "overlap"),
        ({"n_samples": 2, "split": "validation"}, "split"),
    ],
)
def test_bad_input_names_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        make_two_digit_canvas(**kwargs)
