"""Multitask learning: a DRPM partitions a shared representation's units among the tasks, per input; baselines.

:class:`PartitionedMultitaskNet` is the DRPM model; :class:`SharedMultitaskNet` and
:class:`FixedSplitMultitaskNet` are its baselines, :class:`UncertaintyWeighting` a learned loss weighting;
:func:`train_multitask` and :func:`evaluate_multitask` train and score any of them.
"""

from pyro_drpm.models.multitask.base import MultitaskNet, units_per_task
from pyro_drpm.models.multitask.baselines import FixedSplitMultitaskNet, SharedMultitaskNet
from pyro_drpm.models.multitask.loss_weighting import SumOfLosses, UncertaintyWeighting
from pyro_drpm.models.multitask.partitioned import PAPER_REGULARIZATION, PartitionedMultitaskNet
from pyro_drpm.models.multitask.training import evaluate_multitask, train_multitask

__all__ = [
    "PAPER_REGULARIZATION",
    "FixedSplitMultitaskNet",
    "MultitaskNet",
    "PartitionedMultitaskNet",
    "SharedMultitaskNet",
    "SumOfLosses",
    "UncertaintyWeighting",
    "evaluate_multitask",
    "train_multitask",
    "units_per_task",
]
