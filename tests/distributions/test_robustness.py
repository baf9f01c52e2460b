"""Regression tests for the robustness defects of issue 10 (one test, or a few, per defect)."""

import inspect

import pyro
import pytest
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import Adam

from pyro_drpm.distributions import DRPM, MVHG, ChineseRestaurantProcess, PlackettLuce
from pyro_drpm.relaxations.windows import soft_window_matrix, window_matrix
from tests.conftest import DEVICES
from tests.distributions.device_audit import host_reads

F64 = torch.float64


# -- 1. one subset ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("window", [window_matrix, soft_window_matrix])
def test_window_matrix_with_one_subset_is_a_row_of_ones(window):
    counts = torch.tensor([[3.0], [3.0]], dtype=F64)
    assert torch.equal(window(counts, 3), torch.ones(2, 1, 3, dtype=F64))
    assert torch.equal(window(torch.tensor([3.0]), 3), torch.ones(1, 3))


@pytest.mark.parametrize("method", ["sample", "rsample"])
def test_drpm_with_one_subset_puts_every_element_in_it(method):
    d = DRPM(torch.zeros(1, dtype=F64), torch.zeros(3, dtype=F64))
    value = getattr(d, method)(torch.Size((4,)))
    assert value.shape == (4, 1, 3)
    assert torch.equal(value, torch.ones(4, 1, 3, dtype=F64))
    assert torch.allclose(d.log_prob(value), torch.zeros(4, dtype=F64))


def test_drpm_with_one_subset_runs_under_trace_elbo():
    def model():
        pyro.sample("partition", DRPM(torch.zeros(1), torch.zeros(3)))

    def guide():
        scores = pyro.param("scores", torch.zeros(3))
        pyro.sample("partition", DRPM(torch.zeros(1), scores))

    svi = SVI(model, guide, Adam({"lr": 0.1}), Trace_ELBO())
    assert abs(svi.step()) < 1e-5  # one partition only: model and guide agree, the ELBO is log 1 = 0


# -- 2. the CRP sampler creates its tensors on the concentration's device ------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_crp_samples_on_the_device_of_its_concentration(device):
    crp = ChineseRestaurantProcess(torch.tensor([0.5, 2.0], device=device), 3, 5)
    value = crp.sample(torch.Size((7,)))
    assert value.device == crp.concentration.device
    assert crp.support.check(value).all()


# -- 3. construction with validation off never raises on values (and reads no device data) --------------------


_BAD_VALUES = [
    (PlackettLuce, {"logits": torch.tensor([0.0, float("nan")]), "temperature": 0.0}),
    (DRPM, {"size_logits": torch.tensor([float("inf"), 0.0]), "score_logits": torch.tensor([0.0, float("nan")])}),
    (DRPM, {"size_logits": torch.zeros(2), "score_logits": torch.zeros(3), "class_sizes": torch.tensor([1.0, -0.5])}),
    (MVHG, {"class_sizes": torch.tensor([1.0, 2.5]), "total_count": torch.tensor(9.0), "logits": torch.zeros(2)}),
    (MVHG, {"class_sizes": torch.ones(2), "total_count": torch.tensor(-1.0), "logits": torch.tensor([0.0, 1e400])}),
    (ChineseRestaurantProcess, {"concentration": torch.tensor(-1.0), "num_subsets": 2, "num_elements": 3}),
    (ChineseRestaurantProcess, {"concentration": torch.tensor(float("nan")), "num_subsets": 2, "num_elements": 3}),
]


@pytest.mark.parametrize(("cls", "kwargs"), _BAD_VALUES, ids=lambda x: getattr(x, "__name__", ""))
def test_construction_with_bad_values_raises_only_under_validation(cls, kwargs):
    with host_reads() as reads:
        cls(**kwargs, validate_args=False)
    assert reads == [], "construction with validation off must not read tensor values on the host"
    with pytest.raises(ValueError):
        cls(**kwargs, validate_args=True)


# -- 4. options are keyword-only -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "parameters"),
    [
        (PlackettLuce, ["logits"]),
        (DRPM, ["size_logits", "score_logits"]),
        (MVHG, ["class_sizes", "total_count", "logits"]),
        (ChineseRestaurantProcess, ["concentration", "num_subsets", "num_elements"]),
    ],
)
def test_options_are_keyword_only(cls, parameters):
    signature = inspect.signature(cls.__init__)
    positional = [p.name for p in signature.parameters.values() if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    assert positional == ["self", *parameters]
    assert "validate_args" in signature.parameters
    assert signature.parameters["validate_args"].kind is inspect.Parameter.KEYWORD_ONLY
    with pytest.raises(TypeError):
        PlackettLuce(torch.zeros(3), 0.5)


# -- 6. 7. 8. infer_shapes and enumerate_support conventions ---------------------------------------------------


def test_plackett_luce_infer_shapes_accepts_option_shapes():
    assert PlackettLuce.infer_shapes(logits=torch.Size([4]), temperature=()) == (torch.Size([]), (4, 4))
    assert PlackettLuce.infer_shapes(logits=torch.Size([2, 3])) == (torch.Size([2]), (3, 3))


def test_crp_infer_shapes_says_it_cannot_know_the_event_shape():
    with pytest.raises(NotImplementedError, match="num_subsets, num_elements"):
        ChineseRestaurantProcess.infer_shapes(concentration=torch.Size([]), num_subsets=(), num_elements=())


def test_mvhg_enumerate_support_of_a_batched_urn_is_not_implemented():
    d = MVHG(torch.tensor([[2.0, 3.0], [3.0, 3.0]]), torch.tensor(2.0), torch.zeros(2))
    with pytest.raises(NotImplementedError, match="same for the whole batch"):
        d.enumerate_support()
    # a batch that shares one urn still enumerates (logits may differ)
    shared = MVHG(torch.tensor([2.0, 3.0]), torch.tensor(2.0), torch.randn(4, 2))
    assert shared.enumerate_support().shape == (3, 4, 2)


# -- found by the property suite -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: DRPM(torch.zeros(0, 2), torch.zeros(3), validate_args=True),
        lambda: MVHG(torch.ones(0, 2), torch.tensor(1.0), torch.zeros(2), validate_args=True),
    ],
    ids=["DRPM", "MVHG"],
)
def test_an_empty_batch_constructs_samples_and_scores(make):
    """Validation of an empty batch crashed in ``independent(nonnegative_integer, 1)``, and the MVHG's FFT of an
    empty batch in MKL."""
    d = make()
    for method in ("sample", "rsample"):
        value = getattr(d, method)(torch.Size((2,)))
        assert value.shape == (2, 0) + d.event_shape
        assert d.log_prob(value).shape == (2, 0)


# -- the MVHG draws through the shared relaxation ---------------------------------------------------------------


def test_mvhg_rsample_relaxes_through_relaxations_gumbel_softmax(monkeypatch):
    """One Gumbel-softmax in the package: the MVHG's relaxed counts come from ``relaxations.gumbel_softmax``
    (doubling its soft output must change the gradient; the forward value stays the exact count)."""
    from pyro_drpm.distributions import noncentral_hypergeometric as module

    sizes, logits = torch.tensor([4.0, 3.0, 5.0], dtype=F64), torch.tensor([0.3, -0.2, 0.5], dtype=F64)

    def gradient(seed):
        torch.manual_seed(seed)
        a = logits.clone().requires_grad_(True)
        value = MVHG(sizes, 6, a, temperature=0.5).rsample(torch.Size((5,)))
        (grad,) = torch.autograd.grad((value * torch.arange(1.0, 4.0, dtype=F64)).sum(), a)
        return value.detach(), grad

    value, grad = gradient(0)
    calls, original = [], module.gumbel_softmax

    def doubled(logits, temperature, noise=None, dim=-1):
        calls.append(temperature)
        hard, soft = original(logits, temperature, noise, dim)
        return hard, 2 * soft

    monkeypatch.setattr(module, "gumbel_softmax", doubled)
    value_doubled, grad_doubled = gradient(0)
    assert calls and all(t == 0.5 for t in calls)
    assert torch.equal(value_doubled, value)
    assert not torch.allclose(grad_doubled, grad)
