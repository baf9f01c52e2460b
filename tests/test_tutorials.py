"""Every tutorial runs end to end in smoke mode (``CI`` set); a tutorial without a run here fails the suite."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = sorted((Path(__file__).parents[1] / "tutorials").glob("*.py"))


IDS = [t.stem for t in TUTORIALS]


def test_every_tutorial_has_a_smoke_mode():
    """The run below is parametrised over every script in tutorials/; each must shrink itself under CI."""
    assert TUTORIALS, "no tutorials found"
    for tutorial in TUTORIALS:
        assert 'smoke_test = "CI" in os.environ' in tutorial.read_text(), tutorial.name


@pytest.mark.slow
@pytest.mark.parametrize("tutorial", TUTORIALS, ids=IDS)
def test_tutorial_runs_in_smoke_mode(tutorial, tmp_path):
    env = {**os.environ, "CI": "1", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(tutorial), "--output", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert list(tmp_path.glob("*.png")), "a tutorial saves its figures as PNG"
