"""The examples on the documentation's own pages run (doctest), as the docstrings' examples do."""

import doctest
from pathlib import Path

import pytest
import torch

PAGES = sorted((Path(__file__).parents[1] / "docs").glob("*.md"))


@pytest.mark.parametrize("page", PAGES, ids=[page.stem for page in PAGES])
def test_docs_page_examples(page):
    torch.manual_seed(0)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testfile(str(page), module_relative=False, optionflags=flags, verbose=False)
    assert result.failed == 0, f"{result.failed} example(s) failed in {page.name}"


def test_every_exported_name_has_an_api_entry(monkeypatch):
    """The generated API pages document each name of every public package's ``__all__`` (docs/_ext/api_pages.py)."""
    pytest.importorskip("sphinx")
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "docs" / "_ext"))
    import api_pages

    api_pages.CANONICAL.update(api_pages.canonical_names())
    documented = {
        f"{module}.{name}" for module, _ in api_pages.public_modules() for name in api_pages.documented_here(module)
    }
    packages = [name for name, is_package in api_pages.public_modules() if is_package]
    missing = [entry for package in packages for entry in api_pages.package_entries(package) if entry not in documented]
    assert not missing, f"exported but without an API entry: {missing}"
    assert "pyro_drpm.distributions.drpm.DRPM" in documented


def test_a_tutorial_page_without_its_saved_figures_is_reported(monkeypatch, tmp_path, caplog):
    pytest.importorskip("myst_nb")
    from docutils import nodes
    from docutils.utils import new_document

    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "docs" / "_ext"))
    import tutorial_notebooks

    (tmp_path / "demo").mkdir()
    for name in ("a.png", "b.png"):
        (tmp_path / "demo" / name).write_bytes(b"")
    monkeypatch.setattr(tutorial_notebooks, "FIGURES", [tmp_path])
    page = new_document("demo")
    page += nodes.image(uri="a.png")
    tutorial_notebooks.check_figures(None, page, "tutorials/demo")
    assert "saved 2 PNG figure(s) but its page shows 1" in caplog.text
    caplog.clear()
    page += nodes.image(uri="b.png")
    tutorial_notebooks.check_figures(None, page, "tutorials/demo")
    assert "PNG" not in caplog.text
