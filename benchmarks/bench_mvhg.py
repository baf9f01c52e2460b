"""Benchmark the exact MVHG (log_prob, rsample, with backward) against the released merged-class sampler.

Usage: ``python benchmarks/bench_mvhg.py [--quick]``. One thread. For K = 10 classes in the DRPM setting
(``class_sizes = total_count = n``) and n in {256, 1024, 4096}, batch 1 and 64, it times (median of several
repeats, ms, construction of the distribution included):

- ``log_prob`` forward, and forward + backward to the logits;
- ``rsample`` (straight-through) forward, and forward + backward of a loss on the counts;
- side by side, a re-implementation of the released approximate sampler of the MVHG paper (Sutter et al., ICLR
  2023, github thomassutter/mvhg, ``pt_fmvhg.py``, as described in the design notes): a random class order per call;
  each class drawn against ONE merged class of the not-yet-sampled ones with the size-weighted mean weight, via
  Gumbel-softmax straight-through over ``0..m_k`` with the univariate Fisher logits and a Heaviside feasibility mask,
  and the count computed as ``sum(y L) - 1`` with a lower-triangular ones matrix ``L`` (the released code's "filled"
  vectors, an O(n^2) product per class).

It also reports the total-variation distance between the merged scheme's law (computed exactly by enumeration) and
the exact pmf on the skewed urn ``m = (12, 12, 12)``, ``N = 12``, weights ``(0.8, 0.1, 0.1)``.
The markdown goes to stdout and to ``benchmarks/results/mvhg.md``.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import math
from pathlib import Path

import torch
from _machine import describe_machine
from _timing import median_ms

from pyro_drpm.distributions import MVHG
from pyro_drpm.distributions.testing import merged_scheme_log_pmf

RESULTS = Path(__file__).parent / "results" / "mvhg.md"
NUM_CLASSES = 10
TEMPERATURE = 0.5


# -- the released approximate sampler (merged rest class), re-implemented for timing and for its law ------------------


class _Heaviside(torch.autograd.Function):
    """Exact step forward; the released code's surrogate gradient (sigmoid derivative, input clamped to +-10)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x.clamp(-10, 10))
        return grad * s * (1 - s)


def released_merged_rsample(class_sizes: list[int], total: int, log_weights: torch.Tensor, temperature: float):
    """One straight-through draw per batch row from the merged-class scheme; returns counts ``(B, K)``."""
    batch, num_classes = log_weights.shape
    dtype = log_weights.dtype
    order = torch.randperm(num_classes).tolist()
    sizes = torch.tensor(class_sizes, dtype=dtype)
    left = torch.full((batch,), float(total), dtype=dtype)
    counts = [None] * num_classes
    lower = {}
    for step, k in enumerate(order[:-1]):
        rest = order[step + 1 :]
        m_k, m_rest = class_sizes[k], sum(class_sizes[r] for r in rest)
        log_rest = torch.logsumexp(log_weights[:, rest] + sizes[rest].log() - math.log(m_rest), dim=-1)
        x = torch.arange(m_k + 1, dtype=dtype)
        other = torch.relu(left.unsqueeze(-1) - x)
        logits = (
            x * log_weights[:, k : k + 1]
            + other * log_rest.unsqueeze(-1)
            - (torch.lgamma(x + 1) + torch.lgamma(m_k - x + 1) + torch.lgamma(other + 1))
            - torch.lgamma(torch.relu(m_rest - other) + 1)
        )
        feasible = _Heaviside.apply(left.unsqueeze(-1) - x) * _Heaviside.apply(m_rest - other)
        logits = logits + 100 * torch.log(feasible + 1e-20)
        gumbel = -torch.log(-torch.log(torch.rand_like(logits) + 1e-20) + 1e-20)
        soft = torch.softmax((logits + gumbel) / temperature, dim=-1)
        hard = torch.nn.functional.one_hot(soft.argmax(-1), m_k + 1).to(dtype)
        one_hot = hard + (soft - soft.detach())
        if m_k not in lower:
            lower[m_k] = torch.tril(torch.ones(m_k + 1, m_k + 1, dtype=dtype))
        filled = one_hot @ lower[m_k]  # the released "filled" vector: ones at positions 0..count
        counts[k] = filled.sum(-1) - 1
        left = torch.relu(left - counts[k])
    counts[order[-1]] = left
    return torch.stack(counts, dim=-1)


def merged_total_variation(sizes=(12, 12, 12), total=12, weights=(0.8, 0.1, 0.1)) -> tuple[float, float, float]:
    """TV(merged, exact): worst class order, best class order, and the released law (random order per call)."""
    sizes, weights = list(sizes), list(weights)
    dist = MVHG(torch.tensor(sizes, dtype=torch.float64), total, torch.tensor(weights, dtype=torch.float64).log())
    support = dist.enumerate_support()
    exact = dist.log_prob(support).exp().tolist()
    orders = itertools.permutations(range(len(sizes)))
    laws = [merged_scheme_log_pmf(sizes, total, weights, support, list(o)).exp().tolist() for o in orders]
    per_order = [0.5 * sum(abs(p - q) for p, q in zip(law, exact, strict=True)) for law in laws]
    averaged = [sum(col) / len(laws) for col in zip(*laws, strict=True)]
    released = 0.5 * sum(abs(p - q) for p, q in zip(averaged, exact, strict=True))
    return max(per_order), min(per_order), released


# -- timings --------------------------------------------------------------------------------------------------------


def time_cell(n: int, batch: int, repeats: int, released_repeats: int) -> dict:
    torch.manual_seed(0)
    logits = (0.5 * torch.randn(batch, NUM_CLASSES, dtype=torch.float64)).requires_grad_(True)
    sizes = torch.full((NUM_CLASSES,), float(n), dtype=torch.float64)
    value = MVHG(sizes, n, logits.detach()).sample()
    weights = torch.randn(batch, NUM_CLASSES, dtype=torch.float64)

    def log_prob():
        with torch.no_grad():
            MVHG(sizes, n, logits).log_prob(value)

    def log_prob_backward():
        MVHG(sizes, n, logits).log_prob(value).sum().backward()

    def rsample():
        with torch.no_grad():
            MVHG(sizes, n, logits, temperature=TEMPERATURE).rsample()

    def rsample_backward():
        counts = MVHG(sizes, n, logits, temperature=TEMPERATURE).rsample()
        ((counts / n - 0.1) ** 2 * weights).sum().backward()

    def released_backward():
        counts = released_merged_rsample([n] * NUM_CLASSES, n, logits, TEMPERATURE)
        ((counts / n - 0.1) ** 2 * weights).sum().backward()

    row = {
        "log_prob": median_ms(log_prob, repeats),
        "log_prob_bwd": median_ms(log_prob_backward, repeats),
        "rsample": median_ms(rsample, repeats),
        "rsample_bwd": median_ms(rsample_backward, repeats),
        "released_bwd": median_ms(released_backward, released_repeats),
    }
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 256 and 1024 only, fewer repeats")
    args = parser.parse_args()
    torch.set_num_threads(1)

    sizes = [256, 1024] if args.quick else [256, 1024, 4096]
    repeats = 3 if args.quick else 7
    lines = [
        "## MVHG: exact log_prob and rsample vs the released merged-class sampler",
        "",
        f"Measured {datetime.date.today().isoformat()} on {describe_machine()} with `benchmarks/bench_mvhg.py"
        f"{' --quick' if args.quick else ''}`. K = {NUM_CLASSES}, class sizes = total count = n (the DRPM setting), "
        f"float64, temperature {TEMPERATURE}; median of {repeats} repeats (released sampler: fewer at n = 4096), "
        "constructing the distribution included. `+bwd` = forward and backward to the logits. The released "
        "sampler (re-implemented here, approximate) is timed for rsample + backward; ratio = released / ours.",
        "",
        "| n | batch | log_prob | log_prob +bwd | rsample | rsample +bwd | per draw +bwd | released +bwd | "
        "released per draw | ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    print("\n".join(lines), flush=True)
    for n in sizes:
        for batch in (1, 64):
            released_repeats = repeats if n < 4096 else (3 if batch == 1 else 1)
            row = time_cell(n, batch, repeats, released_repeats)
            line = (
                f"| {n} | {batch} | {row['log_prob']:.1f} | {row['log_prob_bwd']:.1f} | {row['rsample']:.1f} | "
                f"{row['rsample_bwd']:.1f} | {row['rsample_bwd'] / batch:.2f} | {row['released_bwd']:.1f} | "
                f"{row['released_bwd'] / batch:.2f} | {row['released_bwd'] / row['rsample_bwd']:.1f} |"
            )
            lines.append(line)
            print(line, flush=True)

    worst, best, released = merged_total_variation()
    tail = [
        "",
        "All times in ms. Total variation between the merged-class scheme and the exact Fisher pmf, urn "
        "m = (12, 12, 12), N = 12, weights (0.8, 0.1, 0.1), computed exactly by enumeration: "
        f"worst class order {worst:.4f}, best order {best:.2e} (the merged classes have equal weights), released "
        f"law (random order per call) {released:.4f}. The exact sampler here has no such error.",
    ]
    lines += tail
    print("\n".join(tail))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
