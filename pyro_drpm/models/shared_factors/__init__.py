"""Shared and independent generative factors of paired observations: the DRPM model, Ada-VAE, metrics.

The only part of the package besides clustering that imports scikit-learn (in :mod:`.metrics`, on use).
"""

from pyro_drpm.models.shared_factors.base import PairedVAE, check_views, posterior_divergence
from pyro_drpm.models.shared_factors.baselines import AdaVAE, UnpairedVAE, adaptive_threshold_mask
from pyro_drpm.models.shared_factors.drpm_vae import (
    SharedFactorsVAE,
    divergence_features,
    most_probable_two_subset_partition,
)
from pyro_drpm.models.shared_factors.training import fit_pairs

__all__ = [
    "AdaVAE",
    "PairedVAE",
    "SharedFactorsVAE",
    "UnpairedVAE",
    "adaptive_threshold_mask",
    "check_views",
    "divergence_features",
    "fit_pairs",
    "most_probable_two_subset_partition",
    "posterior_divergence",
]
