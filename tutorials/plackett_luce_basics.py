# %% [markdown]
# # Plackett-Luce basics: exact rankings with straight-through gradients
#
# A `PlackettLuce` distribution ranks `n` elements: element `i` has a log-score `logits[i]`, and a ranking is
# built by repeatedly picking the next element with probability proportional to its score among those left.
# A sample is an `n x n` permutation matrix whose row `r` is the one-hot of the element at rank `r`.
#
# This tutorial samples rankings, checks the sample frequencies against the exact probabilities, and shows
# that `rsample` returns exact permutations while its gradients come from a relaxed sort.
#
# Run it with `python tutorials/plackett_luce_basics.py --output DIR`; with `CI` set in the environment it
# runs a smaller version (smoke mode).

# %%
import argparse
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from tqdm.auto import tqdm

from pyro_drpm.distributions import PlackettLuce, permutation_matrix_to_ranking

smoke_test = "CI" in os.environ
parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--output", default="outputs/plackett_luce_basics")
args, _ = parser.parse_known_args()
output = Path(args.output)
output.mkdir(parents=True, exist_ok=True)
torch.manual_seed(0)
torch.set_num_threads(1)

# %% [markdown]
# ## Sampling and the exact probability of every ranking
# With four elements there are 24 rankings. We draw many samples and compare their frequencies with
# `exp(log_prob)`.

# %%
logits = torch.tensor([1.5, 0.5, 0.0, -1.0], dtype=torch.float64)
ranker = PlackettLuce(logits, temperature=0.5)
num_samples = 2_000 if smoke_test else 50_000
support = ranker.enumerate_support()
exact = ranker.log_prob(support).exp()
labels = ["".join(map(str, r)) for r in permutation_matrix_to_ranking(support).tolist()]
index = {label: i for i, label in enumerate(labels)}
counts = torch.zeros(len(labels), dtype=torch.float64)
for _ in tqdm(range(10), desc="sampling", disable=smoke_test):
    batch = ranker.sample(torch.Size((num_samples // 10,)))
    for ranking in permutation_matrix_to_ranking(batch).tolist():
        counts[index["".join(map(str, ranking))]] += 1
frequency = counts / counts.sum()
total_variation = 0.5 * (frequency - exact).abs().sum().item()
print(f"exact probabilities sum to {exact.sum().item():.12f}")
print(f"total variation between {num_samples} samples and the exact pmf: {total_variation:.4f}")

order = exact.argsort(descending=True)
fig, ax = plt.subplots(figsize=(10, 3.5))
ax.bar(range(len(labels)), exact[order], color="lightgray", label="exact pmf")
ax.plot(range(len(labels)), frequency[order], "o", color="C3", label=f"{num_samples} samples")
ax.set_xticks(range(len(labels)), [labels[i] for i in order], rotation=90)
ax.set_xlabel("ranking (elements from first to last)")
ax.set_ylabel("probability")
ax.legend()
fig.tight_layout()
fig.savefig(output / "ranking_frequencies.png", dpi=120)

# %% [markdown]
# ## Straight-through rankings
# `rsample` returns the same exact permutation matrices; the gradient flows through NeuralSort (or SoftSort).
# At a lower temperature the relaxed matrix is closer to the hard one.

# %%
logits = torch.tensor([0.3, 2.0, -0.4, 1.1, 0.0, -1.2], requires_grad=True)
fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
for ax, temperature in zip(axes, [2.0, 0.5, 0.05], strict=True):
    relaxed = PlackettLuce(logits, temperature=temperature, hard=False).rsample()
    ax.imshow(relaxed.detach(), cmap="Greys", vmin=0, vmax=1)
    ax.set_title(f"relaxed, temperature {temperature}")
    ax.set_xlabel("element")
    ax.set_ylabel("rank")
fig.tight_layout()
fig.savefig(output / "relaxed_permutations.png", dpi=120)

hard = PlackettLuce(logits, temperature=0.5).rsample()
position_of_element = hard.T @ torch.arange(6.0)
position_of_element[1].backward()  # how does the rank of element 1 react to its score?
print("rank of each element:", position_of_element.detach().tolist())
print("d rank(element 1) / d logits:", [round(g, 4) for g in logits.grad.tolist()])
print(f"figures written to {output.resolve()}")

# %% [markdown]
# The forward value is always an exact permutation matrix, and raising element 1's score lowers (improves)
# its expected rank: the gradient of its rank with respect to its own logit is negative.

# %%
assert PlackettLuce.support.check(hard)
assert abs(exact.sum().item() - 1) < 1e-10
assert total_variation < (0.1 if smoke_test else 0.02)
assert logits.grad[1] < 0
assert all(p.exists() for p in [output / "ranking_frequencies.png", output / "relaxed_permutations.png"])
