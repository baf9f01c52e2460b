"""Two of scikit-learn's 8 x 8 digits on one canvas, the right one corrupted by pepper noise (a small MultiMNIST)."""

from __future__ import annotations

import numpy as np

from pyro_drpm.datasets.digits import load_digits_01

__all__ = ["CANVAS_SPLITS", "make_two_digit_canvas"]

#: Fraction of the 1797 digit images in the pool the ``"train"`` canvases draw from; ``"test"`` canvases draw
#: from the rest, so no digit image appears in both splits.
_TRAIN_FRACTION = 0.7
_POOL_SEED = 12345  # fixed: the split of the images must not depend on the canvas seed
_SIDE = 8
CANVAS_SPLITS = ("train", "test")


def make_two_digit_canvas(
    n_samples: int, *, noise_rate: float = 0.0, overlap: int = 0, split: str = "train", seed: int = 0
):
    """``n_samples`` canvases of two random digits side by side, the right one with pepper noise of rate ``noise_rate``.

    A canvas is ``8`` rows by ``16 - overlap`` columns: the left digit in columns ``0..7``, the right digit in
    columns ``8 - overlap .. 15 - overlap``, overlapping pixels combined by their maximum (as in MultiMNIST [1]).
    Pepper noise sets every pixel of the right digit to 0 independently with probability ``noise_rate``, before
    the two are combined: at ``noise_rate = 1`` the right digit is gone. The two digits are drawn independently
    and uniformly from the split's pool of images, so their labels are independent.

    Example::

        >>> X, y = make_two_digit_canvas(5, noise_rate=0.5, seed=0)
        >>> X.shape, y.shape
        ((5, 128), (5, 2))

    :param n_samples: number of canvases, positive.
    :param noise_rate: pepper-noise rate ``p`` of the right digit, in ``[0, 1]``.
    :param overlap: columns shared by the two digits, in ``0..8``.
    :param split: ``"train"`` or ``"test"``; the two draw from disjoint sets of digit images.
    :param seed: seed of the draws of digits and noise.
    :returns: ``(X, y)``: float32 pixels in ``[0, 1]`` of shape ``(n_samples, 8 * (16 - overlap))`` (row-major
        images) and int64 labels of shape ``(n_samples, 2)``, ``y[:, 0]`` the left digit, ``y[:, 1]`` the right.

    References:
    [1] Sabour, Frosst, Hinton, "Dynamic Routing Between Capsules", NeurIPS 2017, arXiv:1710.09829.
    """
    if int(n_samples) != n_samples or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if not 0.0 <= float(noise_rate) <= 1.0:
        raise ValueError(f"noise_rate must lie in [0, 1], got {noise_rate!r}")
    if int(overlap) != overlap or not 0 <= overlap <= _SIDE:
        raise ValueError(f"overlap must be an integer in 0..{_SIDE}, got {overlap!r}")
    if split not in CANVAS_SPLITS:
        raise ValueError(f"split must be one of {CANVAS_SPLITS}, got {split!r}")
    images, labels = load_digits_01()
    order = np.random.default_rng(_POOL_SEED).permutation(len(images))
    n_train = int(round(_TRAIN_FRACTION * len(images)))
    pool = order[:n_train] if split == "train" else order[n_train:]
    rng = np.random.default_rng(seed)
    left, right = rng.choice(pool, size=(2, int(n_samples)))
    right_images = images[right].reshape(-1, _SIDE, _SIDE)
    right_images = right_images * (rng.random(right_images.shape) >= noise_rate)
    width = 2 * _SIDE - int(overlap)
    canvas = np.zeros((int(n_samples), _SIDE, width), dtype=np.float32)
    canvas[:, :, :_SIDE] = images[left].reshape(-1, _SIDE, _SIDE)
    start = _SIDE - int(overlap)
    canvas[:, :, start:] = np.maximum(canvas[:, :, start:], right_images)
    return canvas.reshape(int(n_samples), -1), np.stack([labels[left], labels[right]], axis=1)
