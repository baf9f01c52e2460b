"""Packaging as a user meets it: extras named in error messages exist, the version has a changelog entry."""

import importlib
import re
import sys
from pathlib import Path

import pytest
import tomllib

import pyro_drpm
from pyro_drpm._optional import require_extra

ROOT = Path(__file__).parents[1]
EXTRAS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def test_missing_scikit_learn_names_the_clustering_extra(monkeypatch):
    for name in [name for name in sys.modules if name.startswith("pyro_drpm.models.clustering")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "sklearn", None)  # makes `import sklearn` raise ModuleNotFoundError
    with pytest.raises(ImportError, match=re.escape("pip install 'pyro-drpm[clustering]'")) as info:
        importlib.import_module("pyro_drpm.models.clustering")
    assert "scikit-learn" in str(info.value)
    assert not isinstance(info.value, ModuleNotFoundError), "a bare ModuleNotFoundError does not name the extra"


def test_the_clustering_extra_installs_what_the_application_requires():
    requirements = " ".join(EXTRAS["clustering"])
    assert "scikit-learn" in requirements and "scipy" in requirements


def test_a_missing_module_inside_an_installed_one_is_not_blamed_on_the_extra(monkeypatch, tmp_path):
    (tmp_path / "installed_but_broken.py").write_text("import not_installed_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="not_installed_anywhere"):
        require_extra("clustering", "installed_but_broken")


def test_extras_are_named_by_what_they_enable_and_all_installs_every_one():
    assert {"clustering", "tutorials", "docs", "test", "dev", "all"} <= set(EXTRAS)
    (everything,) = EXTRAS["all"]
    listed = set(re.fullmatch(r"pyro-drpm\[(.*)\]", everything).group(1).split(","))
    assert listed == set(EXTRAS) - {"all"}


def test_version_has_a_changelog_entry():
    assert re.fullmatch(r"\d+\.\d+\.\d+(\.dev\d+|rc\d+)?", pyro_drpm.__version__)
    assert f"## {pyro_drpm.__version__} " in (ROOT / "CHANGELOG.md").read_text()
