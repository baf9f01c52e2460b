"""The VaDE-style i.i.d. mixture and the truncated stick-breaking DP mixture (Pyro model/guide pairs)."""

import pyro
import pytest
import torch
from pyro.infer import Trace_ELBO

from pyro_drpm.infer import train_svi
from pyro_drpm.models.clustering import MixtureInit
from pyro_drpm.models.clustering.mixture_baselines import (
    IIDMixtureVAE,
    StickBreakingMixtureVAE,
    stick_breaking_log_weights,
)
from pyro_drpm.nn import MLPDecoder, MLPEncoder


def _networks():
    return MLPEncoder(6, 2, (8,)), MLPDecoder(2, 6, (8,))


def test_stick_breaking_weights():
    v = torch.tensor([0.5, 0.5, 0.2], dtype=torch.float64)
    weights = stick_breaking_log_weights(v).exp()
    torch.testing.assert_close(weights, torch.tensor([0.5, 0.25, 0.05, 0.2], dtype=torch.float64))


@pytest.mark.parametrize("cls", [IIDMixtureVAE, StickBreakingMixtureVAE])
def test_svi_steps_give_finite_elbo_and_train_every_parameter(cls):
    model = cls(*_networks(), n_components=3)
    if cls is StickBreakingMixtureVAE:
        model.dataset_size = 40
    x = torch.rand(10, 6)
    loss = Trace_ELBO().differentiable_loss(model.model, model.guide, x)
    assert torch.isfinite(loss)
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name
    with pyro.get_param_store().scope():
        history = train_svi(model, torch.rand(40, 6), epochs=3, batch_size=10)
    assert len(history) == 3 and all(torch.isfinite(torch.tensor(history)))
    torch.testing.assert_close(model.log_weights().exp().sum().detach(), torch.tensor(1.0))


def test_dp_init_sorts_components_by_weight_and_sets_the_stick_posterior():
    model = StickBreakingMixtureVAE(*_networks(), n_components=3, concentration=2.0, dataset_size=100)
    init = MixtureInit(
        weights=torch.tensor([0.2, 0.7, 0.1]),
        locs=torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]),
        scales=torch.ones(3, 2),
        labels=None,
    )
    model.init_from_mixture(init)
    torch.testing.assert_close(model.locs[0], torch.tensor([1.0, 1.0]))
    # a_0 = 1 + 70, b_0 = alpha + 20 + 10
    torch.testing.assert_close(model.stick_log_a.exp()[0], torch.tensor(71.0))
    torch.testing.assert_close(model.stick_log_b.exp()[0], torch.tensor(32.0))
    weights = model.log_weights().exp().detach()
    assert weights.argmax() == 0 and abs(float(weights.sum()) - 1) < 1e-6


def test_dp_global_sites_are_scaled_by_batch_fraction():
    model = StickBreakingMixtureVAE(*_networks(), n_components=3, dataset_size=40)
    trace = pyro.poutine.trace(model.guide).get_trace(torch.rand(10, 6))
    assert trace.nodes["v"]["scale"] == pytest.approx(0.25)


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_components"):
        IIDMixtureVAE(*_networks(), n_components=0)
    with pytest.raises(ValueError, match="truncation"):
        StickBreakingMixtureVAE(*_networks(), n_components=1)
    with pytest.raises(ValueError, match="concentration"):
        StickBreakingMixtureVAE(*_networks(), n_components=3, concentration=0.0)
    with pytest.raises(ValueError, match="beta"):
        IIDMixtureVAE(*_networks(), n_components=2, beta=-1.0)
