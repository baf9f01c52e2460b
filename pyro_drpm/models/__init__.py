"""Reusable Pyro models for variational clustering with the DRPM, the deep mixture baselines, and
scikit-learn-style estimators around them.

- :class:`DRPMVC`: DRPM variational clustering (model and guide), the mini-batch's partition as one DRPM latent;
- :class:`IIDMixtureVAE`, :class:`StickBreakingMixtureVAE`: VaDE-style i.i.d. mixture and truncated
  stick-breaking Dirichlet-process mixture priors over the same networks;
- :class:`DRPMClustering`, :class:`VaDEClustering`, :class:`DPMixtureClustering`: ``fit`` / ``predict``
  estimators; :func:`sklearn_baselines` for KMeans / Gaussian mixtures on raw features or an embedding;
- :func:`pretrain`, :class:`PretrainedAutoencoder`: the shared autoencoder pretraining.

Needs the ``tutorials`` extra (scikit-learn, scipy, tqdm).
"""

from pyro_drpm.models.base import LatentClusteringModel
from pyro_drpm.models.drpm_vc import DRPMVC
from pyro_drpm.models.estimators import (
    DeepClusteringEstimator,
    DPMixtureClustering,
    DRPMClustering,
    VaDEClustering,
)
from pyro_drpm.models.mixture_baselines import IIDMixtureVAE, StickBreakingMixtureVAE
from pyro_drpm.models.networks import MLPDecoder, MLPEncoder
from pyro_drpm.models.pretraining import PretrainedAutoencoder, fit_gaussian_mixture, pretrain
from pyro_drpm.models.sklearn_baselines import EmbeddingClustering, sklearn_baselines
from pyro_drpm.models.training import train_svi

__all__ = [
    "DPMixtureClustering",
    "DRPMClustering",
    "DRPMVC",
    "DeepClusteringEstimator",
    "EmbeddingClustering",
    "IIDMixtureVAE",
    "LatentClusteringModel",
    "MLPDecoder",
    "MLPEncoder",
    "PretrainedAutoencoder",
    "StickBreakingMixtureVAE",
    "VaDEClustering",
    "fit_gaussian_mixture",
    "pretrain",
    "sklearn_baselines",
    "train_svi",
]
