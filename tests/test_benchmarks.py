"""The main job (the clustering comparison, a benchmark script) runs end to end in smoke mode."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

COMPARISON = Path(__file__).parents[1] / "benchmarks" / "clustering_comparison.py"


@pytest.mark.slow
@pytest.mark.parametrize("pretraining", ["tsne", "contrastive"])
def test_clustering_comparison_runs_in_smoke_mode(tmp_path, pretraining):
    env = {**os.environ, "CI": "1", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(COMPARISON), "--output", str(tmp_path), "--jobs", "1", "--pretraining", pretraining],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "results.csv").is_file() and (tmp_path / "comparison.png").is_file()
    rows = (tmp_path / "results.csv").read_text().splitlines()
    assert len(rows) > 2, "a header and at least two methods"
    words = {
        "tsne": "t-SNE pretraining (the encoder regresses a 2-D t-SNE",
        "contrastive": "contrastive pretraining (10-D",
    }
    assert words[pretraining] in (tmp_path / "results.md").read_text()
