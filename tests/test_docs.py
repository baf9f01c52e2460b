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
