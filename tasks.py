"""The project's single entry point: ``python3 tasks.py {run,test,test-fast,lint,format,bench}``.

Needs nothing but Python 3.10+. Every command first creates (or reuses) the virtual environment ``.venv`` and
installs the project into it: the pinned CPU build of torch first (a bare ``torch`` requirement could pull a
multi-GB CUDA build), then ``pyro-drpm`` with all its extras. The environment is reinstalled when
``pyproject.toml`` changes. The Makefile's targets call this script.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("VENV", ROOT / ".venv"))
TORCH_PIN = os.environ.get("TORCH_PIN", "torch==2.13.0")
LINTED = ["pyro_drpm", "tests", "tutorials", "benchmarks", "tasks.py"]


def _python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _run(*command) -> None:
    print("+", " ".join(map(str, command)), flush=True)
    status = subprocess.call([str(c) for c in command], cwd=ROOT)
    if status:
        sys.exit(status)


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
        "venv": lambda py, extra: None,
    }
    if not argv or argv[0] not in commands:
        sys.exit(f"usage: python3 tasks.py {{{','.join(commands)}}} [extra arguments]")
    commands[argv[0]](ensure_environment(), argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
