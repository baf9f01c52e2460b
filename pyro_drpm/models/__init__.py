"""Applications, one sub-package each: :mod:`pyro_drpm.models.clustering` (variational clustering),
:mod:`pyro_drpm.models.multitask` (units split among tasks) and :mod:`pyro_drpm.models.shared_factors` (shared
and independent generative factors of paired observations).

Importing this package imports no application. The names and module paths of the first release
(``pyro_drpm.models.DRPMClustering``, ``pyro_drpm.models.pretraining``, ...) still resolve, to the objects'
new homes.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

_CLUSTERING = "pyro_drpm.models.clustering"
#: old module path (below ``pyro_drpm.models``) -> the modules that now hold its public contents
_MOVED_MODULES = {
    "base": [f"{_CLUSTERING}.base"],
    "drpm_vc": [f"{_CLUSTERING}.drpm_vc", "pyro_drpm.distributions.assigned_normal", f"{_CLUSTERING}.initialisation"],
    "estimators": [f"{_CLUSTERING}.estimators"],
    "mixture_baselines": [f"{_CLUSTERING}.mixture_baselines"],
    "sklearn_baselines": [f"{_CLUSTERING}.sklearn_baselines"],
    "networks": ["pyro_drpm.nn.mlp"],
    "pretraining": [
        "pyro_drpm.nn.pretraining",
        "pyro_drpm.nn.augmentation",
        "pyro_drpm.infer.minibatch",
        f"{_CLUSTERING}.initialisation",
    ],
    "training": ["pyro_drpm.infer.training"],
}

#: old attribute of ``pyro_drpm.models`` -> the module that now defines it
_MOVED_NAMES = {
    **dict.fromkeys(
        "DPMixtureClustering DRPMClustering DRPMVC DeepClusteringEstimator EmbeddingClustering IIDMixtureVAE "
        "LatentClusteringModel StickBreakingMixtureVAE VaDEClustering fit_gaussian_mixture sklearn_baselines".split(),
        _CLUSTERING,
    ),
    **dict.fromkeys(["MLPDecoder", "MLPEncoder", "PretrainedAutoencoder", "pretrain"], "pyro_drpm.nn"),
    "train_svi": "pyro_drpm.infer",
}


def __getattr__(name: str):
    if name in _MOVED_NAMES:
        return getattr(importlib.import_module(_MOVED_NAMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports ``pyro_drpm.models.<old>`` as a module exposing the public contents of its new home."""

    def find_spec(self, fullname, path, target=None):
        package, _, old = fullname.rpartition(".")
        if package == __name__ and old in _MOVED_MODULES:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def exec_module(self, module) -> None:
        targets = [importlib.import_module(name) for name in _MOVED_MODULES[module.__name__.rpartition(".")[2]]]
        module.__all__ = []
        for target in targets:
            module.__dict__.update({name: getattr(target, name) for name in target.__all__})
            module.__all__ += target.__all__
        module.__doc__ = "Moved to " + ", ".join(f":mod:`{target.__name__}`" for target in targets) + "."


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules())
