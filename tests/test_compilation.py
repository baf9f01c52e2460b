"""The opt-in compiled kernels: off by default, the same results as eager, and an eager fallback that warns."""

import functools
import warnings

import numpy as np
import pytest
import torch

import pyro_drpm
from pyro_drpm.compilation import compiled_kernel
from pyro_drpm.distributions import DRPM
from pyro_drpm.distributions.ordered_blocks import _race_terms, log_race_terms
from pyro_drpm.ops import expm1


@functools.lru_cache(maxsize=1)
def _compiler_works() -> bool:
    """Whether TorchInductor can build a CPU kernel here (it needs a C++ compiler)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return bool(torch.compile(lambda x: x.exp() + 1)(torch.zeros(3)).eq(2).all())
    except Exception:  # noqa: BLE001 - any failure means no compiler to test against
        return False


requires_compiler = pytest.mark.skipif(not _compiler_works(), reason="torch.compile cannot build kernels here")


def test_compilation_is_off_by_default_and_the_context_manager_restores_the_setting():
    assert not pyro_drpm.is_compilation_enabled()
    with pyro_drpm.compilation_enabled():
        assert pyro_drpm.is_compilation_enabled()
        with pyro_drpm.compilation_enabled(False):
            assert not pyro_drpm.is_compilation_enabled()
        assert pyro_drpm.is_compilation_enabled()
    assert not pyro_drpm.is_compilation_enabled()


def test_enable_compilation_rejects_a_non_bool():
    with pytest.raises(ValueError, match="enabled must be a bool"):
        pyro_drpm.enable_compilation("yes")


def test_a_disabled_kernel_never_calls_torch_compile(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("torch.compile called while compilation is disabled")

    monkeypatch.setattr(torch, "compile", refuse)
    d = DRPM(torch.randn(3), torch.randn(20))
    assert torch.isfinite(d.log_prob(d.sample()))


def test_a_kernel_whose_compilation_fails_warns_once_and_runs_eagerly(monkeypatch):
    calls = []

    def broken_compile(function):
        def compiled(*args, **kwargs):
            calls.append("compiled")
            raise RuntimeError("no C++ compiler")

        return compiled

    monkeypatch.setattr(torch, "compile", broken_compile)

    @compiled_kernel
    def double(x):
        return 2 * x

    x = torch.arange(3.0)
    with pyro_drpm.compilation_enabled(), torch.no_grad():
        with pytest.warns(RuntimeWarning, match="compiling .*double failed .*no C\\+\\+ compiler"):
            assert torch.equal(double(x), 2 * x)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert torch.equal(double(x), 2 * x)  # eager from now on, no second warning
    assert calls == ["compiled"]


def test_a_kernel_passes_genuine_errors_through_and_stays_compiled(monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda function: function)  # "compiles" to itself

    @compiled_kernel
    def first_row(x):
        return x[0]

    with pyro_drpm.compilation_enabled(), torch.no_grad():
        with pytest.raises(IndexError):
            first_row(torch.zeros(0))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert float(first_row(torch.ones(2))) == 1.0


def _race_terms_and_gradients(dtype, scale, seed=0, n=64, num_subsets=5):
    generator = torch.Generator().manual_seed(seed)
    logits = (scale * torch.randn(n, generator=generator, dtype=torch.float64)).to(dtype).requires_grad_()
    block = torch.randint(0, num_subsets, (n,), generator=generator)
    assignment = torch.nn.functional.one_hot(block, num_subsets).T.to(dtype).requires_grad_()
    terms = log_race_terms(logits, assignment)
    weights = torch.randn(terms.shape, generator=generator, dtype=dtype)
    return (terms.detach(), *torch.autograd.grad((weights * terms).sum(), (logits, assignment)))


def _kernel_results(dtype, seed):
    """The race terms with their gradients (logits, assignment)."""
    return _race_terms_and_gradients(dtype, 2.0, seed)


@pytest.mark.slow
@requires_compiler
def test_compiled_kernels_give_the_eager_values_and_gradients_in_float64():
    # moderate score spreads: there the interval search converges and both agree to rounding (at extreme spreads
    # its unfinished Newton steps may end elsewhere inside the margin, which the quadrature absorbs)
    for seed in range(3):
        eager = _kernel_results(torch.float64, seed)
        with pyro_drpm.compilation_enabled():
            compiled = _kernel_results(torch.float64, seed)
        for got, want in zip(compiled, eager, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    assert _race_terms._state["compiled"] is not None and not _race_terms._state["failed"]  # it did compile


@pytest.mark.slow
@requires_compiler
def test_compiled_kernels_are_as_accurate_as_eager_ones_in_float32():
    eps = torch.finfo(torch.float32).eps
    for seed in range(3):
        reference = _kernel_results(torch.float64, seed)
        eager = _kernel_results(torch.float32, seed)
        with pyro_drpm.compilation_enabled():
            compiled = _kernel_results(torch.float32, seed)
        for got, fast, exact in zip(compiled, eager, reference, strict=True):
            scale = exact.abs().max()
            error, eager_error = ((x.double() - exact).abs().max() / scale for x in (got, fast))
            assert error <= 3 * max(eager_error, eps), (float(error), float(eager_error))
    assert _race_terms._state["compiled"] is not None and not _race_terms._state["failed"]  # it did compile


@requires_compiler
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_expm1_keeps_its_relative_accuracy_when_compiled(dtype):
    magnitudes = torch.logspace(-30, 1.9, 300, dtype=torch.float64)
    x = torch.cat(
        [magnitudes, -magnitudes, torch.tensor([0.0, -200.0, float("inf"), -float("inf")], dtype=torch.float64)]
    )
    x = x.to(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = torch.compile(expm1)(x)
    exact = torch.expm1(x.double())
    finite = torch.isfinite(exact) & (exact != 0)
    relative = ((compiled.double() - exact).abs() / exact.abs())[finite]
    assert relative.max() <= 4 * torch.finfo(dtype).eps
    assert compiled[-4:].tolist() == [0.0, -1.0, float("inf"), -1.0]
    assert torch.equal(expm1(x), torch.expm1(x))  # eager: torch's own


@pytest.mark.slow
@requires_compiler
@pytest.mark.parametrize("scale", [30.0, 1e3])
def test_compiled_kernels_stay_finite_and_keep_the_eager_value_at_extreme_logits_in_float32(scale):
    eager_terms = _race_terms_and_gradients(torch.float32, scale)[0]
    with pyro_drpm.compilation_enabled():
        compiled = _race_terms_and_gradients(torch.float32, scale)
    assert all(torch.isfinite(result).all() for result in compiled)
    torch.testing.assert_close(compiled[0], eager_terms, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@requires_compiler
def test_an_estimator_fits_with_compiled_kernels_as_it_does_eagerly():
    from sklearn.datasets import make_blobs

    from pyro_drpm.models.clustering import DRPMClustering
    from pyro_drpm.models.clustering.metrics import adjusted_rand_index

    X, y = make_blobs(n_samples=240, centers=4, n_features=5, cluster_std=1.0, random_state=0)
    options = dict(epochs=5, pretrain_epochs=20, batch_size=60, random_state=0, progress=False)
    eager = DRPMClustering(4, **options).fit(X)
    with pyro_drpm.compilation_enabled():
        compiled = DRPMClustering(4, **options).fit(X)
    assert _race_terms._state["compiled"] is not None and not _race_terms._state["failed"]
    # the same training up to rounding: the same clustering, and losses that agree to float32 rounding
    assert adjusted_rand_index(eager.labels_, compiled.labels_) == 1.0
    assert adjusted_rand_index(y, compiled.labels_) > 0.95
    np.testing.assert_allclose(compiled.history_, eager.history_, rtol=1e-3)
