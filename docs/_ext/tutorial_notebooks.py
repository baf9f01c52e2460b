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


def write_notebooks(tutorials: Path, output: Path, figures: Path) -> list[str]:
    """Write ``output/<name>.ipynb`` for every ``tutorials/*.py`` and ``output/index.md``; return the names."""
    output.mkdir(parents=True, exist_ok=True)
    names = []
    for script in sorted(tutorials.glob("*.py")):
        notebook = jupytext.read(script, fmt="py:percent")
        setup = nbformat.v4.new_code_cell(SETUP.format(output=str(figures / script.stem)))
        setup.metadata["tags"] = ["remove-cell"]
        notebook.cells.insert(0, setup)
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        target = output / f"{script.stem}.ipynb"
        text = nbformat.writes(notebook)
        if not target.exists() or target.read_text() != text:  # unchanged files keep Sphinx's cache valid
            target.write_text(text)
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
