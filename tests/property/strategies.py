"""Hypothesis strategies for the distributions' parameters: shapes, dtypes, extreme logits, temperatures.

Every strategy draws a :class:`Drawn`: the distribution class, its constructor keyword arguments and the
names of the tensor parameters that must receive gradients. Batch shapes include empty and broadcasting ones;
``n`` and ``K`` start at 1; logits reach +-1e3 in float32 and +-1e4 in float64; temperatures span 1e-3..1e2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

from pyro_drpm.distributions import DRPM, MVHG, ChineseRestaurantProcess, PlackettLuce

DTYPES = [torch.float32, torch.float64]
# The largest logit magnitude per dtype that the issue asks for (the distributions work in log space).
LOGIT_BOUND = {torch.float32: 1e3, torch.float64: 1e4}
MAX_ELEMENTS = 5  # n: the DRPM's log_prob integrates per block; tiny sets keep examples fast
MAX_SUBSETS = 4  # K


@dataclass
class Drawn:
    cls: type
    kwargs: dict
    grad_params: tuple[str, ...]

    def build(self, requires_grad: bool = False, **overrides):
        kwargs = dict(self.kwargs, **overrides)
        if requires_grad:
            for name in self.grad_params:
                kwargs[name] = kwargs[name].detach().clone().requires_grad_(True)
        return self.cls(**kwargs), kwargs


@st.composite
def batch_shapes(draw, num_shapes: int):
    """``num_shapes`` mutually broadcastable batch shapes (dimensions of size 0 to 3, so empty ones too)."""
    shapes = draw(mutually_broadcastable_shapes(num_shapes=num_shapes, max_dims=2, min_side=0, max_side=3))
    return [tuple(shape) for shape in shapes.input_shapes]


@st.composite
def logits(draw, shape, dtype):
    """Logits of ``shape``: ordinary (|x| <= 3), extreme (up to the dtype's bound) or all equal (ties)."""
    bound = LOGIT_BOUND[dtype]
    kind = draw(st.sampled_from(["ordinary", "extreme", "ties"]))
    size = int(np.prod(shape))
    if kind == "ties":
        return torch.full(shape, draw(st.floats(-bound, bound)), dtype=dtype)
    scale = 3.0 if kind == "ordinary" else bound
    width = 32 if dtype == torch.float32 else 64
    values = draw(st.lists(st.floats(-scale, scale, width=width), min_size=size, max_size=size))
    return torch.tensor(values, dtype=dtype).reshape(shape)


temperatures = st.floats(-3.0, 2.0).map(lambda exponent: 10.0**exponent)  # 1e-3 .. 1e2, log-uniform


@st.composite
def options(draw, dtype, with_relaxation: bool):
    temperature = draw(temperatures)
    if draw(st.booleans()):
        temperature = torch.tensor(temperature, dtype=dtype)
    out = {"temperature": temperature, "hard": draw(st.booleans())}
    if with_relaxation:
        out["relaxation"] = draw(st.sampled_from(["neuralsort", "softsort"]))
    return out


@st.composite
def plackett_luce(draw):
    dtype = draw(st.sampled_from(DTYPES))
    (batch,) = draw(batch_shapes(1))
    n = draw(st.integers(1, MAX_ELEMENTS))
    kwargs = {"logits": draw(logits(batch + (n,), dtype)), **draw(options(dtype, True))}
    return Drawn(PlackettLuce, kwargs, ("logits",))


@st.composite
def urns(draw, shape, dtype, at_least=0):
    """Class sizes of ``shape`` (``(..., K)``), 0 to 6 balls per class, at least ``at_least`` balls in total."""
    size = int(np.prod(shape))
    sizes = torch.tensor(draw(st.lists(st.integers(0, 6), min_size=size, max_size=size)), dtype=dtype)
    sizes = sizes.reshape(shape)
    if at_least and size:
        short = (at_least - sizes.sum(-1, keepdim=True)).clamp(min=0)
        sizes = sizes + torch.nn.functional.one_hot(torch.zeros(shape[:-1], dtype=torch.long), shape[-1]) * short
    return sizes


@st.composite
def mvhg(draw):
    dtype = draw(st.sampled_from(DTYPES))
    size_batch, total_batch, logit_batch = draw(batch_shapes(3))
    k = draw(st.integers(1, MAX_SUBSETS))
    class_sizes = draw(urns(size_batch + (k,), dtype))
    # every broadcast pairing of a total with an urn must be feasible: draw below the smallest urn
    smallest = int(class_sizes.sum(-1).min()) if class_sizes.numel() else 0
    fraction = draw(st.floats(0.0, 1.0))
    total = torch.full(total_batch, float(int(fraction * smallest)), dtype=dtype)
    kwargs = {
        "class_sizes": class_sizes,
        "total_count": total,
        "logits": draw(logits(logit_batch + (k,), dtype)),
        **draw(options(dtype, False)),
    }
    return Drawn(MVHG, kwargs, ("logits",))


@st.composite
def drpm(draw):
    dtype = draw(st.sampled_from(DTYPES))
    size_batch, score_batch, urn_batch = draw(batch_shapes(3))
    k, n = draw(st.integers(1, MAX_SUBSETS)), draw(st.integers(1, MAX_ELEMENTS))
    kwargs = {
        "size_logits": draw(logits(size_batch + (k,), dtype)),
        "score_logits": draw(logits(score_batch + (n,), dtype)),
        **draw(options(dtype, True)),
    }
    if draw(st.booleans()):
        kwargs["class_sizes"] = draw(urns(urn_batch + (k,), dtype, at_least=n))
    return Drawn(DRPM, kwargs, ("size_logits", "score_logits"))


@st.composite
def crp(draw):
    dtype = draw(st.sampled_from(DTYPES))
    (batch,) = draw(batch_shapes(1))
    size = int(np.prod(batch))
    alphas = draw(st.lists(temperatures, min_size=size, max_size=size))  # 1e-3 .. 1e2 as well
    kwargs = {
        "concentration": torch.tensor(alphas, dtype=dtype).reshape(batch),
        "num_subsets": draw(st.integers(1, MAX_SUBSETS)),
        "num_elements": draw(st.integers(1, MAX_ELEMENTS)),
    }
    return Drawn(ChineseRestaurantProcess, kwargs, ("concentration",))


distributions = st.one_of(plackett_luce(), mvhg(), drpm(), crp())


def off_support(dist, value: torch.Tensor) -> torch.Tensor:
    """A value of the same shape outside the support: fractional counts, or a 0/1 matrix with an entry 2."""
    if isinstance(dist, MVHG):
        return value + 0.5
    return value * 2
