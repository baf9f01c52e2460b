"""scikit-learn's handwritten digits (1797 images of 8 x 8, shipped with scikit-learn), pixels in ``[0, 1]``."""

from __future__ import annotations

import numpy as np

from pyro_drpm._optional import require_extra

__all__ = ["load_digits_01"]


def load_digits_01():
    """scikit-learn's 8 x 8 digits as float32 features in ``[0, 1]`` (``data / 16``) and int64 labels.

    Example::

        >>> X, y = load_digits_01()
        >>> X.shape, float(X.min()), float(X.max())
        ((1797, 64), 0.0, 1.0)

    :returns: ``(X, y)`` with ``X`` of shape ``(1797, 64)`` and ``y`` in ``0..9``.
    """
    require_extra("clustering", "sklearn")  # an ImportError naming the extra if scikit-learn is missing
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64)
