"""Turns every jupytext percent script in ``tutorials/`` into a notebook that myst-nb executes and renders.

The scripts stay as they are. Each notebook gets one hidden first cell that runs the script as
``python tutorials/<name>.py --output DIR`` would (``DIR`` below the build folder), shows every figure the
script saves, at the place it saves it, and keeps tqdm's progress bars out of the page. A new script in
``tutorials/`` gets a page on the next build.
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
from docutils import nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)
#: where the executed tutorials save their figures, one folder per tutorial; set by write_notebooks
FIGURES: list[Path] = []
SMOKE_NOTE = """```{{note}}
This page was executed in the tutorial's smoke mode (`CI` set), with less data and fewer steps than
`python tutorials/{name}.py` runs, so its numbers and figures come from a short run.
```"""

SETUP = """\
import sys
import warnings

sys.argv = [sys.argv[0], "--output", {output!r}]

import matplotlib.figure
from IPython.display import Image, display

_savefig = matplotlib.figure.Figure.savefig


def _savefig_and_show(self, fname, *args, **kwargs):
    _savefig(self, fname, *args, **kwargs)
    display(Image(filename=str(fname)))


matplotlib.figure.Figure.savefig = _savefig_and_show

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # tqdm.auto warns in a kernel without ipywidgets
    import tqdm.auto
    import tqdm.std


class _SilentProgress(tqdm.std.tqdm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **{{**kwargs, "disable": True}})


tqdm.auto.tqdm = _SilentProgress
tqdm.auto.trange = lambda *args, **kwargs: _SilentProgress(range(*args), **kwargs)
"""


def write_notebooks(tutorials: Path, output: Path, figures: Path, *, smoke: bool) -> list[str]:
    """Write ``output/<name>.ipynb`` for every ``tutorials/*.py`` and ``output/index.md``; return the names."""
    output.mkdir(parents=True, exist_ok=True)
    FIGURES[:] = [figures]
    names = []
    for script in sorted(tutorials.glob("*.py")):
        notebook = jupytext.read(script, fmt="py:percent")
        setup = nbformat.v4.new_code_cell(SETUP.format(output=str(figures / script.stem)))
        setup.metadata["tags"] = ["remove-cell"]
        notebook.cells.insert(0, setup)
        if smoke:  # after the title cell
            notebook.cells.insert(2, nbformat.v4.new_markdown_cell(SMOKE_NOTE.format(name=script.stem)))
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        target = output / f"{script.stem}.ipynb"
        target.write_text(nbformat.writes(notebook))  # written anew, so every build executes every tutorial
        names.append(script.stem)
    for stale in output.glob("*.ipynb"):
        if stale.stem not in names:
            stale.unlink()
    index = [
        "# Tutorials",
        "",
        "Each page is a script from `tutorials/` (a jupytext percent script: run it with",
        "`python tutorials/<name>.py --output DIR`), executed when the documentation was built, with its printed",
        "output and the figures it saves. The build runs them in their smoke mode (`CI` set: smaller data, fewer",
        "steps), so numbers and figures here are from short runs; see {doc}`../installation` for the full-length",
        "build.",
        "",
        "```{toctree}",
        ":maxdepth: 1",
        "",
        *names,
        "```",
        "",
    ]
    (output / "index.md").write_text("\n".join(index))
    return names


def check_figures(app, doctree, docname):
    """``doctree-resolved``: a tutorial page shows at least as many images as its script saved PNG files."""
    if not docname.startswith("tutorials/") or docname == "tutorials/index":
        return
    saved = sorted((FIGURES[0] / docname.rpartition("/")[2]).glob("*.png"))
    shown = len(list(doctree.findall(nodes.image)))
    if not saved or shown < len(saved):
        logger.warning(f"{docname}: the tutorial saved {len(saved)} PNG figure(s) but its page shows {shown}")


def setup(app):
    app.connect("doctree-resolved", check_figures)
    return {"parallel_read_safe": True}
