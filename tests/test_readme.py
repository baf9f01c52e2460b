"""The Python examples in README.md run as printed, and produce what their comments say."""

import re
from pathlib import Path

import pyro
import pytest
import torch

README = Path(__file__).parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_has_examples():
    assert BLOCKS


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, capsys):
    torch.manual_seed(0)
    pyro.set_rng_seed(0)
    exec(compile(BLOCKS[index], f"README.md[python block {index}]", "exec"), {"__name__": "__readme__"})
    printed = capsys.readouterr().out.strip().splitlines()
    promised = re.findall(r"print\(.*\)\s+# (.+)", BLOCKS[index])
    assert len(printed) >= len(promised)
    for line, expected in zip(printed[-len(promised) :] if promised else [], promised, strict=True):
        assert line.strip() == expected.strip()
