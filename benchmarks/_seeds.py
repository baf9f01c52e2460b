"""Benchmarks repeated over seeds: their command line, and paired comparisons with an interval."""

import argparse
import os

import numpy as np
from scipy import stats


def seed_arguments(description: str, default_seeds: int, configure=None) -> argparse.Namespace:
    """``--quick`` (one seed, tiny budgets), ``--seeds N`` and ``--jobs J`` (seeds run in parallel processes);
    ``configure(parser)``, when given, adds a benchmark's own arguments."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=default_seeds)
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    if configure is not None:
        configure(parser)
    args = parser.parse_args()
    if args.quick:
        args.seeds = 1
    return args


def t_interval(differences) -> str:
    """``"mean [low, high]"``: the mean of paired differences over seeds with its 95% Student-t interval."""
    values = np.asarray(differences, dtype=float)
    if len(values) < 2:
        return f"{values.mean():+.3f}"
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return f"{values.mean():+.3f} [{values.mean() - half:+.3f}, {values.mean() + half:+.3f}]"
