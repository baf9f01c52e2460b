# %% [markdown]
# # Variational clustering with a DRPM (DRPM-VC) on handwritten digits
#
# This tutorial clusters the 1797 handwritten digits that ship with scikit-learn (8 x 8 images, no download)
# with **DRPM variational clustering** (Sutter et al. 2023, arXiv:2305.16841), written as an ordinary Pyro model
# and guide and trained with `Trace_ELBO`.
#
# The twist compared with a mixture model (VaDE): the cluster assignment of a whole mini-batch is **one** latent
# variable, a random partition `Y` of the batch drawn from a differentiable random partition model (DRPM). The
# model is
#
# * `Y ~ DRPM(omega, scores = 0)`: subset sizes from a multivariate noncentral hypergeometric distribution with
#   learned size logits `omega`, then a uniformly random order that fills subset 1, 2, ... in turn;
# * `z_i | Y ~ N(mu_k, sigma_k^2)` for the subset `k` holding digit `i`;
# * `x_i | z_i ~ Bernoulli(decoder(z_i))` (the binary cross-entropy on the pixel intensities in [0, 1]).
#
# The guide has an encoder for `q(z_i | x_i)` and a DRPM `q(Y | x)` whose scores rank the digits by cluster (all
# digits of cluster 1 first, ...) and whose sizes follow the batch's soft cluster counts. Both `log p(Y)` and
# `log q(Y)` are **exact** in `pyro_drpm`, so the ELBO below is an honest bound, with no surrogate terms.
#
# Steps: data, networks and contrastive pretraining, mixture initialisation, the model and guide, the SVI loop
# with its ELBO curve, and an evaluation (montage of each cluster, confusion matrix, 2-D view of the latent
# space, ACC / NMI / ARI).

# %%
import argparse
import math
import os
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.infer import SVI, Trace_ELBO
from tqdm.auto import tqdm

from pyro_drpm.datasets import load_digits_01
from pyro_drpm.distributions import AssignedNormal
from pyro_drpm.infer import ExponentialSchedule, minibatches
from pyro_drpm.models.clustering import DRPMVC, cluster_path_order, fit_gaussian_mixture
from pyro_drpm.models.clustering.metrics import clustering_scores, contingency_table
from pyro_drpm.nn import freeze_, pretrain
from pyro_drpm.partitions import ClusterOrderedDRPM, DRPMPrior

smoke_test = "CI" in os.environ
parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--output", default="outputs/variational_clustering", help="folder for the figures")
parser.add_argument("--seed", type=int, default=0)
args, _ = parser.parse_known_args()
output = Path(args.output)
output.mkdir(parents=True, exist_ok=True)

torch.set_num_threads(1)  # one intra-op thread: fastest on a small, shared CPU
pyro.set_rng_seed(args.seed)
pyro.clear_param_store()

N_CLUSTERS = 10
LATENT_DIM = 10
BATCH_SIZE = 256  # the set partitioned by the DRPM (the paper uses 256)
PRETRAIN_EPOCHS = 3 if smoke_test else 200
EPOCHS = 2 if smoke_test else 100
LR = 1e-3

# %% [markdown]
# ## Data
#
# `load_digits_01` divides the pixel counts (0..16) by 16. In smoke mode (`CI` set) we keep 400 digits.

# %%
X_np, y = load_digits_01()
if smoke_test:
    X_np, y = X_np[:400], y[:400]
X = torch.as_tensor(X_np)
print(f"{X.shape[0]} digits with {X.shape[1]} pixels each; {len(np.unique(y))} classes")

# %% [markdown]
# ## Networks and contrastive pretraining
#
# An MLP encoder `64 -> 256 -> 256 -> (loc, scale)` in a 10-dimensional latent space and its mirrored decoder.
# As in the paper's code, the pair is first pretrained with twin contrastive learning: two random
# rotations, scalings and shifts of every digit must map to similar trunk features (an instance contrastive
# loss) and to similar soft assignments over 10 clusters (a cluster contrastive loss), while the mean head and
# the decoder learn to reconstruct the digit. The trunk is then frozen (as in the paper's code); SVI trains the
# mean and scale heads, the decoder and the prior. (`objective="tsne"` would instead regress a 2-D t-SNE of the
# pixels, an embedding that keeps each digit's neighbours close; the main job,
# `benchmarks/clustering_comparison.py`, compares the methods on it and on this contrastive one.)

# %%
start = time.time()
pretrained = pretrain(
    X_np,
    latent_dim=LATENT_DIM,
    hidden_dims=(256, 256),
    likelihood="bernoulli",
    epochs=PRETRAIN_EPOCHS,
    batch_size=BATCH_SIZE,
    seed=args.seed,
    progress=True,
    objective="contrastive",
    n_clusters=N_CLUSTERS,
)
freeze_(pretrained.encoder.trunk)  # its parameters become buffers: no optimiser sees them
print(f"pretraining: {time.time() - start:.1f} s, final pretraining loss {pretrained.history[-1]:.2f}")

# %% [markdown]
# ## Mixture initialisation
#
# A diagonal Gaussian mixture fitted to the embedding gives the initial cluster means and scales and the
# prior's size logits (`logit(w_k)`, which makes the prior's mean subset sizes `B w_k`). DRPM-VC also reorders
# the clusters along a short path through their means: the DRPM fills its subsets in a fixed order, so a digit
# pushed across a block boundary by a sampled size lands in a similar cluster.

# %%
embedding = pretrained.embed(X_np)
mixture = fit_gaussian_mixture(embedding, N_CLUSTERS, random_state=args.seed)
init_scores = clustering_scores(y, mixture.labels)
print("Gaussian mixture on the pretrained embedding:", {k: round(v, 3) for k, v in init_scores.items()})

encoder, decoder = pretrained.encoder, pretrained.decoder
order = cluster_path_order(mixture.locs)  # neighbouring subsets hold neighbouring clusters
cluster_locs = torch.nn.Parameter(mixture.locs[order].clone())
cluster_log_scales = torch.nn.Parameter(mixture.scales[order].clamp(min=1e-3).log())
prior = DRPMPrior(N_CLUSTERS, dtype=torch.float64)  # Y ~ DRPM(size logits, uniform scores)
prior.init_from_weights(mixture.weights[order])
partition_guide = ClusterOrderedDRPM(N_CLUSTERS, dtype=torch.float64)  # q(Y | x) from responsibilities

# %% [markdown]
# ## The model and the guide
#
# The model draws the batch's partition `Y` from the prior, the latent code of every digit from the Gaussian
# of its subset (`AssignedNormal`, linear in `Y`), and the pixels from the decoder. The guide encodes every
# digit, turns its expected log-likelihood under each cluster into responsibilities `r_ik` (with two mean-field
# sweeps that weigh each subset by the prior's predictive weight at the other digits' soft counts, so the prior
# shapes the guide and a subset that the prior disfavours can lose all its digits), and hands them to
# `ClusterOrderedDRPM`: a DRPM whose scores `exp(c) * sum_k r_ik (K - 1 - k)` rank the digits cluster by
# cluster and whose urn holds the rounded soft counts `sum_i r_ik`, so its sizes are deterministic and the
# randomness of `q(Y)` is in the ranking. Both `log p(Y)` and `log q(Y)` are exact and differentiable in the
# straight-through sample, so the partition site trains the encoder heads, the clusters and the score scale
# `exp(c)` like any reparameterised site. The temperature of the relaxations is an argument: the training loop
# passes the value of its schedule.


# %%
def cluster_scales():
    return cluster_log_scales.clamp(min=math.log(1e-3)).exp()


PRIOR_SWEEPS = 2


def responsibilities(loc, scale):
    """softmax_k of E_q[log N(z_i; mu_k, sigma_k^2)] (closed form for Gaussians), then mean-field sweeps that add
    the prior's predictive log weight of each subset at the other digits' soft counts."""
    log_density = dist.Normal(cluster_locs, cluster_scales()).log_prob(loc.unsqueeze(-2)).sum(-1)
    logits = log_density - 0.5 * ((scale.unsqueeze(-2) / cluster_scales()) ** 2).sum(-1)
    r = torch.softmax(logits, dim=-1)
    for _ in range(PRIOR_SWEEPS):
        others = r.sum(0) - r  # soft subset sizes without digit i
        r = torch.softmax(logits + prior.log_predictive_weights(others, loc.shape[0]).to(logits.dtype), dim=-1)
    return r


def model(x, temperature=0.5):
    pyro.module("decoder", decoder)
    pyro.module("prior", prior)
    pyro.param("cluster_locs", cluster_locs)
    pyro.param("cluster_log_scales", cluster_log_scales)
    partition = pyro.sample("partition", prior(x.shape[0], temperature=temperature))
    with pyro.plate("data", x.shape[0]):
        z = pyro.sample("z", AssignedNormal(partition.float(), cluster_locs, cluster_scales()))
        pyro.sample("x", decoder.distribution(z), obs=x)


def guide(x, temperature=0.5):
    pyro.module("encoder", encoder)
    pyro.module("partition_guide", partition_guide)
    loc, scale = encoder(x)
    pyro.sample("partition", partition_guide(responsibilities(loc, scale), temperature=temperature))
    with pyro.plate("data", x.shape[0]):
        pyro.sample("z", dist.Normal(loc, scale).to_event(1))


# %%
x_batch = X[:BATCH_SIZE]
guide_trace = poutine.trace(guide).get_trace(x_batch)
model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(x_batch)
print(model_trace.format_shapes())
Y = guide_trace.nodes["partition"]["value"]
print("subset sizes of one guide sample:", Y.sum(-1).int().tolist())

# %% [markdown]
# ## Training with SVI
#
# One epoch visits every digit once in batches of (about) 256; the DRPM temperature is annealed exponentially
# from 1.0 to 0.5, as in the paper (an `ExponentialSchedule`, evaluated before every step and passed to the
# model and the guide). The loss is the negative ELBO; we plot it per digit.

# %%
temperature = ExponentialSchedule(1.0, 0.5)
svi = SVI(model, guide, pyro.optim.ClippedAdam({"lr": LR, "clip_norm": 100.0}), Trace_ELBO())
generator = torch.Generator().manual_seed(args.seed)
steps_per_epoch = len(minibatches(X.shape[0], BATCH_SIZE))
total_steps = EPOCHS * steps_per_epoch
losses, step = [], 0
start = time.time()
for _epoch in (bar := tqdm(range(EPOCHS), desc="DRPM-VC")):
    epoch_loss = 0.0
    for index in minibatches(X.shape[0], BATCH_SIZE, generator):
        epoch_loss += svi.step(X[index], temperature=temperature(step / total_steps))
        step += 1
    losses.append(epoch_loss / X.shape[0])
    bar.set_postfix(loss=f"{losses[-1]:.2f}", temperature=f"{temperature(step / total_steps):.2f}")
print(f"training: {time.time() - start:.1f} s; negative ELBO per digit {losses[0]:.2f} -> {losses[-1]:.2f}")

fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(np.arange(1, EPOCHS + 1), losses)
ax.set_xlabel("epoch")
ax.set_ylabel("negative ELBO per digit (nats)")
ax.set_title("DRPM-VC on digits")
fig.tight_layout()
fig.savefig(output / "elbo.png", dpi=120)
plt.close(fig)

# %% [markdown]
# ## The packaged model
#
# `pyro_drpm.models.clustering.DRPMVC` is this model and guide as a `PyroModule`, for reuse (the estimator
# `DRPMClustering` wraps pretraining, the mixture initialisation and this training loop around it). Given the
# same networks, clusters, prior and guide block it computes the same ELBO as the functions above.

# %%
vc = DRPMVC(encoder, decoder, N_CLUSTERS, prior=prior, partition_guide=partition_guide, prior_sweeps=PRIOR_SWEEPS)
with torch.no_grad():
    vc.locs.copy_(cluster_locs)
    vc.log_scales.copy_(cluster_log_scales)
vc.eval()
pyro.set_rng_seed(1)
ours = Trace_ELBO().loss(model, guide, x_batch)
pyro.set_rng_seed(1)
packaged = Trace_ELBO().loss(vc.model, vc.guide, x_batch)
print(f"negative ELBO of one batch: tutorial {ours:.4f}, DRPMVC {packaged:.4f}")

# %% [markdown]
# ## Evaluation
#
# Labels come from the posterior over the partition of all digits with the clusters fixed (`DRPMVC.settle_`):
# each digit goes to the cluster that maximises the density of its encoder mean times the prior's predictive
# weight at the current subset sizes, until the labels settle, so an empty subset gets no digits. Cluster
# labels are arbitrary, so accuracy matches clusters to classes with the Hungarian algorithm; NMI and ARI are
# invariant to relabelling.

# %%
labels = vc.settle_(X).numpy()
scores = clustering_scores(y, labels)
print("DRPM-VC:", {k: round(v, 3) for k, v in scores.items()}, f"({len(np.unique(labels))} clusters used)")

# a montage: up to 12 digits of every cluster (one row per cluster)
per_row = 12
fig, axes = plt.subplots(N_CLUSTERS, per_row, figsize=(per_row * 0.6, N_CLUSTERS * 0.6))
rng = np.random.default_rng(args.seed)
for k in range(N_CLUSTERS):
    members = np.flatnonzero(labels == k)
    chosen = rng.choice(members, size=min(per_row, members.size), replace=False) if members.size else []
    for j in range(per_row):
        ax = axes[k, j]
        ax.axis("off")
        if j < len(chosen):
            ax.imshow(X_np[chosen[j]].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    axes[k, 0].set_title(f"{k}", fontsize=6, loc="left")
fig.suptitle("DRPM-VC clusters (one row per cluster)", fontsize=9)
fig.savefig(output / "cluster_montage.png", dpi=120)
plt.close(fig)

# confusion matrix: true digit x cluster, clusters ordered by their matched digit
table = contingency_table(y, labels)
from scipy.optimize import linear_sum_assignment

rows, cols = linear_sum_assignment(table, maximize=True)
order = list(cols[np.argsort(rows)]) + [c for c in range(table.shape[1]) if c not in cols]
fig, ax = plt.subplots(figsize=(4.5, 4))
ax.imshow(table[:, order], cmap="Blues")
for i in range(table.shape[0]):
    for j, c in enumerate(order):
        ax.text(j, i, table[i, c], ha="center", va="center", fontsize=6)
ax.set_xlabel("cluster (matched order)")
ax.set_ylabel("digit")
ax.set_title(f"ACC {scores['acc']:.3f}")
fig.tight_layout()
fig.savefig(output / "confusion_matrix.png", dpi=120)
plt.close(fig)

# 2-D view of the latent space: the first two principal components of the encoder means
Z = vc.encoder(X)[0].detach().numpy()
centered = Z - Z.mean(0)
_, _, components = np.linalg.svd(centered, full_matrices=False)
view = centered @ components[:2].T
centers = (vc.locs.detach().numpy() - Z.mean(0)) @ components[:2].T
fig, axes = plt.subplots(1, 2, figsize=(9, 4))
for ax, colour, title in ((axes[0], labels, "DRPM-VC clusters"), (axes[1], y, "true digits")):
    ax.scatter(view[:, 0], view[:, 1], c=colour, cmap="tab10", s=4)
    ax.scatter(centers[:, 0], centers[:, 1], c="black", marker="x", s=40)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
fig.savefig(output / "latent_space.png", dpi=120)
plt.close(fig)
print(f"figures written to {output.resolve()}")

# %% [markdown]
# ## What the run shows
#
# The printed scores compare the clustering after training with the Gaussian mixture it started from; they
# move from run to run (the mixture fit and the pretraining depend on the seed). The guide assigns every digit
# to one cluster per sample (a partition is a hard assignment), so a cluster that absorbs its neighbours' digits
# early keeps pulling them. `benchmarks/clustering_comparison.py` (the main job) compares DRPM-VC with the
# mixture and Dirichlet-process baselines over several seeds.

# %%
assert np.isfinite(losses).all()
assert abs(ours - packaged) <= 1e-3 * abs(ours), "the tutorial's model and guide are DRPMVC's"
assert losses[-1] < losses[0], "the ELBO improves"
assert all(0.0 <= v <= 1.0 for v in scores.values())
for name in ("elbo.png", "cluster_montage.png", "confusion_matrix.png", "latent_space.png"):
    assert (output / name).is_file(), name
if not smoke_test:
    assert losses[-1] < losses[0] - 5.0, "the ELBO improves by several nats per digit"
    assert scores["acc"] > 0.6, "the clustering is far above chance"
    assert len(np.unique(labels)) >= 8, "(almost) every cluster stays in use"
