"""Image augmentation for pretraining: random affine jitter of flattened square images."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["CONTRASTIVE_AUGMENTATION", "augment_images", "image_side"]

#: :func:`augment_images` settings of the contrastive views: stronger than the denoising default (the DRPM code
#: uses rotations up to 30 degrees, shifts of 20% and scalings of 25% on MNIST).
CONTRASTIVE_AUGMENTATION = dict(rotation=0.3, scaling=0.15, translation=0.2, noise=0.05)


def augment_images(
    x: torch.Tensor,
    side: int,
    rotation: float = 0.2,
    scaling: float = 0.1,
    translation: float = 0.15,
    noise: float = 0.05,
) -> torch.Tensor:
    """Random small affine jitter plus pixel noise for flattened square images ``(B, side * side)`` in [0, 1].

    Per image: rotation uniform in ``+-rotation`` radians, scale in ``1 +- scaling``, shift in ``+-translation``
    of the half-width (bilinear resampling, zero padding), then Gaussian noise of std ``noise``; clipped to
    ``[0, 1]``. Pretraining uses it for denoising targets and for the two views of contrastive learning. Uses the
    global torch RNG; the jitter is drawn on the device and in the dtype of ``x``.

    Example::

        >>> augment_images(torch.rand(3, 64), side=8).shape
        torch.Size([3, 64])
    """
    b = x.shape[0]
    angle = (torch.rand(b, dtype=x.dtype, device=x.device) * 2 - 1) * rotation
    scale = 1 + (torch.rand(b, dtype=x.dtype, device=x.device) * 2 - 1) * scaling
    shift = (torch.rand(b, 2, dtype=x.dtype, device=x.device) * 2 - 1) * translation
    cos, sin = scale * angle.cos(), scale * angle.sin()
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], -1), torch.stack([sin, cos, shift[:, 1]], -1)], 1)
    grid = F.affine_grid(theta, [b, 1, side, side], align_corners=False)
    images = F.grid_sample(x.reshape(b, 1, side, side), grid, align_corners=False, padding_mode="zeros")
    images = images.reshape(b, -1)
    return (images + noise * torch.randn_like(images)).clamp(0.0, 1.0)


def image_side(n_features: int) -> int | None:
    """The side of a square image with ``n_features`` pixels, or ``None`` if ``n_features`` is not a square >= 16."""
    side = int(round(n_features**0.5))
    return side if side * side == n_features and side >= 4 else None
