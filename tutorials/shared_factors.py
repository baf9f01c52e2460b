# %% [markdown]
# # Shared and independent generative factors of paired observations
#
# In weakly supervised disentanglement (Locatello et al. 2020, arXiv:2002.02886) every example is a *pair*
# `(x1, x2)` generated from factors of which an unknown number are the same in both views and the rest differ.
# A model that knows which latent dimensions a pair shares can tie them together, and that tie is what aligns
# the latent dimensions with the true factors. Ada-VAE decides the shared dimensions with a fixed rule (those
# whose posteriors differ least, below a threshold halfway between the smallest and largest divergence). Here
# the split of the `d` latent dimensions into a *shared* and an *independent* subset is instead a latent
# variable: a DRPM partition with `K = 2` subsets, inferred per pair by an amortised guide and trained end to
# end with the exact `log_prob` (the DRPM paper's second experiment, whose code was never released).
#
# This tutorial writes the model and guide, then compares on generated data, over 3 seeds:
#
# * **DRPM**: `pyro_drpm.models.shared_factors.SharedFactorsVAE`;
# * **Ada-VAE**: the same networks and objective with Ada-VAE's thresholding rule (`AdaVAE`);
# * **oracle**: the same, told the true number of shared factors of every pair (`AdaVAE(..., num_shared=k)`);
# * **unpaired VAE**: the same networks trained on both views as unrelated examples (`UnpairedVAE`).
#
# Metrics: the mean absolute error of the inferred number of shared dimensions per pair and its confusion
# against the truth; the alignment of the latents with the true factors (MIG and DCI disentanglement); the
# reconstruction error.

# %%
import argparse
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pyro
import pyro.distributions as dist
import torch
from matplotlib.ticker import MaxNLocator
from pyro.infer import SVI, Trace_ELBO
from scipy import stats
from tqdm.auto import tqdm

from pyro_drpm.datasets import make_paired_factors
from pyro_drpm.distributions import DRPM
from pyro_drpm.infer import ExponentialSchedule, minibatches
from pyro_drpm.models.shared_factors import (
    AdaVAE,
    SharedFactorsVAE,
    UnpairedVAE,
    adaptive_threshold_mask,
    divergence_features,
    fit_pairs,
    posterior_divergence,
)
from pyro_drpm.models.shared_factors.metrics import count_confusion, dci_disentanglement, mutual_information_gap
from pyro_drpm.models.shared_factors.switched_normal import SwitchedNormal
from pyro_drpm.nn import MLPDecoder, MLPEncoder
from pyro_drpm.partitions import AmortisedDRPM, DRPMPrior, ElementScores
from pyro_drpm.provenance import describe_machine

smoke_test = "CI" in os.environ
parser = argparse.ArgumentParser(description="shared and independent factors: DRPM vs Ada-VAE")
parser.add_argument("--output", default="outputs/shared_factors", help="folder for the figures")
parser.add_argument("--seeds", type=int, default=1 if smoke_test else 3)
parser.add_argument("--epochs", type=int, default=2 if smoke_test else 20)
parser.add_argument("--results", default=None, help="results table (default: benchmarks/results/ in a full run)")
args, _ = parser.parse_known_args()
output = Path(args.output)
output.mkdir(parents=True, exist_ok=True)
torch.set_num_threads(1)
started = time.time()

NUM_FACTORS = LATENT_DIM = 5
OBSERVED_DIM = 20
NUM_TRAIN, NUM_TEST = (256, 200) if smoke_test else (4000, 1000)
BATCH_SIZE, LR = 128, 2e-3
TEMPERATURE = ExponentialSchedule(1.0, 0.3)

# %% [markdown]
# ## Data
#
# Five factors, uniform on `[-1, 1]`, go through a fixed random nonlinear mixing into 20 observed features
# (`make_paired_factors`, plus Gaussian noise of scale 0.05). Every pair draws how many factors it shares,
# uniformly from 0 to 4, and which ones; the second view copies those and redraws the others.

# %%
train = make_paired_factors(NUM_TRAIN, num_factors=NUM_FACTORS, observed_dim=OBSERVED_DIM, seed=100)
test = make_paired_factors(NUM_TEST, num_factors=NUM_FACTORS, observed_dim=OBSERVED_DIM, seed=200)
x1, x2 = torch.from_numpy(train.x1), torch.from_numpy(train.x2)
t1, t2 = torch.from_numpy(test.x1), torch.from_numpy(test.x2)
print("shared factors per training pair:", np.bincount(train.num_shared, minlength=NUM_FACTORS))

# %% [markdown]
# ## The model and the guide
#
# For every pair a partition `Y` of the `d` latent dimensions into two subsets is drawn from a DRPM prior (row
# 0: shared, row 1: independent; `m = Y[0]`). The first view's code is `z1 ~ N(0, I)`; the second copies the
# shared dimensions up to a small noise and draws the others afresh:
# `z2_j ~ N(z1_j, 0.05^2)` if `m_j = 1`, else `N(0, 1)`. One decoder generates both views. A shared dimension
# thus costs one KL term instead of two, the saving that rewards finding the shared dimensions.
#
# The guide encodes both views with one encoder, reads the per-dimension divergence between the two
# posteriors, and maps it to the DRPM's scores (dimensions that agree rank first and fill the shared subset)
# and size logits (how many are shared). The shared dimensions of `z1` use the average of the two posteriors
# (Ada-VAE's aggregation), and `z2` copies them as the model does. `SwitchedNormal` is a Normal whose
# parameters switch per entry with the mask, linearly, so that under the straight-through partition sample
# the gradient compares sharing a dimension with not sharing it.

# %%
encoder = MLPEncoder(OBSERVED_DIM, LATENT_DIM, (64, 64))
decoder = MLPDecoder(LATENT_DIM, OBSERVED_DIM, (64, 64), likelihood="gaussian")
prior = DRPMPrior(2)
embedding = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.ReLU())
partition_guide = AmortisedDRPM(
    torch.nn.Sequential(embedding, torch.nn.Flatten(-2), torch.nn.Linear(32 * LATENT_DIM, 2)),
    ElementScores(torch.nn.Sequential(embedding, torch.nn.Linear(32, 1))),
)
COPY_SCALE = 0.05


def model(x1, x2, temperature=1.0):
    pyro.module("decoder", decoder)
    pyro.module("prior", prior)
    zeros = x1.new_zeros(len(x1), LATENT_DIM)
    with pyro.plate("pairs", len(x1)):
        shared = pyro.sample("partition", prior(LATENT_DIM, temperature=temperature))[..., 0, :]
        z1 = pyro.sample("z1", dist.Normal(zeros, 1.0).to_event(1))
        copy = SwitchedNormal(shared, z1, torch.full_like(zeros, COPY_SCALE), zeros, torch.ones_like(zeros))
        z2 = pyro.sample("z2", copy.to_event(1))
        pyro.sample("x1", decoder.distribution(z1), obs=x1)
        pyro.sample("x2", decoder.distribution(z2), obs=x2)


def guide(x1, x2, temperature=1.0):
    pyro.module("encoder", encoder)
    pyro.module("partition_guide", partition_guide)
    (loc1, scale1), (loc2, scale2) = encoder(x1), encoder(x2)
    with pyro.plate("pairs", len(x1)):
        features = divergence_features((loc1, scale1), (loc2, scale2))
        shared = pyro.sample("partition", partition_guide(features, temperature=temperature))[..., 0, :]
        average_loc, average_scale = (loc1 + loc2) / 2, ((scale1**2 + scale2**2) / 2).sqrt()
        z1 = pyro.sample("z1", SwitchedNormal(shared, average_loc, average_scale, loc1, scale1).to_event(1))
        pyro.sample("z2", SwitchedNormal(shared, z1, torch.full_like(z1, COPY_SCALE), loc2, scale2).to_event(1))


# %% [markdown]
# A few epochs of SVI with `Trace_ELBO`; both partition sites are scored with the DRPM's exact `log_prob`.

# %%
pyro.set_rng_seed(0)
pyro.clear_param_store()
svi = SVI(model, guide, pyro.optim.ClippedAdam({"lr": LR}), Trace_ELBO())
handwritten_losses = []
for _ in tqdm(range(2 if smoke_test else 4), desc="hand-written model"):
    total = sum(svi.step(x1[b], x2[b], temperature=0.5) for b in minibatches(NUM_TRAIN, BATCH_SIZE))
    handwritten_losses.append(total / NUM_TRAIN)
print("hand-written model, negative ELBO per pair by epoch:", np.round(handwritten_losses, 2))

# %% [markdown]
# ## The packaged classes, compared
#
# `SharedFactorsVAE` is this model (its size network pools the dimensions with a mean, a Deep Sets layer, and
# its scores add a learned multiple of `-log(1 + divergence)` so that similar dimensions rank first from the
# start). `shared_mask` returns the shared dimensions of the guide's exact most probable partition. For a seed
# every method starts from the same encoder and decoder weights and gets the same epochs, batches and learning
# rate. The unpaired VAE infers no sharing; its count is Ada-VAE's rule applied after training, for reference.

# %%
METHODS = ("DRPM", "Ada-VAE", "oracle", "unpaired VAE")


def build(method):
    if method == "DRPM":
        return SharedFactorsVAE(OBSERVED_DIM, LATENT_DIM)
    if method in ("Ada-VAE", "oracle"):
        return AdaVAE(OBSERVED_DIM, LATENT_DIM)
    return UnpairedVAE(OBSERVED_DIM, LATENT_DIM)


SIZES = torch.arange(LATENT_DIM + 1.0)
SIZE_VALUES = torch.stack([SIZES, LATENT_DIM - SIZES], -1)  # (d + 1, 2): n shared, d - n independent


def size_stage_diagnostics(vae):
    """How informative the DRPM guide's size stage is: its size distribution on the test pairs."""
    with torch.no_grad():
        sizes = vae.partition_posterior(t1, t2).sizes
        probs = sizes.log_prob(SIZE_VALUES[:, None].expand(-1, NUM_TEST, 2)).exp().T  # (pairs, d + 1)
    expected = (probs * SIZES).sum(-1).numpy()
    return {
        "size correlation": float(np.corrcoef(expected, test.num_shared)[0, 1]),
        "largest size probability": float(probs.max(-1).values.mean()),
    }


# the most an MVHG with the default urn (d balls per subset) can put on 2 shared dimensions, over its logits
grid = torch.stack([torch.linspace(-8, 8, 321), torch.zeros(321)], -1)
MIDDLE_LIMIT = float(DRPM(grid, torch.zeros(LATENT_DIM)).sizes.log_prob(SIZE_VALUES[2]).exp().max())


def evaluate(method, vae):
    known = {"num_shared": torch.from_numpy(test.num_shared)} if method == "oracle" else {}
    if method == "unpaired VAE":
        with torch.no_grad():
            (loc1, scale1), (loc2, scale2) = vae.encoder(t1), vae.encoder(t2)
            mask = adaptive_threshold_mask(posterior_divergence(loc1, scale1, loc2, scale2))
    else:
        mask = vae.shared_mask(t1, t2, **known)
    counts = mask.sum(-1).numpy()
    r1, r2 = vae.reconstruct(t1, t2, **known)
    latents = vae.latent_means(t1).numpy()
    diagnostics = size_stage_diagnostics(vae) if method == "DRPM" else {}
    return diagnostics | {
        "count MAE": float(np.abs(counts - test.num_shared).mean()),
        "MIG": mutual_information_gap(latents, test.factors1),
        "DCI": dci_disentanglement(latents, test.factors1),
        "reconstruction MSE": float(((r1 - t1) ** 2).mean() + ((r2 - t2) ** 2).mean()) / 2,
        "counts": counts,
    }


results = {method: [] for method in METHODS}
for seed in range(args.seeds):
    for method in tqdm(METHODS, desc=f"seed {seed}"):
        pyro.set_rng_seed(seed)
        vae = build(method)
        options = {}
        if method == "DRPM":
            options["schedules"] = {"temperature": TEMPERATURE}
        if method == "oracle":
            options["num_shared"] = torch.from_numpy(train.num_shared)
        begin = time.time()
        with pyro.get_param_store().scope():
            losses = fit_pairs(vae, x1, x2, args.epochs, batch_size=BATCH_SIZE, lr=LR, progress=True, **options)
        scores = evaluate(method, vae)
        scores.update(seconds=time.time() - begin, losses=losses)
        results[method].append(scores)

# %% [markdown]
# ## Results
#
# The table (mean and standard deviation over seeds; lower is better for the count error and the
# reconstruction, higher for MIG and DCI) and the paired differences DRPM minus Ada-VAE (same seed, same
# initial networks) with a 95% t-interval over seeds.

# %%
METRICS = ("count MAE", "MIG", "DCI", "reconstruction MSE", "seconds")


def summary(values):
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.3f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.3f}"


def paired_difference(metric):
    diff = np.array([a[metric] - b[metric] for a, b in zip(results["DRPM"], results["Ada-VAE"], strict=True)])
    if len(diff) < 2:
        return f"{diff.mean():+.3f} (one seed)"
    half = stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff))
    return f"{diff.mean():+.3f} [{diff.mean() - half:+.3f}, {diff.mean() + half:+.3f}]"


lines = [
    "# Shared and independent factors: DRPM vs Ada-VAE",
    "",
    f"Generated by `tutorials/shared_factors.py` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; "
    f"{describe_machine()}.",
    f"{NUM_TRAIN} training and {NUM_TEST} test pairs of {NUM_FACTORS} factors (shared count uniform on 0..4), "
    f"latent dimension {LATENT_DIM}, {args.epochs} epochs, batch {BATCH_SIZE}, {args.seeds} seed(s); mean ± sd over "
    "seeds; test-set metrics; seconds: training time of one run (a shared, busy machine).",
    "",
    "| method | " + " | ".join(METRICS) + " |",
    "|---" * (len(METRICS) + 1) + "|",
]
for method in METHODS:
    lines.append(f"| {method} | " + " | ".join(summary([r[m] for r in results[method]]) for m in METRICS) + " |")
lines += [
    "",
    "Paired differences DRPM minus Ada-VAE (mean [95% t-interval over seeds]):",
    "",
    "| " + " | ".join(METRICS[:-1]) + " |",
    "|---" * (len(METRICS) - 1) + "|",
    "| " + " | ".join(paired_difference(m) for m in METRICS[:-1]) + " |",
    "",
    "Confusion of the inferred (columns) against the true (rows) number of shared factors, test pairs of all seeds:",
    "",
    "| method | true | " + " | ".join(f"inferred {k}" for k in range(LATENT_DIM + 1)) + " |",
    "|---" * (LATENT_DIM + 3) + "|",
]
for method in METHODS:
    table = sum(count_confusion(test.num_shared, r["counts"], LATENT_DIM) for r in results[method])
    for true_count, row in enumerate(table[:NUM_FACTORS]):
        lines.append(f"| {method} | {true_count} | " + " | ".join(str(v) for v in row) + " |")
correlations = [r["size correlation"] for r in results["DRPM"]]
largest = [r["largest size probability"] for r in results["DRPM"]]
lines += [
    "",
    "The DRPM guide's size stage on the test pairs: correlation of its expected number of shared dimensions with "
    f"the true number {summary(correlations)}; mean probability of its most likely number {summary(largest)} "
    f"(an MVHG with the default urn of {LATENT_DIM} balls per subset puts at most {MIDDLE_LIMIT:.3f} on 2 shared "
    "dimensions, whatever its logits).",
    "",
    f"Full run time: {time.time() - started:.0f} s.",
]
report = "\n".join(lines) + "\n"
print(report)
results_path = Path(args.results) if args.results else (output if smoke_test else Path("benchmarks/results"))
if results_path.suffix != ".md":
    results_path.mkdir(parents=True, exist_ok=True)
    results_path = results_path / "shared_factors.md"
results_path.write_text(report)

# %%
fig, axes = plt.subplots(1, 4, figsize=(13, 3.2))
for ax, metric in zip(axes, METRICS[:-1], strict=True):
    for i, method in enumerate(METHODS):
        values = [r[metric] for r in results[method]]
        ax.scatter(np.full(len(values), i), values, color=f"C{i}", alpha=0.7)
        ax.hlines(np.mean(values), i - 0.3, i + 0.3, color=f"C{i}")
    ax.set_xticks(range(len(METHODS)), METHODS, rotation=30, fontsize=8)
    ax.set_xlabel("method")
    ax.set_ylabel(metric)
fig.suptitle("per seed (dots) and mean (bar)")
fig.tight_layout()
fig.savefig(output / "metrics_per_method.png", dpi=120)
plt.close(fig)

fig, axes = plt.subplots(1, len(METHODS), figsize=(13, 3.4))
for ax, method in zip(axes, METHODS, strict=True):
    table = sum(count_confusion(test.num_shared, r["counts"], LATENT_DIM) for r in results[method])[:NUM_FACTORS]
    shares = table / table.sum(1, keepdims=True).clip(min=1)
    ax.imshow(shares, origin="lower", cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.plot([0, NUM_FACTORS - 1], [0, NUM_FACTORS - 1], "r--", lw=1)
    ax.set_title(method)
    ax.set_xlabel("inferred number of shared dimensions")
    ax.set_ylabel("true number of shared factors")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
fig.tight_layout()
fig.savefig(output / "inferred_vs_true_shared.png", dpi=120)
plt.close(fig)

# %% [markdown]
# ## What the numbers say
#
# The measured table of the full run is `benchmarks/results/shared_factors.md` (printed above). In that run
# (3 seeds, 20 epochs):
#
# * **The number of shared factors.** The DRPM infers it better than Ada-VAE's rule on every seed (the paired
#   difference of the count error and its interval are negative), and better than guessing 2 for every pair
#   (error 1.2 under uniform counts); Ada-VAE's counts barely depend on the truth (mostly 3-4 shared, an error
#   above that constant guess), like the same rule applied to the unpaired VAE. The DRPM's counts do follow
#   the truth but are compressed towards the middle: it never inferred 0 shared dimensions and rarely 4, so
#   it is far from the oracle. The last lines of the results file say why: the guide's sizes are an MVHG with
#   the DRPM's default urn of `d` balls per subset, which cannot concentrate on a middle count (at most about
#   half its mass on 2 shared dimensions, whatever its logits), and the learned size logits vary little
#   between pairs, so its expected count correlates only moderately with the truth (below 0.8). A guide
#   whose sizes could concentrate (a smaller, per-pair urn) is the obvious next step; it is not tried here.
#   So part of the DRPM's advantage is only that its sizes favour middle counts, where a constant guess already
#   does fairly well; its gain over that guess is small. Ada-VAE's rule cannot infer 0 at all (the smallest
#   divergence is always below the threshold unless all divergences are equal).
# * **Disentanglement.** Where the DRPM does not beat the heuristic: MIG and DCI of the DRPM and Ada-VAE are
#   indistinguishable over 3 seeds (both paired intervals contain 0), and even the oracle, told the counts,
#   aligns the latents no better at this training budget. All three paired models are ahead of the unpaired
#   VAE on average, the benefit of weak supervision.
# * **Reconstruction.** The DRPM reconstructs better than Ada-VAE on average (over 3 seeds the paired interval
#   reaches 0), whose rule forces about 4 of 5 dimensions to be shared whatever the pair, close to the level of
#   the unpaired VAE.
# * **Cost.** The DRPM is several times slower per run, since every step evaluates two exact DRPM
#   log-probabilities.

# %%
assert (output / "metrics_per_method.png").is_file() and (output / "inferred_vs_true_shared.png").is_file()
assert np.isfinite(handwritten_losses).all() and handwritten_losses[-1] < handwritten_losses[0]
for method in METHODS:
    for r in results[method]:
        assert np.isfinite(r["losses"]).all() and r["losses"][-1] < r["losses"][0], method
assert all(r["count MAE"] == 0 for r in results["oracle"]), "the oracle is told the counts"
assert all(r["counts"].min() >= 1 for r in results["Ada-VAE"]), "the rule never infers 0 shared"


def mean(method, metric):
    return float(np.mean([r[metric] for r in results[method]]))


def interval_contains_zero(metric):
    diff = np.array([a[metric] - b[metric] for a, b in zip(results["DRPM"], results["Ada-VAE"], strict=True)])
    half = stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff))
    return abs(diff.mean()) <= half


if not smoke_test:
    CONSTANT_GUESS_ERROR = 1.2  # guessing 2 shared for every pair, counts uniform on 0..4
    drpm_errors = [r["count MAE"] for r in results["DRPM"]]
    ada_errors = [r["count MAE"] for r in results["Ada-VAE"]]
    assert all(d < a for d, a in zip(drpm_errors, ada_errors, strict=True)), "DRPM beats the rule on every seed"
    assert mean("DRPM", "count MAE") < CONSTANT_GUESS_ERROR < mean("Ada-VAE", "count MAE")
    assert all(r["counts"].min() >= 1 for r in results["DRPM"]), "the DRPM never inferred 0 shared"
    assert interval_contains_zero("MIG") and interval_contains_zero("DCI"), "disentanglement: no difference"
    assert abs(mean("oracle", "MIG") - mean("Ada-VAE", "MIG")) < 0.02, "the oracle aligns no better"
    for method in ("DRPM", "Ada-VAE", "oracle"):
        assert mean(method, "MIG") > mean("unpaired VAE", "MIG"), method
        assert mean(method, "DCI") > mean("unpaired VAE", "DCI"), method
    assert mean("DRPM", "reconstruction MSE") < mean("Ada-VAE", "reconstruction MSE")
    assert mean("DRPM", "seconds") > 2 * mean("Ada-VAE", "seconds"), "the DRPM is several times slower"
    assert 0 < mean("DRPM", "size correlation") < 0.8, "the expected count correlates only moderately"
    assert mean("DRPM", "largest size probability") < MIDDLE_LIMIT + 0.1 < 0.7, "the sizes stay dispersed"
