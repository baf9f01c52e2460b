"""README.md's result tables are the generated files in benchmarks/results/, not typed copies."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).parents[1]
spec = importlib.util.spec_from_file_location("render_readme", ROOT / "benchmarks" / "render_readme.py")
render_readme = importlib.util.module_from_spec(spec)
spec.loader.exec_module(render_readme)


def test_readme_result_sections_match_their_result_files():
    text = (ROOT / "README.md").read_text()
    assert render_readme.SECTION.search(text), "README.md has result sections"
    assert render_readme.render(text) == text, "run python benchmarks/render_readme.py"


def test_render_replaces_only_the_marked_section(tmp_path, monkeypatch):
    (tmp_path / "demo.md").write_text("| a |\n|---|\n| 1 |\n")
    monkeypatch.setattr(render_readme, "RESULTS", tmp_path)
    text = "before\n<!-- results: demo -->\nold table\n<!-- /results: demo -->\nafter\n"
    expected = "before\n<!-- results: demo -->\n| a |\n|---|\n| 1 |\n<!-- /results: demo -->\nafter\n"
    assert render_readme.render(text) == expected
