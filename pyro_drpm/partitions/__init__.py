"""Building blocks of partition models: priors over partitions and amortised DRPM guides, as Pyro modules."""

from pyro_drpm.partitions.amortised import AmortisedDRPM, ElementScores, PooledSizes
from pyro_drpm.partitions.cluster_ordered import ClusterOrderedDRPM
from pyro_drpm.partitions.priors import CRPPrior, DRPMPrior, PartitionPrior
from pyro_drpm.partitions.special_cases import DeterministicSizesDRPM, ExchangeableDRPM
from pyro_drpm.partitions.urns import CountsUrn, FullUrn, largest_remainder_round

__all__ = [
    "AmortisedDRPM",
    "CRPPrior",
    "ClusterOrderedDRPM",
    "CountsUrn",
    "DRPMPrior",
    "DeterministicSizesDRPM",
    "ExchangeableDRPM",
    "ElementScores",
    "FullUrn",
    "PartitionPrior",
    "PooledSizes",
    "largest_remainder_round",
]
