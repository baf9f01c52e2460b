# %% [markdown]
# # Inferring the number of clusters: DRPM-VC against Dirichlet-process mixtures and what a user would pick
#
# This is the project's main job. On the 1797 handwritten digits that ship with scikit-learn it compares, over
# at least 10 seeds, every method that **infers the number of clusters**, each given the same upper bound
# (20 for 10 digit classes), the same pretrained embedding and the same seeds. The embedding is, by default, a
# **t-SNE pretraining** (`pretrain(..., objective="tsne")`: the encoder regresses a 2-D t-SNE of the pixels, so
# its latent space keeps the images' neighbourhoods); `--pretraining contrastive` gives every method the twin
# contrastive embedding instead (10-D, the DRPM code's pretraining):
#
# * **DRPM-VC** with its DRPM prior (learned size logits) and with a **CRP prior** (learned concentration):
#   `DRPMClustering(n_clusters=20)`, which starts from, and ends with, the subsets that the MAP partition under
#   the prior uses (delete moves) and labels points by the posterior over the partition; and with the DRPM prior
#   and full-covariance clusters (`covariance="full"`, the encoder's noise then fixed small against them);
# * **DP-VAE**: a truncated stick-breaking Dirichlet-process mixture prior in the latent space, trained by SVI
#   (`DPMixtureClustering(n_clusters=20)`);
# * scikit-learn's Dirichlet-process **BayesianGaussianMixture** (`DP-GMM`) and **HDBSCAN** on the embedding;
# * **BIC model selection**: the `GaussianMixture` with 1-20 components of lowest BIC on the embedding
#   (`BICGaussianMixture`), with diagonal covariances (the DRPM-VC clusters' kind) and with full ones: how many
#   Gaussian clusters the embedding itself supports;
#
# then the **fixed-K** rows (K = 10): DRPM-VC without pruning, the VaDE-style mixture, KMeans and
# GaussianMixture on the embedding and on the raw pixels; and what a user would pick instead of a generative
# model: **t-SNE + KMeans** and **t-SNE + HDBSCAN** on the raw pixels (scikit-learn; HDBSCAN's noise points
# count as one more cluster). Scores: unsupervised accuracy (Hungarian matching, surplus clusters count as
# errors), NMI, ARI, and the number of clusters each method uses. The table gives mean +- std over seeds, the
# paired differences of DRPM-VC minus the best other method and minus the best other method that infers K, per
# metric with a 95% t interval over seeds (DRPM-VC: its best row on that metric), and the learned CRP
# concentration; it is written to `--output` and,
# for the full digits run, to
# `benchmarks/results/clustering_comparison.md` (with machine, versions and date).
#
# Run it on your own MNIST or Fashion-MNIST files (IDX or npz; never downloaded) with
# `--data mnist --data-path DIR` (add `--max-samples 10000` to keep it short on a CPU).

# %%
import argparse
import csv
import datetime
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import scipy
import sklearn
import torch
from scipy import stats
from sklearn.cluster import HDBSCAN, KMeans
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from pyro_drpm.datasets import load_digits_01, load_mnist
from pyro_drpm.models.clustering import (
    BICGaussianMixture,
    DPMixtureClustering,
    DRPMClustering,
    EmbeddingClustering,
    VaDEClustering,
    clustering_scores,
    dirichlet_process_mixture,
    n_clusters_used,
    sklearn_baselines,
)
from pyro_drpm.nn import image_side, pretrain
from pyro_drpm.provenance import describe_machine

smoke_test = "CI" in os.environ
parser = argparse.ArgumentParser(description="Methods that infer the number of clusters, and fixed-K baselines")
parser.add_argument("--output", default="outputs/clustering_comparison", help="folder for table and figures")
parser.add_argument("--data", default="digits", choices=["digits", "mnist", "fashion-mnist"])
parser.add_argument("--data-path", default=None, help="folder or .npz with the MNIST / Fashion-MNIST files")
parser.add_argument("--split", default="train", choices=["train", "test", "all"], help="MNIST split to cluster")
parser.add_argument("--max-samples", type=int, default=None, help="cluster only the first N samples")
parser.add_argument("--seeds", type=int, default=1 if smoke_test else 10, help="number of seeds (0, 1, ...)")
parser.add_argument("--epochs", type=int, default=2 if smoke_test else 100, help="SVI epochs of every deep model")
parser.add_argument("--pretrain-epochs", type=int, default=3 if smoke_test else 200)
parser.add_argument(
    "--pretraining", default="tsne", choices=["tsne", "contrastive"], help="the embedding every method shares"
)
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
UPPER_BOUND = 2 * N_CLUSTERS
BATCH_SIZE = 256
LATENT_DIM = 2 if args.pretraining == "tsne" else 10
DRPM_ROWS = ("DRPM-VC (DRPM prior)", "DRPM-VC (CRP prior)", "DRPM-VC (DRPM prior, full covariances)")

# %% [markdown]
# ## Data
#
# Digits: `load_digits().data / 16`. MNIST / Fashion-MNIST: from `--data-path` only. In smoke mode (`CI` set)
# we keep 300 digits.

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
# Pretrain once, then fit every method from it. The t-SNE pretraining (the default) fits scikit-learn's t-SNE
# of the pixels (2-D, perplexity 30, `random_state` = the seed) and trains the encoder's mean to reproduce it,
# the decoder to reconstruct the images from it; so the "embedding" rows below cluster (a regression of) a
# t-SNE of the same pixels, close relatives of the t-SNE rows on the raw pixels. The contrastive pretraining
# (twin contrastive learning on two random affine jitters of every image plus reconstruction) spreads the
# images over as many soft clusters as the upper bound (20), as `DRPMClustering(20)` does on its own. Neither
# is told the number of classes, which the methods that infer it must find. Deep models: the encoder trunk
# frozen, the same SVI epochs at learning rate 1e-3 in batches of 256, `beta = 1` (plain ELBO), the estimators'
# default budget: 200 pretraining and 100 SVI epochs (`benchmarks/bench_training_budget.py` measures what
# halving both would cost).

# %%
deep_settings = dict(epochs=args.epochs, batch_size=BATCH_SIZE, lr=1e-3, beta=1.0, progress=False)


def tsne_methods(seed: int) -> dict:
    """t-SNE of the raw pixels (2-D), then KMeans with the true K or HDBSCAN (noise as one more cluster)."""
    embedding = TSNE(2, random_state=seed, init="pca").fit_transform(X)
    return {
        "t-SNE + KMeans (raw, K = 10)": KMeans(N_CLUSTERS, n_init=10, random_state=seed).fit_predict(embedding),
        "t-SNE + HDBSCAN (raw)": HDBSCAN(min_cluster_size=15).fit_predict(embedding),
    }


def run_seed(seed: int) -> list[dict]:
    rows = []
    objective = args.pretraining
    if objective == "contrastive" and image_side(X.shape[1]) is None:
        objective = "autoencoder"  # the contrastive augmentations need square images
    start = time.time()
    pretrained = pretrain(
        X,
        latent_dim=LATENT_DIM,
        hidden_dims=(256, 256),
        likelihood="bernoulli",
        epochs=args.pretrain_epochs,
        batch_size=BATCH_SIZE,
        seed=seed,
        objective=objective,
        n_clusters=UPPER_BOUND,  # the cluster contrastive loss's columns: the upper bound, not the true number
    )
    pretrain_seconds = time.time() - start
    common = dict(pretrained=pretrained, random_state=seed, **deep_settings)
    infers_k = {
        DRPM_ROWS[0]: DRPMClustering(UPPER_BOUND, **common),
        DRPM_ROWS[1]: DRPMClustering(UPPER_BOUND, partition_prior="crp", **common),
        DRPM_ROWS[2]: DRPMClustering(UPPER_BOUND, covariance="full", **common),
        "DP-VAE (stick-breaking)": DPMixtureClustering(UPPER_BOUND, **common),
        "DP-GMM (embedding)": EmbeddingClustering(dirichlet_process_mixture(UPPER_BOUND, seed), pretrained),
        "HDBSCAN (embedding)": EmbeddingClustering(HDBSCAN(min_cluster_size=15), pretrained),
        **{
            f"GaussianMixture + BIC, {kind} (embedding)": EmbeddingClustering(
                BICGaussianMixture(UPPER_BOUND, covariance_type=covariance, random_state=seed), pretrained
            )
            for kind, covariance in (("diagonal", "diag"), ("full", "full"))
        },
    }
    fixed_k = {
        "DRPM-VC, K = 10 (no pruning)": DRPMClustering(N_CLUSTERS, prune=False, **common),
        "VaDE-style mixture, K = 10": VaDEClustering(N_CLUSTERS, **common),
    }
    for name, estimator in sklearn_baselines(N_CLUSTERS, random_state=seed, pretrained=pretrained).items():
        if not name.startswith("DP-GMM"):
            fixed_k[name.replace(" (", ", K = 10 (")] = estimator
    for group, estimators in (("infers K", infers_k), ("fixed K", fixed_k)):
        for name, estimator in estimators.items():
            start = time.time()
            labels = estimator.fit_predict(X)
            row = {"method": name, "group": group, "seed": seed, **clustering_scores(y, labels)}
            row.update(clusters=n_clusters_used(labels), seconds=time.time() - start)
            if name == DRPM_ROWS[1]:
                row["concentration"] = float(estimator.model_.prior.concentration.detach())
            rows.append(row)
    start = time.time()
    for name, labels in tsne_methods(seed).items():
        row = {"method": name, "group": "raw pixels, t-SNE", "seed": seed, **clustering_scores(y, labels)}
        row.update(clusters=n_clusters_used(labels), seconds=(time.time() - start) / 2)
        rows.append(row)
    for row in rows:
        row["pretrain_seconds"] = pretrain_seconds
    return rows


# %% [markdown]
# ## All seeds


# %%
def _run_seed_in_worker(seed: int) -> list[dict]:
    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        return run_seed(seed)


def _report(seed, rows):
    tqdm.write(f"seed {seed}: " + ", ".join(f"{r['method']} {r['acc']:.3f}/{r['clusters']}" for r in rows))


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
            _report(futures[future], rows)
else:
    for seed in tqdm(range(args.seeds), desc="seeds"):
        rows = run_seed(seed)
        results.extend(rows)
        _report(seed, rows)
results.sort(key=lambda r: r["seed"])
total_seconds = time.time() - total_start

# %% [markdown]
# ## The table: mean +- std over seeds, clusters used, paired differences
#
# For each metric, the paired difference is DRPM-VC (the best of its three rows on that metric's mean) minus
# the best other method on that metric, and minus the best other method that infers the number of clusters,
# seed by seed, with a 95% t interval over the seeds (none for one seed).

# %%
METRICS = ("acc", "nmi", "ari")
method_names = list(dict.fromkeys(r["method"] for r in results))
by_method = {name: [r for r in results if r["method"] == name] for name in method_names}  # sorted by seed
summary = {}
for name, rows in by_method.items():
    summary[name] = {m: (float(np.mean([r[m] for r in rows])), float(np.std([r[m] for r in rows]))) for m in METRICS}
    clusters = [r["clusters"] for r in rows]
    summary[name].update(
        group=rows[0]["group"],
        clusters=(float(np.mean(clusters)), min(clusters), max(clusters)),
        seconds=float(np.mean([r["seconds"] for r in rows])),
    )


def paired_difference(metric: str, group: str | None = None):
    """DRPM-VC (its better prior on ``metric``) minus the best other method (of ``group``, if given)."""
    drpm = max(DRPM_ROWS, key=lambda m: summary[m][metric][0])
    others = [m for m in method_names if m not in DRPM_ROWS and group in (None, summary[m]["group"])]
    other = max(others, key=lambda m: summary[m][metric][0])
    diff = np.array([a[metric] - b[metric] for a, b in zip(by_method[drpm], by_method[other], strict=True)])
    mean = float(diff.mean())
    if len(diff) < 2:
        return drpm, other, mean, None
    half = float(stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff)))
    return drpm, other, mean, (mean - half, mean + half)


def _cell(name, metric):
    mean, std = summary[name][metric]
    return f"{mean:.3f} +- {std:.3f}"


lines = [
    f"| method ({args.data}, {args.seeds} seeds) | ACC | NMI | ARI | clusters used: mean (range) | fit time (s) |",
    "|---|---|---|---|---|---|",
]
for group in ("infers K", "fixed K", "raw pixels, t-SNE"):
    lines.append(f"| **{group}** | | | | | |")
    for name in sorted((m for m in method_names if summary[m]["group"] == group), key=lambda m: -summary[m]["acc"][0]):
        mean, lo, hi = summary[name]["clusters"]
        clusters = f"{mean:.1f}" + (f" ({lo}-{hi})" if lo != hi else "")
        lines.append(
            f"| {name} | {_cell(name, 'acc')} | {_cell(name, 'nmi')} | {_cell(name, 'ari')} | {clusters} "
            f"| {summary[name]['seconds']:.1f} |"
        )
lines += [
    "",
    "| metric | against | DRPM-VC row | other method | paired difference (DRPM-VC minus other) | 95% interval |",
    "|---|---|---|---|---|---|",
]
for group, label in ((None, "best other method"), ("infers K", "best other method that infers K")):
    for metric in METRICS:
        drpm, other, mean, interval = paired_difference(metric, group)
        ci = "-" if interval is None else f"[{interval[0]:+.3f}, {interval[1]:+.3f}]"
        lines.append(f"| {metric.upper()} | {label} | {drpm} | {other} | {mean:+.3f} | {ci} |")
lines.append("")
for group, label in ((None, "the best other method"), ("infers K", "the best other method that infers K")):
    verdicts = {"below": [], "above": [], "not separated from": []}
    for metric in METRICS:
        drpm, other, mean, interval = paired_difference(metric, group)
        side = "not separated from" if interval is None or interval[0] <= 0 <= interval[1] else None
        verdicts[side or ("below" if interval[1] < 0 else "above")].append(f"{metric.upper()} ({other})")
    lines.append(
        "; ".join(f"DRPM-VC is {side} {label} on {', '.join(items)}" for side, items in verdicts.items() if items)
        + " (95% intervals of the paired differences over seeds)."
    )
infers_k = sorted((m for m in method_names if summary[m]["group"] == "infers K"), key=lambda m: -summary[m]["acc"][0])
lines.append(f"Best by mean ACC among the methods that infer the number of clusters: {infers_k[0]}.")
concentrations = [r["concentration"] for r in by_method[DRPM_ROWS[1]]]
pretrain_mean = float(np.mean([r["pretrain_seconds"] for r in results]))
pretraining_words = {
    "tsne": f"t-SNE pretraining (the encoder regresses a {LATENT_DIM}-D t-SNE of the pixels)",
    "contrastive": f"contrastive pretraining ({LATENT_DIM}-D; its cluster contrastive loss over {UPPER_BOUND} "
    "columns, the upper bound, not the number of classes)",
}[args.pretraining]
versions = f"scikit-learn {sklearn.__version__}, scipy {scipy.__version__}, numpy {np.__version__}"
footer = "\n".join(
    [
        "",
        f"Learned CRP concentration (DRPM-VC, CRP prior): {np.mean(concentrations):.3f} +- "
        f"{np.std(concentrations):.3f} (range {min(concentrations):.3f}-{max(concentrations):.3f}).",
        f"Upper bound on the number of clusters for the methods that infer it: {UPPER_BOUND}; SVI epochs "
        f"{args.epochs}, {pretraining_words}, {args.pretrain_epochs} epochs; shared pretraining "
        f"{pretrain_mean:.1f} s per seed (not in the fit times). Total run time {total_seconds / 60:.1f} min, "
        f"{jobs} seed(s) at a time, "
        f"{args.threads} thread(s) each.",
        f"Generated by `python3 benchmarks/clustering_comparison.py` on {datetime.date.today().isoformat()}, "
        f"{describe_machine()}, {versions}, command `{' '.join(sys.argv)}`.",
        "Per-seed numbers move between machines and library versions (floating-point order, thread counts); "
        "compare methods through the paired differences over seeds, not single runs.",
    ]
)
table = "\n".join(lines)
print(table + "\n" + footer)
(output / "results.md").write_text(table + "\n" + footer + "\n")
with open(output / "results.csv", "w", newline="") as handle:
    fields = list(dict.fromkeys(key for row in results for key in row))
    writer = csv.DictWriter(handle, fieldnames=fields)
    writer.writeheader()
    writer.writerows(results)
full_digits_run = not smoke_test and args.data == "digits" and args.max_samples is None and args.seeds >= 10
if full_digits_run:
    suffix = "" if args.pretraining == "tsne" else f"_{args.pretraining}"
    results_file = Path(__file__).parent / "results" / f"clustering_comparison{suffix}.md"
    title = (
        "## Clustering the digits: methods that infer the number of clusters, fixed-K baselines, t-SNE"
        + ("" if args.pretraining == "tsne" else f" ({args.pretraining} pretraining)")
        + "\n\n"
    )
    results_file.write_text(title + table + "\n" + footer + "\n")
    print(f"wrote {results_file}")

# %% [markdown]
# ## The plot

# %%
fig, axes = plt.subplots(1, 4, figsize=(16, 0.45 * len(method_names) + 1.5), sharey=True)
order = sorted(method_names, key=lambda m: summary[m]["acc"][0])
positions = np.arange(len(order))
for ax, metric in zip(axes, METRICS, strict=False):
    means = [summary[m][metric][0] for m in order]
    stds = [summary[m][metric][1] for m in order]
    colours = ["tab:red" if m in DRPM_ROWS else "tab:gray" for m in order]
    ax.barh(positions, means, xerr=stds, color=colours, capsize=3)
    ax.set_xlim(0, 1)
    ax.set_xlabel(metric.upper())
axes[-1].barh(positions, [summary[m]["clusters"][0] for m in order], color="tab:blue")
axes[-1].axvline(N_CLUSTERS, color="k", linestyle="--", linewidth=1)
axes[-1].set_xlabel("clusters used")
axes[-1].xaxis.get_major_locator().set_params(integer=True)
axes[0].set_yticks(positions, order)
fig.suptitle(f"Clustering {args.data}: mean +- std over {args.seeds} seed(s)")
fig.tight_layout()
fig.savefig(output / "comparison.png", dpi=120)
plt.close(fig)
print(f"table, per-seed CSV and figure written to {output.resolve()}")

# %% [markdown]
# ## Checks
#
# Every method produced valid scores for every seed, every method that infers K stayed within the upper bound,
# and the files exist.

# %%
assert len(results) == len(method_names) * args.seeds
assert all(0.0 <= r[m] <= 1.0 for r in results for m in ("acc", "nmi") if np.isfinite(r[m]))
assert all(-1.0 <= r["ari"] <= 1.0 for r in results)
assert all(1 <= r["clusters"] <= UPPER_BOUND + 1 for r in results)  # + 1: HDBSCAN's noise
assert all(r["clusters"] <= N_CLUSTERS for r in results if r["method"] == "DRPM-VC, K = 10 (no pruning)")
for name in ("results.md", "results.csv", "comparison.png"):
    assert (output / name).is_file(), name
