"""The shared numerics of :mod:`pyro_drpm.ops` against torch's own functions."""

import itertools

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from pyro_drpm.ops import broadcast_shapes, expm1

_shapes = st.lists(st.lists(st.sampled_from([0, 1, 2, 3]), max_size=3), max_size=4)


@given(_shapes)
def test_broadcast_shapes_agrees_with_torch_in_result_and_error(shapes):
    try:
        expected = torch.broadcast_shapes(*shapes)
    except RuntimeError:
        with pytest.raises(RuntimeError, match="cannot be broadcast"):
            broadcast_shapes(*shapes)
    else:
        assert broadcast_shapes(*shapes) == expected
        assert isinstance(broadcast_shapes(*shapes), torch.Size)


def test_broadcast_shapes_takes_sizes_and_integers_as_torch_does():
    cases = [(), ((),), (torch.Size([2, 1]), torch.Size([3])), (2, (3, 1)), ((0,), (1,)), ((5, 0), (1,))]
    for shapes in cases:
        assert broadcast_shapes(*shapes) == torch.broadcast_shapes(*shapes)
    for shapes in itertools.product([(2,), (3,)], repeat=2):
        if shapes[0] != shapes[1]:
            with pytest.raises(RuntimeError):
                broadcast_shapes(*shapes)


def test_eager_expm1_is_torchs_in_place_or_not():
    x = torch.linspace(-5, 5, 11)
    assert torch.equal(expm1(x), torch.expm1(x))
    y = x.clone()
    assert expm1(y, inplace=True) is y and torch.equal(y, torch.expm1(x))
