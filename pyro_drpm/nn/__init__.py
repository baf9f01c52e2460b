"""Neural-network building blocks: MLP encoder and decoder, image augmentation, pretraining, freezing."""

from pyro_drpm.nn.augmentation import CONTRASTIVE_AUGMENTATION, augment_images, image_side
from pyro_drpm.nn.freezing import freeze_
from pyro_drpm.nn.mlp import LIKELIHOODS, MLPDecoder, MLPEncoder, observation_distribution
from pyro_drpm.nn.pretraining import (
    PRETRAINING_OBJECTIVES,
    ContrastiveHeads,
    PretrainedAutoencoder,
    embed,
    identity_networks,
    pca_networks,
    pretrain,
    pretrain_autoencoder,
    pretrain_contrastive,
    pretrain_tsne,
    tsne_targets,
)

__all__ = [
    "CONTRASTIVE_AUGMENTATION",
    "LIKELIHOODS",
    "PRETRAINING_OBJECTIVES",
    "ContrastiveHeads",
    "MLPDecoder",
    "MLPEncoder",
    "PretrainedAutoencoder",
    "augment_images",
    "embed",
    "freeze_",
    "identity_networks",
    "image_side",
    "observation_distribution",
    "pca_networks",
    "pretrain",
    "pretrain_autoencoder",
    "pretrain_contrastive",
    "pretrain_tsne",
    "tsne_targets",
]
