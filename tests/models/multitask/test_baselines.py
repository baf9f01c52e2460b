"""The baselines: a fully shared representation, a fixed even split, uncertainty weighting of the task losses."""

import pytest
import torch
from torch import nn

from pyro_drpm.models.multitask import FixedSplitMultitaskNet, SharedMultitaskNet, SumOfLosses, UncertaintyWeighting


def _heads(n_units, n_tasks=2):
    return [nn.Linear(n_units, 3) for _ in range(n_tasks)]


def test_shared_heads_see_every_unit():
    net = SharedMultitaskNet(nn.Identity(), _heads(4), 4)
    x = torch.randn(3, 4)
    outputs, mask = net(x)
    assert torch.equal(mask, torch.ones(3, 2, 4))
    torch.testing.assert_close(outputs[1], net.heads[1](x))
    assert net.regularizer(mask).item() == 0.0


@pytest.mark.parametrize("n_units, blocks", [(6, [3, 3]), (7, [4, 3])])
def test_fixed_split_is_a_partition_into_near_equal_contiguous_blocks(n_units, blocks):
    net = FixedSplitMultitaskNet(nn.Identity(), _heads(n_units), n_units)
    x = torch.randn(5, n_units)
    outputs, mask = net(x)
    assert torch.equal(mask.sum(-2), torch.ones(5, n_units))
    assert mask[0].sum(-1).tolist() == blocks
    assert torch.equal(mask[0, 0, : blocks[0]], torch.ones(blocks[0]))
    # the head input is the block, rescaled by n_units / block size like the partitioned network's
    torch.testing.assert_close(outputs[0], net.heads[0](x * mask[0, 0] * n_units / blocks[0]))


def test_uncertainty_weighting_is_kendalls_classification_loss_and_downweights_the_harder_task():
    weighting = UncertaintyWeighting(2)
    losses = torch.tensor([0.5, 2.0])
    assert weighting(losses).item() == pytest.approx(2.5)
    with torch.no_grad():
        weighting.log_variance.copy_(torch.tensor([0.0, 1.0]))
    assert weighting(losses).item() == pytest.approx(0.5 + 2.0 * torch.exp(torch.tensor(-1.0)).item() + 0.5)
    optimizer = torch.optim.SGD(weighting.parameters(), lr=0.1)
    for _ in range(300):
        optimizer.zero_grad()
        weighting(losses).backward()
        optimizer.step()
    # the optimum is exp(-s_t) = 1 / (2 L_t): weight 1 for the easy task, 1/4 for the hard one
    torch.testing.assert_close(torch.exp(-weighting.log_variance.detach()), 1 / (2 * losses), rtol=1e-3, atol=0)
    assert SumOfLosses()(losses).item() == 2.5


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="n_units"):
        FixedSplitMultitaskNet(nn.Identity(), _heads(1, 3), 1)
    with pytest.raises(ValueError, match="n_units"):
        SharedMultitaskNet(nn.Identity(), _heads(4), 5)(torch.randn(2, 4))
    with pytest.raises(ValueError, match="n_tasks"):
        UncertaintyWeighting(0)
    with pytest.raises(ValueError, match="task_losses"):
        UncertaintyWeighting(2)(torch.ones(3))
