"""Timing helper shared by the benchmarks."""

import statistics
import time


def median_ms(function, repeats: int, *, warmup: int = 1) -> float:
    """Median milliseconds of ``function()`` over ``repeats`` calls, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        function()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return 1000 * statistics.median(seconds)
