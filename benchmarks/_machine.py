"""The machine line every benchmark writes next to its results (CPU model, torch version, threads)."""

import platform
import subprocess

import torch


def describe_machine() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        model = platform.processor() or platform.machine()
    return f"{model}, torch {torch.__version__}, {torch.get_num_threads()} thread(s)"
