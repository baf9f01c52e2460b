"""The layout's rules: light imports, no application importing another or being imported from below, old paths."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "pyro_drpm"
# the first release's path of the clustering metrics, kept working for users: the one exception to the rules
COMPATIBILITY_SHIMS = {PACKAGE / "metrics.py"}


@pytest.mark.parametrize("module", ["pyro_drpm", "pyro_drpm.distributions", "pyro_drpm.partitions", "pyro_drpm.models"])
def test_core_imports_pull_in_neither_scikit_learn_nor_matplotlib(module):
    code = f"import sys, {module}; print('sklearn' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_nothing_below_models_imports_an_application_and_applications_stay_apart():
    for path in set(PACKAGE.rglob("*.py")) - COMPATIBILITY_SHIMS:
        parts = path.relative_to(PACKAGE).parts
        imported = {name for name in _imports(path) if name.startswith("pyro_drpm.models.")}
        if parts[0] != "models":
            assert not imported, f"{path} imports an application: {imported}"
        elif len(parts) > 2:
            own = f"pyro_drpm.models.{parts[1]}"
            others = {name for name in imported if not name.startswith(own)}
            assert not others, f"{path} imports another application: {others}"


def test_old_import_paths_still_work():
    from pyro_drpm.models.drpm_vc import AssignedNormal
    from pyro_drpm.models.pretraining import fit_gaussian_mixture, minibatches

    from pyro_drpm.metrics import clustering_scores
    from pyro_drpm.models import DRPMVC, DRPMClustering, pretrain, train_svi
    from pyro_drpm.models.clustering import DRPMClustering as new

    assert DRPMClustering is new
    assert all(callable(f) for f in (clustering_scores, pretrain, train_svi, fit_gaussian_mixture, minibatches))
    assert DRPMVC.__name__ == "DRPMVC" and AssignedNormal.__name__ == "AssignedNormal"
