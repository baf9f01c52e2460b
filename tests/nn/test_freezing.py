"""freeze_: parameters become buffers, so a PyroModule never registers them."""

import pyro
import torch
from pyro.nn import PyroModule
from torch import nn

from pyro_drpm.nn import freeze_


def test_frozen_layers_keep_values_and_are_not_pyro_params():
    layer = nn.Linear(3, 2)
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    freeze_(layer)
    assert list(layer.parameters()) == []
    assert all(torch.equal(before[k], v) for k, v in layer.state_dict().items())

    class Holder(PyroModule):
        def __init__(self):
            super().__init__()
            self.frozen, self.free = layer, nn.Linear(2, 1)

        def forward(self, x):
            return self.free(self.frozen(x))

    with pyro.poutine.trace(param_only=True) as tape:
        Holder()(torch.zeros(3))
    names = set(tape.trace.nodes)
    assert names and not any("frozen" in name for name in names)
