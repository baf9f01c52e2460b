# %% [markdown]
# # Partition basics: sampling, the two sets of logits, exact probabilities and gradients
#
# A `DRPM` distribution partitions `n` elements into at most `K` ordered subsets, some possibly empty. A sample
# is a `K x n` assignment matrix `Y` with `Y[k, i] = 1` iff element `i` is in subset `k`. It is drawn in two
# stages:
#
# 1. the subset sizes `(n_1, ..., n_K)` from a multivariate noncentral hypergeometric distribution (MVHG) with
#    importance weights `exp(size_logits)`, drawn from an urn with `class_sizes[k]` balls of colour `k`;
# 2. a ranking of the elements from a Plackett-Luce distribution with scores `exp(score_logits)`; subset 1
#    takes the `n_1` highest-ranked elements, subset 2 the next `n_2`, and so on.
#
# This tutorial shows what each set of logits does, how the urn (`class_sizes`) limits how concentrated the
# subset sizes can be, compares the exact log-probability with the bounds of the DRPM paper, and takes
# gradients through `rsample`. Run it as `python tutorials/partition_basics.py --output DIR`; with `CI` set in
# the environment it runs a smaller version.

# %%
import argparse
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from tqdm.auto import tqdm

from pyro_drpm.distributions import DRPM, MVHG

smoke_test = "CI" in os.environ
parser = argparse.ArgumentParser(description="DRPM partition basics")
parser.add_argument("--output", default="outputs/partition_basics")
args, _ = parser.parse_known_args()
output = Path(args.output)
output.mkdir(parents=True, exist_ok=True)
torch.manual_seed(0)
torch.set_num_threads(1)

# %% [markdown]
# ## Sampling partitions
# Twelve elements, four subsets. Raising a subset's size logit makes it larger on average; raising an element's
# score logit makes it more likely to land in an early subset.

# %%
n, K = 12, 4
size_logits = torch.tensor([1.0, 0.0, 0.0, -1.0])
score_logits = torch.linspace(2.0, -2.0, n)  # element 0 has the highest score
partitions = DRPM(size_logits, score_logits)
samples = partitions.sample(torch.Size((4,)))
fig, axes = plt.subplots(1, 4, figsize=(12, 2.4))
for ax, Y in zip(axes, samples, strict=True):
    ax.imshow(Y, cmap="Greys", vmin=0, vmax=1, aspect="auto")
    ax.set_xlabel("element")
    ax.set_ylabel("subset")
    ax.set_xticks(range(0, Y.shape[1], 2))  # counts: integer ticks
    ax.set_yticks(range(Y.shape[0]))
    ax.set_title(f"sizes {Y.sum(-1).int().tolist()}")
fig.tight_layout()
fig.savefig(output / "partition_samples.png", dpi=120)

num_samples = 500 if smoke_test else 20_000
many = partitions.sample(torch.Size((num_samples,)))
mean_subset_of_element = (many * torch.arange(float(K)).unsqueeze(-1)).sum(-2).mean(0)
print("mean subset index of each element:", [round(x, 2) for x in mean_subset_of_element.tolist()])

# %% [markdown]
# ## Size logits and the urn
# The sizes follow the MVHG on an urn with `class_sizes[k]` balls per subset (default: `n`, as in the paper).
# The logits move the sizes around but cannot make them more concentrated than the urn allows: with `K = 3`,
# `n = 12` and equal logits, a balanced partition `(4, 4, 4)` has probability of only about 0.1, and no choice
# of logits raises it further. A smaller urn concentrates the sizes: with 4 balls per subset the only possible
# sizes are `(4, 4, 4)`.

# %%
n3, K3 = 12, 3
fig, ax = plt.subplots(figsize=(6, 3.5))
balanced = {}
for balls in tqdm([12, 8, 6, 5, 4], desc="urns", disable=smoke_test):
    sizes = MVHG(torch.full((K3,), float(balls)), torch.tensor(float(n3)), torch.zeros(K3, dtype=torch.float64))
    support = sizes.enumerate_support()
    probability = sizes.log_prob(support).exp()
    first = torch.zeros(n3 + 1, dtype=torch.float64).index_add_(0, support[:, 0].long(), probability)
    ax.plot(range(n3 + 1), first, "o-", label=f"{balls} balls per subset")
    is_balanced = (support == 4).all(-1)
    balanced[balls] = probability[is_balanced].sum().item()
ax.set_xlabel("size of subset 1")
ax.set_ylabel("probability")
ax.set_title("K = 3, n = 12, equal size logits")
ax.legend()
fig.tight_layout()
fig.savefig(output / "urn_dispersion.png", dpi=120)
for balls, p in balanced.items():
    print(f"class_sizes = {balls:2d}: P(sizes = (4, 4, 4)) = {p:.3f}")

# %% [markdown]
# ## The exact probability of a partition, and the paper's bounds
# Many rankings produce the same partition (any order inside each subset), so `p(Y)` sums the Plackett-Luce
# probabilities of `prod_k n_k!` rankings. The DRPM paper bounds this sum by `prod_k n_k!` times the smallest
# and the largest of those probabilities; `pyro_drpm` computes it exactly, with one one-dimensional integral per
# subset (the exponential-race identity). The bounds are loose when scores within a subset differ.

# %%
n_big, K_big = 40, 5
spread_scores = 1.5 * torch.randn(n_big, dtype=torch.float64)
big = DRPM(torch.zeros(K_big, dtype=torch.float64), spread_scores)
values = big.sample(torch.Size((20 if smoke_test else 200,)))
exact = big.log_prob(values)
lower, upper = big.log_prob_bounds(values)
order = exact.argsort()
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.fill_between(range(len(order)), lower[order], upper[order], color="C0", alpha=0.3, label="paper's bounds")
ax.plot(range(len(order)), exact[order], "k.", label="exact log p(Y)")
ax.set_xlabel("sampled partition (sorted by exact log-probability)")
ax.set_ylabel("log-probability")
ax.legend()
fig.tight_layout()
fig.savefig(output / "exact_vs_bounds.png", dpi=120)
gap = (upper - lower).mean().item()
print(f"n = {n_big}: the bounds are on average {gap:.1f} nats apart; the exact value lies between them")

# %% [markdown]
# ## Gradients through `rsample`
# `rsample` returns an exact partition (the same law as `sample`) and routes gradients to both sets of logits:
# to the size logits through the straight-through MVHG counts and the window that turns counts into subsets,
# and to the score logits through the relaxed sort. Here we ask how the expected number of elements in subset 1
# depends on the logits.

# %%
size_logits = torch.zeros(K, requires_grad=True)
score_logits = torch.zeros(n, requires_grad=True)
draws = 20 if smoke_test else 200
total = 0.0
for _ in range(draws):
    Y = DRPM(size_logits, score_logits, temperature=0.5).rsample()
    total = total + Y[0].sum() + Y[0, 0]  # size of subset 1, plus whether element 0 is in it
(total / draws).backward()
print("d/d size_logits:", [round(g, 3) for g in size_logits.grad.tolist()])
print("d/d score_logits[0]:", round(score_logits.grad[0].item(), 3))
print(f"figures written to {output.resolve()}")

# %% [markdown]
# Raising subset 1's size logit enlarges it, and raising element 0's score makes it more likely to be placed in
# subset 1, as the signs of the gradients say.

# %% [markdown]
# ## In a model and a guide
# A partition is a Pyro sample site like any other. The model below draws the partition of 8 points into 2
# subsets from a `DRPMPrior` (learned size logits, uniform scores) and the points from their subset's mean; the
# guide is a DRPM whose score logits are free parameters. `Trace_ELBO` uses the exact `log p(Y)` and
# `log q(Y)`. `tutorials/partition_latents.py` builds amortised guides and compares estimators and urns.

# %%
import pyro
import pyro.distributions as dist
from pyro.infer import SVI, Trace_ELBO

from pyro_drpm.partitions import DRPMPrior

points = torch.tensor([-2.1, 1.9, -2.0, 2.2, 2.0, -1.8, -2.2, 1.8])
prior = DRPMPrior(2)


def model(points):
    pyro.module("prior", prior)
    partition = pyro.sample("partition", prior(len(points)))
    pyro.sample("points", dist.Normal(torch.tensor([-2.0, 2.0]) @ partition, 0.5).to_event(1), obs=points)


def guide(points):
    score_logits = pyro.param("score_logits", torch.zeros(len(points)))
    size_logits = pyro.param("guide_size_logits", torch.zeros(2))
    pyro.sample("partition", DRPM(size_logits, score_logits, temperature=0.5, class_sizes=torch.tensor([6, 6])))


pyro.clear_param_store()
svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.1}), Trace_ELBO(num_particles=4))
elbo_losses = [svi.step(points) for _ in range(30 if smoke_test else 300)]
ranking = pyro.param("score_logits").detach().argsort(descending=True)
print("negative ELBO:", round(elbo_losses[0], 1), "->", round(elbo_losses[-1], 1))
print("elements ranked first by the guide (subset 1):", sorted(ranking[:4].tolist()))

# %%
assert DRPM.support.check(samples).all()
assert mean_subset_of_element[0] < mean_subset_of_element[-1]
assert abs(balanced[12] - 0.097) < 0.01 and balanced[5] > balanced[8] > balanced[12]
assert abs(balanced[4] - 1) < 1e-12
assert (lower <= exact + 1e-9).all() and (exact <= upper + 1e-9).all()
assert size_logits.grad[0] > 0 and score_logits.grad[0] > 0
assert sum(elbo_losses[-5:]) < sum(elbo_losses[:5]), "the ELBO improves"
if not smoke_test:
    assert sorted(ranking[:4].tolist()) == [0, 2, 5, 6], "the guide puts the negative points in subset 1"
