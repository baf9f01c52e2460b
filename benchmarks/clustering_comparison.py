# %% [markdown]
# # DRPM-VC against Dirichlet-process and i.i.d. mixtures
#
# This is the project's main job. On the 1797 handwritten digits that ship with scikit-learn it compares, over
# several seeds:
#
# * **DRPM-VC**: variational clustering where the partition of each mini-batch is one DRPM latent
#   (`pyro_drpm.models.clustering.DRPMClustering`);
# * **CRP-prior VC**: the same model and DRPM guide with a Chinese-restaurant-process prior over the batch's
#   partition instead of the DRPM prior (`DRPMClustering(partition_prior="crp")`, learned concentration);
# * **VaDE-style mixture**: i.i.d. categorical cluster indicators, the same networks and budget
#   (`VaDEClustering`);
# * **DP-VAE**: a truncated stick-breaking Dirichlet-process mixture prior in the latent space, trained by SVI as
#   in Pyro's DP-mixture tutorial, same networks and budget (`DPMixtureClustering`, truncation `2K`);
# * scikit-learn's **KMeans**, **GaussianMixture** and Dirichlet-process **BayesianGaussianMixture** (`DP-GMM`,
#   truncation `2K`), on the raw pixels and on the pretrained embedding.
#
# For fairness every deep model of one seed starts from the *same* pretrained networks (and the embedding
# baselines use them too), keeps the same encoder trunk frozen, gets the same number of SVI epochs, batch size
# and learning rate, and is initialised from a mixture fitted to that embedding. Scores: unsupervised accuracy
# (Hungarian matching), NMI, ARI, and the number of clusters each method actually uses (clusters with at least
# one digit). The table (mean +- std over seeds) is printed, saved as markdown and CSV, and plotted.
#
# Run it on your own MNIST or Fashion-MNIST files (IDX or npz; never downloaded) with
# `--data mnist --data-path DIR` (add `--max-samples 10000` to keep it short on a CPU).

# %%
import argparse
import csv
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from pyro_drpm.datasets import load_digits_01, load_mnist
from pyro_drpm.models.clustering import (
    DPMixtureClustering,
    DRPMClustering,
    VaDEClustering,
    clustering_scores,
    n_clusters_used,
    sklearn_baselines,
)
from pyro_drpm.nn import image_side, pretrain

smoke_test = "CI" in os.environ
parser = argparse.ArgumentParser(description="DRPM-VC vs Dirichlet-process and i.i.d. mixture baselines")
parser.add_argument("--output", default="outputs/clustering_comparison", help="folder for table and figures")
parser.add_argument("--data", default="digits", choices=["digits", "mnist", "fashion-mnist"])
parser.add_argument("--data-path", default=None, help="folder or .npz with the MNIST / Fashion-MNIST files")
parser.add_argument("--split", default="train", choices=["train", "test", "all"], help="MNIST split to cluster")
parser.add_argument("--max-samples", type=int, default=None, help="cluster only the first N samples")
parser.add_argument("--seeds", type=int, default=1 if smoke_test else 5, help="number of seeds (0, 1, ...)")
parser.add_argument("--epochs", type=int, default=2 if smoke_test else 100, help="SVI epochs of every deep model")
parser.add_argument("--pretrain-epochs", type=int, default=3 if smoke_test else 200)
parser.add_argument("--methods", default="all", help="comma-separated subset: drpm,crp,vade,dp,sklearn")
parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 is fastest on a busy 2-core CPU)")
parser.add_argument(
    "--jobs", type=int, default=min(2, os.cpu_count() or 1), help="seeds run in parallel worker processes"
)
args, _ = parser.parse_known_args()
output = Path(args.output)
output.mkdir(parents=True, exist_ok=True)
torch.set_num_threads(args.threads)
threadpool_limits(args.threads)  # scikit-learn's OpenMP / BLAS pools, too

N_CLUSTERS = 10
TRUNCATION = 2 * N_CLUSTERS
BATCH_SIZE = 256
LATENT_DIM = 10
ALL_METHODS = {"drpm", "crp", "vade", "dp", "sklearn"}
methods = ALL_METHODS if args.methods == "all" else set(args.methods.split(","))
unknown = methods - ALL_METHODS
if unknown:
    raise ValueError(f"unknown methods {sorted(unknown)}; choose from {sorted(ALL_METHODS)}")

# %% [markdown]
# ## Data
#
# Digits: `load_digits().data / 16`. MNIST / Fashion-MNIST: from `--data-path` only; a clear error names the
# expected files when they are missing. In smoke mode (`CI` set) we keep 300 digits.

# %%
if args.data == "digits":
    X, y = load_digits_01()
else:
    if args.data_path is None:
        raise SystemExit(f"--data {args.data} needs --data-path (a folder with the IDX files or an .npz archive)")
    X, y = load_mnist(args.data_path, split=args.split)
if args.max_samples is not None:
    X, y = X[: args.max_samples], y[: args.max_samples]
if smoke_test:
    X, y = X[:300], y[:300]
print(f"{args.data}: {X.shape[0]} samples, {X.shape[1]} features, {len(np.unique(y))} classes")

# %% [markdown]
# ## One seed
#
# Pretrain once (twin contrastive learning on two random affine jitters of every image plus reconstruction, as
# the DRPM code), then fit every method from it. Deep models: the encoder trunk frozen, 100 SVI epochs at
# learning rate 1e-3 in batches of 256, `beta = 1` (plain ELBO). Seeds run two at a time in worker processes.

# %%
deep_settings = dict(
    epochs=args.epochs,
    batch_size=BATCH_SIZE,
    lr=1e-3,
    beta=1.0,
    progress=False,
)


def run_seed(seed: int) -> list[dict]:
    rows = []
    start = time.time()
    pretrained = pretrain(
        X,
        latent_dim=LATENT_DIM,
        hidden_dims=(256, 256),
        likelihood="bernoulli",
        epochs=args.pretrain_epochs,
        batch_size=BATCH_SIZE,
        seed=seed,
        objective="contrastive" if image_side(X.shape[1]) is not None else "autoencoder",
        n_clusters=N_CLUSTERS,
    )
    pretrain_seconds = time.time() - start
    estimators = {}
    if "drpm" in methods:
        estimators["DRPM-VC"] = DRPMClustering(N_CLUSTERS, pretrained=pretrained, random_state=seed, **deep_settings)
    if "crp" in methods:
        estimators["CRP-prior VC (DRPM guide)"] = DRPMClustering(
            N_CLUSTERS, partition_prior="crp", pretrained=pretrained, random_state=seed, **deep_settings
        )
    if "vade" in methods:
        estimators["VaDE-style mixture"] = VaDEClustering(
            N_CLUSTERS, pretrained=pretrained, random_state=seed, **deep_settings
        )
    if "dp" in methods:
        estimators["DP-VAE (stick-breaking)"] = DPMixtureClustering(
            TRUNCATION, pretrained=pretrained, random_state=seed, **deep_settings
        )
    if "sklearn" in methods:
        estimators.update(
            sklearn_baselines(N_CLUSTERS, random_state=seed, truncation=TRUNCATION, pretrained=pretrained)
        )
    for name, estimator in estimators.items():
        start = time.time()
        labels = estimator.fit_predict(X)
        seconds = time.time() - start
        row = {"method": name, "seed": seed, **clustering_scores(y, labels)}
        row.update(clusters=n_clusters_used(labels), seconds=seconds, pretrain_seconds=pretrain_seconds)
        rows.append(row)
    return rows


# %% [markdown]
# ## All seeds


# %%
def _run_seed_in_worker(seed: int) -> list[dict]:
    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        return run_seed(seed)


total_start = time.time()
results: list[dict] = []
jobs = min(args.jobs, args.seeds)
if jobs > 1 and "fork" in multiprocessing.get_all_start_methods():
    # seeds are independent: run them in worker processes (forked, so they share the data and settings)
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = {pool.submit(_run_seed_in_worker, seed): seed for seed in range(args.seeds)}
        for future in tqdm(as_completed(futures), total=len(futures), desc="seeds"):
            rows = future.result()
            results.extend(rows)
            tqdm.write(f"seed {futures[future]}: " + ", ".join(f"{r['method']} {r['acc']:.3f}" for r in rows))
else:
    for seed in tqdm(range(args.seeds), desc="seeds"):
        rows = run_seed(seed)
        results.extend(rows)
        tqdm.write(f"seed {seed}: " + ", ".join(f"{r['method']} {r['acc']:.3f}" for r in rows))
results.sort(key=lambda r: r["seed"])
total_seconds = time.time() - total_start

# %% [markdown]
# ## The table: mean +- std over seeds

# %%
method_names = list(dict.fromkeys(r["method"] for r in results))
summary = {}
for name in method_names:
    rows = [r for r in results if r["method"] == name]
    summary[name] = {
        metric: (float(np.mean([r[metric] for r in rows])), float(np.std([r[metric] for r in rows])))
        for metric in ("acc", "nmi", "ari", "clusters", "seconds")
    }
    summary[name]["clusters_range"] = (min(r["clusters"] for r in rows), max(r["clusters"] for r in rows))

lines = [
    f"| method ({args.data}, {args.seeds} seeds) | ACC | NMI | ARI | clusters used | fit time (s) |",
    "|---|---|---|---|---|---|",
]
for name in sorted(method_names, key=lambda m: -summary[m]["acc"][0]):
    s = summary[name]
    lo, hi = s["clusters_range"]
    clusters = f"{s['clusters'][0]:.1f}" + (f" ({lo}-{hi})" if lo != hi else "")
    lines.append(
        f"| {name} | {s['acc'][0]:.3f} +- {s['acc'][1]:.3f} | {s['nmi'][0]:.3f} +- {s['nmi'][1]:.3f} "
        f"| {s['ari'][0]:.3f} +- {s['ari'][1]:.3f} | {clusters} | {s['seconds'][0]:.1f} |"
    )
pretrain_mean = float(np.mean([r["pretrain_seconds"] for r in results]))
footer = (
    f"\nShared autoencoder pretraining: {pretrain_mean:.1f} s per seed (not included in the fit times). "
    f"Total run time: {total_seconds / 60:.1f} min, {jobs} seed(s) at a time, {args.threads} thread(s) each."
)
table = "\n".join(lines)
print(table + footer)
(output / "results.md").write_text(table + "\n" + footer + "\n")
with open(output / "results.csv", "w", newline="") as handle:
    writer = csv.DictWriter(handle, fieldnames=list(results[0]))
    writer.writeheader()
    writer.writerows(results)

# %% [markdown]
# ## The plot

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 0.45 * len(method_names) + 1.5), sharey=True)
order = sorted(method_names, key=lambda m: summary[m]["acc"][0])
positions = np.arange(len(order))
for ax, metric in zip(axes, ("acc", "nmi", "ari"), strict=True):
    means = [summary[m][metric][0] for m in order]
    stds = [summary[m][metric][1] for m in order]
    colours = ["tab:red" if m == "DRPM-VC" else "tab:gray" for m in order]
    ax.barh(positions, means, xerr=stds, color=colours, capsize=3)
    ax.set_xlim(0, 1)
    ax.set_title(metric.upper())
axes[0].set_yticks(positions, order)
fig.suptitle(f"Clustering {args.data}: mean +- std over {args.seeds} seed(s)")
fig.tight_layout()
fig.savefig(output / "comparison.png", dpi=120)
plt.close(fig)
print(f"table, per-seed CSV and figure written to {output.resolve()}")

# %% [markdown]
# ## Results at the time of writing
#
# The full run (5 seeds, two at a time on a 2-core machine, one thread each, 9.1 min in all) gave:
#
# | method (digits, 5 seeds) | ACC | NMI | ARI | clusters used |
# |---|---|---|---|---|
# | KMeans (embedding) | 0.885 +- 0.019 | 0.829 +- 0.020 | 0.780 +- 0.030 | 10 |
# | GaussianMixture (embedding) | 0.856 +- 0.051 | 0.828 +- 0.014 | 0.726 +- 0.045 | 10 |
# | DRPM-VC | 0.841 +- 0.053 | 0.830 +- 0.022 | 0.740 +- 0.046 | 10 |
# | CRP-prior VC (DRPM guide) | 0.841 +- 0.053 | 0.830 +- 0.022 | 0.740 +- 0.046 | 10 |
# | VaDE-style mixture | 0.834 +- 0.050 | 0.827 +- 0.018 | 0.720 +- 0.038 | 10 |
# | KMeans (raw) | 0.793 +- 0.002 | 0.742 +- 0.002 | 0.668 +- 0.003 | 10 |
# | DP-GMM (embedding) | 0.688 +- 0.041 | 0.811 +- 0.018 | 0.692 +- 0.042 | 19.4 (19-20) |
# | DP-VAE (stick-breaking) | 0.675 +- 0.030 | 0.812 +- 0.009 | 0.682 +- 0.023 | 20 |
# | GaussianMixture (raw) | 0.654 +- 0.033 | 0.642 +- 0.023 | 0.519 +- 0.029 | 10 |
# | DP-GMM (raw) | 0.588 +- 0.031 | 0.640 +- 0.025 | 0.465 +- 0.027 | 14.2 (13-16) |
#
# What it says, honestly:
#
# * DRPM-VC does **not** reach the project's goal on digits (ACC >= 0.85 and at or above every baseline): it
#   is first on NMI (by 0.001), above the VaDE-style mixture on every score, but third on ACC and second on ARI
#   behind k-means on the pretrained embedding. Two seeds make the gap: on seeds 2 and 4 both SVI mixtures end
#   at 0.77-0.79 accuracy where k-means on the same embedding reaches 0.89-0.92; on the other three seeds
#   DRPM-VC is within 0.01 of or above both embedding baselines.
# * The CRP row equals DRPM-VC on every seed, and that is expected: the guide's subset sizes are the rounded
#   soft counts (deterministic), and both priors have uniform scores, so `log p(Y)` depends on the sampled
#   partition only through sizes the guide fixes. The prior then trains its own parameters (size logits or
#   concentration) but sends no gradient to the encoder or the clusters. A guide with random sizes (the full
#   urn) lets the prior act, but lost clusters on tuning seeds (see `pyro_drpm.models.clustering.drpm_vc`).
# * The Dirichlet-process models use all or nearly all of their 20 components: the stick-breaking prior with
#   concentration 1 does not prune clusters on 1797 digits, which costs them accuracy (surplus clusters count as
#   errors) while NMI rewards the finer split.
# * Every scikit-learn model does better on the pretrained embedding than on the raw pixels. Compared with the
#   denoising autoencoder of the first version, the contrastive pretraining and the frozen trunk lifted the
#   embedding baselines and DRPM-VC (k-means on the embedding 0.836 -> 0.885 accuracy, DRPM-VC 0.810 -> 0.841).

# %% [markdown]
# ## Checks
#
# Every method produced valid scores for every seed and the files exist. With the full settings on the digits,
# the claims above that do not depend on small differences are checked too.

# %%
assert len(results) == len(method_names) * args.seeds
assert all(0.0 <= r[m] <= 1.0 for r in results for m in ("acc", "nmi") if np.isfinite(r[m]))
assert all(-1.0 <= r["ari"] <= 1.0 for r in results)
assert all(1 <= r["clusters"] <= TRUNCATION for r in results)
for name in ("results.md", "results.csv", "comparison.png"):
    assert (output / name).is_file(), name
full_digits_run = not smoke_test and args.data == "digits" and args.methods == "all" and args.max_samples is None
if full_digits_run:
    acc = {name: summary[name]["acc"][0] for name in method_names}
    assert acc["DRPM-VC"] > acc["GaussianMixture (raw)"] + 0.05
    assert acc["GaussianMixture (embedding)"] > acc["GaussianMixture (raw)"]
    assert summary["DP-VAE (stick-breaking)"]["clusters"][0] > N_CLUSTERS
    assert summary["DRPM-VC"]["clusters"][0] >= N_CLUSTERS - 2
