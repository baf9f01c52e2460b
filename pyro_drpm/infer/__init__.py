"""Inference utilities: the SVI training loop, mini-batching, schedules, the path-derivative estimator."""

from pyro_drpm.infer.minibatch import minibatches
from pyro_drpm.infer.path_derivative import PathDerivative
from pyro_drpm.infer.schedules import ConstantSchedule, ExponentialSchedule, LinearSchedule, Schedule
from pyro_drpm.infer.training import ELBOS, SVIModel, evaluate_elbo, svi_optimizer, train_svi

__all__ = [
    "ELBOS",
    "ConstantSchedule",
    "ExponentialSchedule",
    "LinearSchedule",
    "PathDerivative",
    "SVIModel",
    "Schedule",
    "evaluate_elbo",
    "minibatches",
    "svi_optimizer",
    "train_svi",
]
