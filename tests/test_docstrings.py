"""Every example in the package's docstrings runs (doctest), so the documentation cannot drift from the code."""

import doctest
import importlib
import pkgutil

import pytest
import torch

import pyro_drpm

MODULES = sorted(
    name
    for _, name, _ in pkgutil.walk_packages(pyro_drpm.__path__, prefix="pyro_drpm.")
    if not name.rsplit(".", 1)[-1].startswith("_")
)


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name):
    module = importlib.import_module(module_name)
    torch.manual_seed(0)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, module_name, globs={"torch": torch, **vars(module)}):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {module_name}"
