"""Where a benchmark's markdown section goes: ``benchmarks/results/<name>.md`` (collected by ``run_all.py``)."""

from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def write_section(name: str, lines: list[str]) -> Path:
    """Write the section (a title, a provenance paragraph, tables) to ``results/<name>.md`` and print it."""
    text = "\n".join(lines)
    out = RESULTS / f"{name}.md"
    out.write_text(text + "\n")
    print(text)
    print(f"wrote {out}")
    return out
