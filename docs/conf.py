"""Sphinx configuration of the pyro_drpm documentation; build it with ``python3 tasks.py docs``.

The API reference (``api/``), the tutorial pages (``tutorials/``) and the results page (``results.md``) are
generated at every build from the package, ``tutorials/*.py`` and ``benchmarks/results/*.md``; they are not
committed. The tutorials run in their smoke mode unless ``PYRO_DRPM_DOCS_FULL=1`` is set.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))

import api_pages  # noqa: E402
import tutorial_notebooks  # noqa: E402

import pyro_drpm  # noqa: E402

FULL = os.environ.get("PYRO_DRPM_DOCS_FULL") == "1"
if FULL:
    os.environ.pop("CI", None)  # the tutorials' smoke mode is `"CI" in os.environ`; the kernels inherit this
else:
    os.environ.setdefault("CI", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

project = "pyro_drpm"
author = "pyro_drpm developers"
copyright = "2026, pyro_drpm developers"
release = version = pyro_drpm.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # serves MathJax from _static/ instead of a CDN
    "sphinx.ext.viewcode",
    "myst_nb",
    "api_pages",
    "tutorial_notebooks",
]

exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
templates_path: list[str] = []

# warnings are errors (-W in tasks.py) and every cross-reference must resolve, except to names from other
# projects: the build has no network, so there is no intersphinx inventory for them
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(torch|pyro|numpy|np|sklearn|scipy|matplotlib|collections|typing|types|enum|abc)(\..*)?"),
    (r"py:.*", r"(int|float|bool|str|bytes|dict|list|tuple|set|None|object|callable|type|optional|Tensor|Size)"),
    (r"py:.*", r"(Callable|Iterable|Iterator|Sequence|Mapping|Any|Literal|Protocol|Self|Path|pathlib\..*)"),
    (
        r"py:.*",
        r"(dtype|device|ndarray|array-like|array_like|Generator|Distribution|TorchDistribution|Constraint|PyroModule)",
    ),
    (r"py:.*", r".*\b_[A-Za-z]\w*"),  # private helpers (a leading underscore) have no entries of their own
]

# the docstrings are reStructuredText (:param: fields); a docstring inherited from torch or Pyro would bring
# their cross-references, so only what pyro_drpm documents itself is shown
autodoc_default_options = {"member-order": "bysource"}
autodoc_inherit_docstrings = False
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autosummary_generate = False

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

nb_execution_mode = "force"
nb_execution_timeout = 3 * 3600 if FULL else 900
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

html_theme = "furo"
html_title = f"pyro_drpm {version}"
html_static_path: list[str] = []

# generated sources, rebuilt at every build from the package, the tutorial scripts and the result files
api_pages.write_pages(DOCS / "api")
tutorial_notebooks.write_notebooks(
    ROOT / "tutorials", DOCS / "tutorials", DOCS / "_build" / "tutorial_outputs", smoke=not FULL
)


def _write_results_page() -> None:
    results = sorted((ROOT / "benchmarks" / "results").glob("*.md"))
    lines = [
        "# Measured results",
        "",
        "Every table on this page is included, at build time, from a file that a script in `benchmarks/` wrote",
        "to `benchmarks/results/` (`python3 tasks.py bench` reruns them); each says on which machine, with which",
        "versions and when it was measured. Nothing here is typed by hand.",
        "",
    ]
    if not any("comparison" in path.stem for path in results):
        lines += [
            "```{note}",
            "The clustering comparison (`python3 tasks.py run`, `benchmarks/clustering_comparison.py`) writes its",
            "table to `outputs/clustering_comparison/results.md`; it appears on this page once a run writes it to",
            "`benchmarks/results/`.",
            "```",
            "",
        ]
    for path in results:
        lines += [f"```{{include}} ../benchmarks/results/{path.name}", "```", ""]
    # the result files embed their plots as results/<name>.png (relative to benchmarks/README.md); give the
    # included copies the same relative path from this page
    figures = DOCS / "results"
    figures.mkdir(exist_ok=True)
    for png in (ROOT / "benchmarks" / "results").glob("*.png"):
        shutil.copyfile(png, figures / png.name)
    text = "\n".join(lines)
    target = DOCS / "results.md"
    if not target.exists() or target.read_text() != text:
        target.write_text(text)


_write_results_page()
