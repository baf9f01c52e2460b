"""Benchmark the DRPM: one rsample + exact log_prob + backward, against the released shift-matrix construction.

Usage: ``python benchmarks/bench_drpm.py [--quick]``. One thread, float32, K = 10 subsets, temperature 0.5.

**Ours**: ``DRPM(size_logits, score_logits).rsample()`` (exact MVHG sizes with straight-through gradients,
Plackett-Luce ranking through a relaxed sort, ``Y = W P`` with an O(K n) window), then the exact ``log_prob`` of
that sample, then ``backward`` of ``sum(Y * weights) + log_prob``. Sizes n in {256, 1024, 4096, 16384}, batch 1
and 16, both relaxations (NeuralSort, SoftSort).

**Released construction** (Sutter et al. 2023, github thomassutter/drpm, as described in the design notes),
re-implemented here for the ratio: the MVHG drawn class by class against one merged class of the remaining ones
(Gumbel-softmax straight-through one-hots over ``0..n``), each one-hot "filled" with a lower-triangular ones
matrix, shifted into place by a one-hot-weighted sum over the ``(n + 1) x n x n`` stack of shift matrices,
``Y = clip(W P, 0, 1)`` with a NeuralSort straight-through permutation (row-wise argmax), and the code's
log-probabilities (the sampler's ``log q(n)`` and the Plackett-Luce log-probability of the sampled ranking; it
has no exact ``log p(Y)``). Run only where the shift stack fits (n <= 1024: 4.3 GB in float32 at n = 1024).

Every configuration runs in a fresh subprocess. Times are medians over repeats after one warm-up (wall clock).
Memory is the growth of the process's peak resident set size (``getrusage`` max RSS) over its resident size
after imports and set-up, so it counts torch's CPU allocations (tracemalloc does not see them); it includes the
warm-up. Configurations whose estimated memory exceeds ~20 GB or the machine's available memory are skipped.
The markdown goes to stdout and to ``benchmarks/results/drpm.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _machine import describe_machine

RESULTS = Path(__file__).parent / "results" / "drpm.md"
NUM_SUBSETS = 10
TEMPERATURE = 0.5
MEMORY_LIMIT = 20e9
MAX_RELEASED_FLOPS = 1e11  # about a minute on one core: larger released configurations are skipped
# Bytes per n x n entry (per batch element) at our peak: measured about 20-24 at n = 4096, plus margin.
_OURS_BYTES_PER_SQUARE = 32.0


def available_memory() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return 1e3 * float(line.split()[1])
    except OSError:
        pass
    return math.inf


def _rss_bytes() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return 1e3 * float(line.split()[1])
    return 0.0


# -- the released construction -----------------------------------------------------------------------------------


def _released_mvhg_one_hots(log_weights, n, temperature):
    """Merged-class MVHG draw with urn m_k = n, N = n: straight-through one-hots (B, K, n + 1) and log q(n)."""
    import torch

    batch, num_classes = log_weights.shape
    dtype = log_weights.dtype
    order = torch.randperm(num_classes).tolist()
    x = torch.arange(n + 1, dtype=dtype)
    log_binom = torch.lgamma(torch.tensor(n + 1.0, dtype=dtype)) - torch.lgamma(x + 1) - torch.lgamma(n - x + 1)
    left = torch.full((batch, 1), float(n), dtype=dtype)
    one_hots, log_q = [None] * num_classes, 0.0
    lower = torch.tril(torch.ones(n + 1, n + 1, dtype=dtype))
    for step, k in enumerate(order):
        rest = order[step + 1 :]
        if rest:
            m_rest = n * len(rest)
            log_rest = torch.logsumexp(log_weights[:, rest], dim=-1, keepdim=True) - math.log(len(rest))
            other = torch.relu(left - x)
            logits = (
                x * log_weights[:, k : k + 1]
                + log_binom
                + other * log_rest
                + torch.lgamma(torch.tensor(m_rest + 1.0, dtype=dtype))
                - torch.lgamma(other + 1)
                - torch.lgamma(torch.relu(m_rest - other) + 1)
            )
            feasible = (left - x >= 0).to(dtype) * (m_rest - other >= 0).to(dtype)
            logits = logits + 100 * torch.log(feasible + 1e-20)
        else:  # the last class takes what is left
            logits = 100 * torch.log((x == left).to(dtype) + 1e-20)
        gumbel = -torch.log(-torch.log(torch.rand_like(logits) + 1e-20) + 1e-20)
        soft = torch.softmax((logits + gumbel) / temperature, dim=-1)
        hard = torch.nn.functional.one_hot(soft.argmax(-1), n + 1).to(dtype)
        one_hot = hard + (soft - soft.detach())
        if rest:
            log_q = log_q + (one_hot * torch.log_softmax(logits, -1)).sum(-1)
        count = (one_hot @ lower).sum(-1, keepdim=True) - 1
        left = torch.relu(left - count)
        one_hots[k] = one_hot
    return torch.stack(one_hots, dim=-2), log_q


def _released_window(one_hots, shifts, lower):
    """W (B, K, n) from count one-hots via filled vectors and the (n + 1) x n x n shift-matrix stack.

    Subset k's filled vector (n_k leading ones) is moved down by nu_k = n_1 + ... + n_{k-1}: every shift of it is
    formed with the stack and the one selected by the one-hot of nu_k, read off the running fill vector (the
    ranks already taken, nu_k leading ones), is kept.
    """
    import torch

    filled = (one_hots @ lower)[..., 1:]  # n_k leading ones
    fill = torch.zeros_like(filled[..., 0, :])
    ones = torch.ones_like(fill[..., :1])
    rows = []
    for k in range(filled.shape[-2]):
        padded = torch.cat([ones, fill, torch.zeros_like(ones)], dim=-1)
        shift_one_hot = padded[..., :-1] - padded[..., 1:]  # one-hot of nu_k over 0..n
        shifted = torch.einsum("sij,bj->bsi", shifts, filled[..., k, :])  # every shift of the filled vector
        row = torch.einsum("bs,bsi->bi", shift_one_hot, shifted)
        rows.append(row)
        fill = fill + row
    return torch.stack(rows, dim=-2)


def _released_step(size_logits, score_logits, weights, shifts, lower):
    import torch

    from pyro_drpm.ops import reverse_logcumsumexp
    from pyro_drpm.relaxations import neural_sort

    n = score_logits.shape[-1]
    one_hots, log_q_sizes = _released_mvhg_one_hots(size_logits, n, TEMPERATURE)
    window = _released_window(one_hots, shifts, lower)
    perturbed = score_logits - torch.log(-torch.log(torch.rand_like(score_logits) + 1e-20) + 1e-20)
    soft = neural_sort(perturbed, TEMPERATURE)
    hard = torch.nn.functional.one_hot(soft.argmax(-1), n).to(soft.dtype)  # row-wise argmax, as released
    permutation = hard + (soft - soft.detach())
    assignment = torch.clamp(window @ permutation, 0, 1)
    ranked = score_logits.gather(-1, hard.argmax(-1))
    log_q_ranking = (ranked - reverse_logcumsumexp(ranked)).sum(-1)
    loss = (assignment * weights).sum() + (log_q_sizes + log_q_ranking).sum()
    loss.backward()


# -- one configuration, in a fresh process ------------------------------------------------------------------------


def worker(impl: str, relaxation: str, n: int, batch: int, repeats: int) -> dict:
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    from pyro_drpm.distributions import DRPM

    size_logits = torch.randn(batch, NUM_SUBSETS).requires_grad_(True)
    score_logits = torch.randn(batch, n).requires_grad_(True)
    weights = torch.randn(batch, NUM_SUBSETS, n)
    baseline = _rss_bytes()  # before the released code's precomputed shift stack, which is part of its cost
    if impl == "released":
        shifts = torch.stack([torch.diag(torch.ones(n - s), -s) if s < n else torch.zeros(n, n) for s in range(n + 1)])
        lower = torch.tril(torch.ones(n + 1, n + 1))
    parts = {"rsample": [], "log_prob": [], "backward": [], "total": []}
    for repeat in range(repeats + 1):  # the first is a warm-up
        size_logits.grad = score_logits.grad = None
        start = time.perf_counter()
        if impl == "ours":
            d = DRPM(size_logits, score_logits, temperature=TEMPERATURE, relaxation=relaxation)
            value = d.rsample()
            sampled = time.perf_counter()
            log_prob = d.log_prob(value)
            scored = time.perf_counter()
            ((value * weights).sum() + log_prob.sum()).backward()
        else:
            _released_step(size_logits, score_logits, weights, shifts, lower)
            sampled = scored = math.nan
        end = time.perf_counter()
        if repeat:
            parts["rsample"].append(sampled - start)
            parts["log_prob"].append(scored - sampled)
            parts["backward"].append(end - scored)
            parts["total"].append(end - start)
        assert torch.isfinite(size_logits.grad).all() and torch.isfinite(score_logits.grad).all()
    peak = 1e3 * resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {key: statistics.median(values) for key, values in parts.items()}
    result["memory"] = peak - baseline
    result["baseline"] = baseline
    return result


def run_config(impl, relaxation, n, batch, repeats, timeout):
    command = [sys.executable, __file__, "--worker", impl, relaxation, str(n), str(batch), str(repeats)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return {"skipped": f"over {timeout:.0f} s"}
    except subprocess.CalledProcessError as error:
        return {"skipped": "failed: " + (error.stderr.strip().splitlines() or ["?"])[-1][:80]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def estimated_memory(impl, n, batch):
    if impl == "released":
        return 4.0 * (n + 1) * n * n * 1.3 + 16.0 * batch * NUM_SUBSETS * (n + 1) * n
    return _OURS_BYTES_PER_SQUARE * batch * n * n + 1e8


def estimated_flops(impl, n, batch):
    """Multiply-adds of the shift-matrix products (forward and backward) of the released construction."""
    return 3.0 * NUM_SUBSETS * batch * (n + 1) * n * n if impl == "released" else 0.0


def _fmt_ms(seconds):
    return "-" if seconds is None or math.isnan(seconds) else f"{1e3 * seconds:,.1f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="n in {256, 1024}, batch 1 only")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        impl, relaxation, n, batch, repeats = args.worker
        print(json.dumps(worker(impl, relaxation, int(n), int(batch), int(repeats))))
        return

    sizes = [256, 1024] if args.quick else [256, 1024, 4096, 16384]
    batches = [1] if args.quick else [1, 16]
    configs = [("ours", rel, n, b) for rel in ("neuralsort", "softsort") for b in batches for n in sizes]
    configs += [("released", "neuralsort", n, b) for b in batches for n in sizes if n <= 1024]
    results = {}
    for impl, relaxation, n, batch in configs:
        need = estimated_memory(impl, n, batch)
        if need > min(MEMORY_LIMIT, 0.8 * available_memory()):
            results[impl, relaxation, n, batch] = {"skipped": f"needs ~{need / 1e9:.0f} GB"}
        elif estimated_flops(impl, n, batch) > MAX_RELEASED_FLOPS:
            results[impl, relaxation, n, batch] = {"skipped": "over a minute"}
        else:
            repeats = 3 if batch * n * n <= 4096 * 4096 else 1
            if impl == "released" and n * batch > 256:
                repeats = 1
            results[impl, relaxation, n, batch] = run_config(impl, relaxation, n, batch, repeats, timeout=1800)
        print(impl, relaxation, n, batch, results[impl, relaxation, n, batch], file=sys.stderr, flush=True)

    import torch

    torch.set_num_threads(1)  # as in every worker, so that the machine line reports the measured setting
    lines = [
        "## DRPM: rsample + exact log_prob + backward",
        "",
        f"Measured {datetime.date.today().isoformat()} on {describe_machine()}; `python benchmarks/bench_drpm.py"
        f"{' --quick' if args.quick else ''}`. K = {NUM_SUBSETS}, float32, temperature {TEMPERATURE}. Times are "
        "wall-clock medians (ms) of one `rsample` + `log_prob` + `backward` after a warm-up; memory is the growth "
        "of the process's peak RSS over its size after set-up (GB). *Released* is the in-benchmark "
        "re-implementation of the paper's code path (merged-class MVHG one-hots, (n+1) x n x n shift matrices, "
        "NeuralSort with row-wise argmax, the code's approximate log-probabilities; see the script's docstring), "
        "run where its shift stack fits.",
        "",
        "| relaxation | batch | n | total (ms) | rsample | log_prob | backward | memory (GB) | released (ms) "
        "| released memory (GB) | speed-up |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for relaxation in ("neuralsort", "softsort"):
        for batch in batches:
            for n in sizes:
                ours = results.get(("ours", relaxation, n, batch), {})
                released = results.get(("released", "neuralsort", n, batch), {}) if relaxation == "neuralsort" else {}
                if "skipped" in ours:
                    row = [relaxation, batch, n, f"skipped ({ours['skipped']})"] + ["-"] * 4
                else:
                    row = [
                        relaxation,
                        batch,
                        n,
                        _fmt_ms(ours.get("total")),
                        _fmt_ms(ours.get("rsample")),
                        _fmt_ms(ours.get("log_prob")),
                        _fmt_ms(ours.get("backward")),
                        f"{ours['memory'] / 1e9:.2f}",
                    ]
                if released and "skipped" not in released:
                    speed_up = released["total"] / ours["total"] if "total" in ours else math.nan
                    row += [_fmt_ms(released["total"]), f"{released['memory'] / 1e9:.2f}", f"{speed_up:,.0f}x"]
                elif released:
                    row += [f"skipped ({released['skipped']})", "-", "-"]
                else:
                    row += ["-", "-", "-"]
                lines.append("| " + " | ".join(str(cell) for cell in row) + " |")

    def total(n, batch=1, relaxation="neuralsort"):
        return results.get(("ours", relaxation, n, batch), {}).get("total")

    lines += ["", "Targets (K = 10, float32, one thread, batch 1):", ""]
    if total(1024):
        lines.append(f"- n = 1024 under 0.1 s: {total(1024):.3f} s ({'met' if total(1024) < 0.1 else 'MISSED'}).")
    if total(4096):
        memory = results["ours", "neuralsort", 4096, 1]["memory"] / 1e9
        met = total(4096) < 1.5 and memory < 1.0
        lines.append(
            f"- n = 4096 under 1.5 s and 1 GB: {total(4096):.3f} s, {memory:.2f} GB ({'met' if met else 'MISSED'})."
        )
    growth = [
        f"{total(4 * n) / total(n):.1f}x for n = {n} -> {4 * n}"
        for n in sizes
        if total(n) and total(4 * n) and total(n) > 0
    ]
    if growth:
        lines.append(
            f"- growth at most quadratic (at most 16x per 4x in n): {', '.join(growth)} (NeuralSort, batch 1)."
        )
    lines += [
        "",
        "Notes: `W` costs O(K n) and `log_prob` grows about 3x per 4x in n (its column above); the quadratic "
        "and above part is the relaxed sort's n x n matrices (1 GB each in float32 at n = 16384), whose "
        "temporaries make NeuralSort's backward grow faster than n^2 at that size on this machine. The issue's "
        "measurement of the released code itself (1.5 s at n = 256; 128 s and 8.6 GB at n = 1024, rsample and "
        "backward only) is slower than the re-implementation above, which runs the same shift-matrix products "
        "in float32 with `einsum`; its memory matches.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
