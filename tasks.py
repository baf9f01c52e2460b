"""The project's single entry point: ``python3 tasks.py {run,test,test-fast,lint,format,bench,docs,wheel}``.

Needs nothing but Python 3.10+. Every command first creates (or reuses) the virtual environment ``.venv`` and
installs the project into it: the pinned CPU build of torch first (a bare ``torch`` requirement could pull a
multi-GB CUDA build), then ``pyro-drpm`` with all its extras. The environment is reinstalled when
``pyproject.toml`` changes. The Makefile's targets call this script.

``docs`` builds the documentation site into ``docs/_build/html`` with warnings as errors, running the tutorials
in their smoke mode (``docs --full``: at full length). ``wheel`` builds the sdist and the wheel into ``dist/``,
installs the wheel (not editable) into a fresh virtual environment and imports and samples from it there.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("VENV", ROOT / ".venv"))
TORCH_PIN = os.environ.get("TORCH_PIN", "torch==2.13.0")
LINTED = ["pyro_drpm", "tests", "tutorials", "benchmarks", "docs", "tasks.py"]


#: run in the fresh environment of ``wheel``, outside the repository so that the installed wheel is imported
WHEEL_SMOKE_CHECK = """
import importlib.metadata, importlib.util, pathlib, sys
import torch
import pyro_drpm
from pyro_drpm.distributions import DRPM

assert "site-packages" in pathlib.Path(pyro_drpm.__file__).parts, pyro_drpm.__file__
assert importlib.metadata.version("pyro-drpm") == pyro_drpm.__version__
partitions = DRPM(torch.zeros(3), torch.zeros(5))
Y = partitions.rsample()
assert Y.shape == (3, 5) and torch.equal(Y.sum(0), torch.ones(5)), Y
assert torch.isfinite(partitions.log_prob(Y))
if importlib.util.find_spec("sklearn") is None:
    try:
        import pyro_drpm.models.clustering
    except ImportError as error:
        assert "pyro-drpm[clustering]" in str(error), error
    else:
        sys.exit("pyro_drpm.models.clustering imported without scikit-learn")
print("wheel smoke check passed: pyro-drpm", pyro_drpm.__version__, "from", pyro_drpm.__file__)
"""


def _python(environment: Path = VENV) -> Path:
    return environment / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _run(*command, cwd: Path = ROOT, env: dict | None = None) -> None:
    print("+", " ".join(map(str, command)), flush=True)
    status = subprocess.call([str(c) for c in command], cwd=cwd, env=env)
    if status:
        sys.exit(status)


def docs(py: Path, extra: list[str]) -> None:
    """Build the site into docs/_build/html; warnings are errors, every cross-reference must resolve."""
    full = "--full" in extra
    env = {**os.environ, "PYRO_DRPM_DOCS_FULL": "1" if full else "0"}
    options = [argument for argument in extra if argument != "--full"]
    _run(py, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-n", "docs", "docs/_build/html", *options, env=env)


def wheel(py: Path, extra: list[str]) -> None:
    """Build sdist and wheel, install the wheel into a fresh venv (pinned torch first) and smoke-test it."""
    dist = ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    _run(py, "-m", "build", "--outdir", dist, *extra)  # the sdist, then the wheel built from the sdist
    (wheel_file,) = dist.glob("*.whl")
    with tempfile.TemporaryDirectory() as scratch:
        environment = Path(scratch) / "venv"
        venv.create(environment, with_pip=True)
        _run(_python(environment), "-m", "pip", "install", "--quiet", TORCH_PIN)
        _run(_python(environment), "-m", "pip", "install", "--quiet", wheel_file)
        _run(_python(environment), "-c", WHEEL_SMOKE_CHECK, cwd=Path(scratch))


def ensure_environment() -> Path:
    """Create ``.venv`` and install the project, unless an install of the current pyproject.toml is there."""
    stamp = VENV / ".pyro_drpm-installed"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + TORCH_PIN.encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest and _python().exists():
        return _python()
    if not _python().exists():
        print(f"creating the virtual environment {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    _run(_python(), "-m", "pip", "install", "--quiet", TORCH_PIN)
    _run(_python(), "-m", "pip", "install", "--quiet", "-e", ".[all]")
    stamp.write_text(digest)
    return _python()


def main(argv: list[str]) -> None:
    commands = {
        # the main job: DRPM variational clustering vs Dirichlet-process and mixture baselines on digits
        "run": lambda py, extra: _run(py, "benchmarks/clustering_comparison.py", *extra),
        "test": lambda py, extra: _run(py, "-m", "pytest", "tests", *extra),
        "test-fast": lambda py, extra: _run(py, "-m", "pytest", "tests", "-m", "not slow", *extra),
        "lint": lambda py, extra: (
            _run(py, "-m", "ruff", "check", *LINTED),
            _run(py, "-m", "ruff", "format", "--check", *LINTED),
        ),
        "format": lambda py, extra: (
            _run(py, "-m", "ruff", "check", "--fix", *LINTED),
            _run(py, "-m", "ruff", "format", *LINTED),
        ),
        "bench": lambda py, extra: _run(py, "benchmarks/run_all.py", *extra),
        "docs": docs,
        "wheel": wheel,
        "venv": lambda py, extra: None,
    }
    if not argv or argv[0] not in commands:
        sys.exit(f"usage: python3 tasks.py {{{','.join(commands)}}} [extra arguments]")
    commands[argv[0]](ensure_environment(), argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
