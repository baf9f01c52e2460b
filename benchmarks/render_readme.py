"""Fill the result sections of README.md from the generated files in benchmarks/results/.

A section of README.md between ``<!-- results: NAME -->`` and ``<!-- /results: NAME -->`` is replaced by the
contents of ``benchmarks/results/NAME.md`` (written by the script that measured it, with machine, versions and
date). ``python benchmarks/render_readme.py`` rewrites README.md; ``--check`` only reports sections that differ
(the test suite runs the check, so the README's tables cannot drift from their result files).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SECTION = re.compile(r"(<!-- results: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /results: (?P=name) -->)", re.DOTALL)


def render(text: str) -> str:
    """``text`` with every result section replaced by its file's contents."""

    def fill(match: re.Match) -> str:
        path = RESULTS / f"{match['name']}.md"
        if not path.is_file():
            raise FileNotFoundError(f"README.md names the result file {path}, which does not exist")
        return match.group(1) + path.read_text().strip() + "\n" + match.group(4)

    return SECTION.sub(fill, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is not up to date")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = parser.parse_args(argv)
    text = args.readme.read_text()
    rendered = render(text)
    if args.check:
        stale = [m["name"] for m in SECTION.finditer(text) if m.group(0) not in rendered]
        if stale:
            print(f"README.md sections out of date: {stale}; run python benchmarks/render_readme.py")
            return 1
        return 0
    args.readme.write_text(rendered)
    print(f"rendered {len(SECTION.findall(text))} result section(s) into {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
