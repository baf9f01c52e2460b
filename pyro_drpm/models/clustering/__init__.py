"""Variational clustering: DRPM-VC, deep mixture baselines, scikit-learn-style estimators and baselines, metrics.

The only part of the package that imports scikit-learn: install it with ``pip install 'pyro-drpm[clustering]'``.
"""

from pyro_drpm._optional import require_extra

require_extra("clustering", "sklearn", "scipy")

from pyro_drpm.models.clustering.base import LatentClusteringModel
from pyro_drpm.models.clustering.drpm_vc import DRPMVC
from pyro_drpm.models.clustering.estimators import (
    DeepClusteringEstimator,
    DPMixtureClustering,
    DRPMClustering,
    VaDEClustering,
)
from pyro_drpm.models.clustering.initialisation import MixtureInit, cluster_path_order, fit_gaussian_mixture
from pyro_drpm.models.clustering.metrics import clustering_scores, n_clusters_used
from pyro_drpm.models.clustering.mixture_baselines import IIDMixtureVAE, StickBreakingMixtureVAE
from pyro_drpm.models.clustering.sklearn_baselines import (
    BICGaussianMixture,
    EmbeddingClustering,
    dirichlet_process_mixture,
    sklearn_baselines,
)

__all__ = [
    "BICGaussianMixture",
    "DPMixtureClustering",
    "DRPMClustering",
    "DRPMVC",
    "DeepClusteringEstimator",
    "EmbeddingClustering",
    "IIDMixtureVAE",
    "LatentClusteringModel",
    "MixtureInit",
    "StickBreakingMixtureVAE",
    "VaDEClustering",
    "cluster_path_order",
    "clustering_scores",
    "dirichlet_process_mixture",
    "fit_gaussian_mixture",
    "n_clusters_used",
    "sklearn_baselines",
]
