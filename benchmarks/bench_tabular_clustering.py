"""DRPMClustering on small tabular data: the number of clusters it infers, and its ARI against GaussianMixture.

Estimator defaults (``DRPMClustering(n_clusters=K)``, so pruning on, the DRPM prior, diagonal clusters in the
standardised feature space), features standardised, over seeds 0..N-1; the reference is scikit-learn's
``GaussianMixture`` (full covariances, its defaults) on the same standardised features with the true number of
clusters. Rows: 4 Gaussian blobs in 8-D (400 points) with an upper bound of 8 and of 4, wine (178 x 13) with 6
and 3, iris (150 x 4) with 3, breast cancer (569 x 30) with 2; then wine, iris and breast cancer at the true
number with full-covariance clusters and every subset kept (``covariance="full", prune=False``), wine with 6
and full covariances (pruned), with the autoencoder embedding that was the default before the identity
networks (``pretraining="autoencoder"``), with the t-SNE pretraining (``pretraining="tsne"``: a 2-D latent
space regressed onto a t-SNE of the standardised features), and with the PCA networks (``pretraining="pca"``:
linear networks set to the two leading principal components; on wine with 6 also three components, and two with
full covariances), and with every principal component (``pretraining="pca", latent_dim=D``: the features rotated
to their principal axes, so the diagonal clusters' axes are those of the whole data set). For every row, the
number of clusters that BIC model selection picks (``BICGaussianMixture`` with the row's kind of covariances
and its upper bound, on the standardised features, rotated for the principal-axes rows); and a second table of
what BIC picks with each of scikit-learn's four kinds of covariances (diagonal, full, tied, spherical) and with
diagonal covariances on the rotated features, on every data set, and which of those five the lowest BIC picks.
Usage: ``python benchmarks/bench_tabular_clustering.py [--quick] [--seeds N]``; writes
``results/tabular_clustering.md``.
"""

import datetime
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
from _machine import describe_machine
from _results import write_section
from _seeds import seed_arguments, t_interval
from sklearn.datasets import load_breast_cancer, load_iris, load_wine, make_blobs
from sklearn.decomposition import PCA as SklearnPCA
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler

from pyro_drpm.models.clustering import BICGaussianMixture, DRPMClustering

FULL = (("covariance", "full"), ("prune", False))  # full-covariance clusters, every subset kept
AUTOENCODER = (("pretraining", "autoencoder"),)  # the pretrained embedding instead of the identity networks
TSNE = (("pretraining", "tsne"),)  # a 2-D latent space regressed onto a t-SNE of the features
PCA = (("pretraining", "pca"),)  # linear networks on the two leading principal components of the features


def principal_axes(n_features: int) -> tuple:
    """Every principal component kept (``latent_dim = D``): the PCA networks rotate the features to their
    principal axes, so diagonal clusters there are clusters whose axes are those of the whole data set."""
    return PCA + (("latent_dim", n_features),)


CASES = (  # (data set, upper bound n_clusters, estimator options other than the defaults)
    ("4 blobs in 8-D", 8, ()),
    ("4 blobs in 8-D", 4, ()),
    ("wine", 6, ()),
    ("wine", 3, ()),
    ("iris", 3, ()),
    ("breast cancer", 2, ()),
    ("wine", 6, (("covariance", "full"),)),
    ("wine", 3, FULL),
    ("iris", 3, FULL),
    ("breast cancer", 2, FULL),
    ("wine", 3, AUTOENCODER),
    ("iris", 3, AUTOENCODER),
    ("breast cancer", 2, AUTOENCODER),
    ("4 blobs in 8-D", 8, TSNE),
    ("wine", 6, TSNE),
    ("wine", 3, TSNE),
    ("iris", 3, TSNE),
    ("breast cancer", 2, TSNE),
    ("4 blobs in 8-D", 8, PCA),
    ("wine", 6, PCA),
    ("wine", 3, PCA),
    ("iris", 3, PCA),
    ("breast cancer", 2, PCA),
    ("wine", 6, PCA + (("latent_dim", 3),)),
    ("wine", 6, PCA + (("covariance", "full"),)),
    ("wine", 6, principal_axes(13)),
    ("wine", 3, principal_axes(13)),
    ("iris", 3, principal_axes(4)),
    ("breast cancer", 2, principal_axes(30)),
)
#: (data set, upper bound) of the second table: BIC's choice with every kind of covariances
BIC_CASES = (("4 blobs in 8-D", 8), ("wine", 6), ("iris", 6), ("breast cancer", 4))
COVARIANCE_TYPES = ("diag", "full", "tied", "spherical")
#: the second table's columns: (label, covariance type, fitted on the features rotated to their principal axes)
BIC_COLUMNS = (*((kind, kind, False) for kind in COVARIANCE_TYPES), ("diag, principal axes", "diag", True))


def _data(name: str):
    if name == "4 blobs in 8-D":
        X, y = make_blobs(400, 8, centers=4, random_state=0)
    else:
        X, y = {"wine": load_wine, "iris": load_iris, "breast cancer": load_breast_cancer}[name](return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _rotated(X: np.ndarray) -> np.ndarray:
    """``X`` centred and rotated to its principal axes (all components): an orthogonal map, so a mixture's
    likelihood, and its BIC, mean the same on ``X`` and on the result."""
    return SklearnPCA(X.shape[1]).fit_transform(X)


def _is_rotation(extra: tuple, n_features: int) -> bool:
    options = dict(extra)
    return options.get("pretraining") == "pca" and options.get("latent_dim") == n_features


def run_seed(seed: int, quick: bool) -> list[dict]:
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    rows = []
    for name, upper, extra in CASES:
        X, y = _data(name)
        options = dict(epochs=1, pretrain_epochs=2) if quick else {}
        estimator = DRPMClustering(upper, random_state=seed, progress=False, **options, **dict(extra)).fit(X)
        reference = GaussianMixture(len(np.unique(y)), random_state=seed).fit(X).predict(X)
        covariance_type = "full" if dict(extra).get("covariance") == "full" else "diag"
        bic_features = _rotated(X) if _is_rotation(extra, X.shape[1]) else X
        bic = BICGaussianMixture(upper, covariance_type=covariance_type, random_state=seed).fit(bic_features)
        rows.append(
            {
                "case": (name, upper, extra),
                "seed": seed,
                "ari": adjusted_rand_score(y, estimator.labels_),
                "clusters": estimator.n_clusters_,
                "reference": adjusted_rand_score(y, reference),
                "true": len(np.unique(y)),
                "bic_clusters": bic.n_components_,
            }
        )
        print(seed, name, upper, extra, {k: v for k, v in rows[-1].items() if k in ("ari", "clusters")}, flush=True)
    for name, upper in BIC_CASES:
        X, y = _data(name)
        for label, covariance_type, rotate in BIC_COLUMNS:
            features = _rotated(X) if rotate else X
            bic = BICGaussianMixture(upper, covariance_type=covariance_type, random_state=seed).fit(features)
            rows.append(
                {
                    "bic_case": (name, upper, label),
                    "seed": seed,
                    "clusters": bic.n_components_,
                    "ari": adjusted_rand_score(y, bic.labels_),
                    "bic": float(bic.bic_.min()),
                    "true": len(np.unique(y)),
                }
            )
    return rows


def main():
    args = seed_arguments(__doc__, default_seeds=5)
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(run_seed, range(args.seeds), [args.quick] * args.seeds))
    rows = [row for seed_rows in results for row in seed_rows]
    lines = []
    for case in CASES:
        mine = [r for r in rows if r.get("case") == case]
        ari, reference = np.array([r["ari"] for r in mine]), np.array([r["reference"] for r in mine])
        clusters = [r["clusters"] for r in mine]
        bic = [r["bic_clusters"] for r in mine]
        options = ", ".join(f"{key}={value!r}" for key, value in case[2]) or "defaults"
        lines.append(
            f"| {case[0]} | {mine[0]['true']} | {case[1]} | {options} | "
            f"{np.mean(clusters):.1f} ({min(clusters)}-{max(clusters)}) | {np.mean(bic):.1f} ({min(bic)}-{max(bic)}) "
            f"| {ari.mean():.3f} ± {ari.std():.3f} | {' '.join(f'{v:.2f}' for v in ari)} | "
            f"{reference.mean():.3f} | {t_interval(ari - reference)} |"
        )
    bic_lines = []
    for name, upper in BIC_CASES:
        cells = []
        for label, _, _ in BIC_COLUMNS:
            mine = [r for r in rows if r.get("bic_case") == (name, upper, label)]
            clusters = [r["clusters"] for r in mine]
            ari = np.mean([r["ari"] for r in mine])
            cells.append(f"{np.mean(clusters):.1f} ({min(clusters)}-{max(clusters)}) / {ari:.3f}")
        # the label-free choice among the columns: per seed, the kind (and basis) of lowest BIC
        chosen = []
        for seed in sorted({r["seed"] for r in rows if r.get("bic_case", ())[:2] == (name, upper)}):
            candidates = [r for r in rows if r.get("bic_case", ())[:2] == (name, upper) and r["seed"] == seed]
            chosen.append(min(candidates, key=lambda r: r["bic"]))
        kinds = sorted({r["bic_case"][2] for r in chosen})
        clusters = [r["clusters"] for r in chosen]
        cells.append(
            f"{', '.join(kinds)}: {np.mean(clusters):.1f} ({min(clusters)}-{max(clusters)}) / "
            f"{np.mean([r['ari'] for r in chosen]):.3f}"
        )
        bic_lines.append(f"| {name} | {chosen[0]['true']} | {upper} | " + " | ".join(cells) + " |")
    write_section(
        "tabular_clustering",
        [
            "## DRPMClustering on small tabular data: clusters used and ARI against GaussianMixture",
            "",
            f"Measured {datetime.date.today().isoformat()} on {describe_machine()}; "
            f"`python benchmarks/bench_tabular_clustering.py{' --quick' if args.quick else ''}`. Standardised "
            f"features, estimator defaults (so `pretraining='identity'`: the clusters live in the standardised "
            f"feature space) with the given upper bound and options, seeds 0-{args.seeds - 1}. Reference: "
            "scikit-learn's GaussianMixture (full covariances) with the true number of clusters; the last column is "
            "the paired ARI difference (DRPMClustering minus GaussianMixture) with a 95% t interval over seeds. "
            "The number of clusters that scikit-learn's own model selection picks, for comparison: the "
            "GaussianMixture with the same kind of covariances (diagonal or full) and the lowest BIC among 1 to "
            "the upper bound components (for the rows with `latent_dim` equal to the number of features, which "
            "rotate the features to their principal axes, on the rotated features).",
            "",
            "| data | true K | n_clusters (upper bound) | options | clusters used: mean (range) | "
            "GaussianMixture + BIC: clusters | ARI | ARI per seed | GaussianMixture ARI | ARI difference |",
            "|---|---|---|---|---|---|---|---|---|---|",
            *lines,
            "",
            "The number of clusters that BIC model selection picks (`BICGaussianMixture`: the GaussianMixture of "
            "lowest BIC among 1 to the upper bound components, 3 k-means starts, `reg_covar=1e-4`) with each kind "
            "of covariances, and the ARI of the chosen mixture; mean (range) over the seeds. The fifth column fits "
            "diagonal covariances to the features rotated to their principal axes (all components, an orthogonal "
            "map, so the BIC of every column is that of a density of the same standardised features); the last "
            "column takes, per seed, the column of lowest BIC, a choice of the kind of covariances that does not "
            "look at the labels (the kinds it chose, then clusters / ARI):",
            "",
            "| data | true K | upper bound | "
            + " | ".join(f"{label}: clusters / ARI" for label, _, _ in BIC_COLUMNS)
            + " | lowest BIC of the five |",
            "|---|---|---|" + "---|" * (len(BIC_COLUMNS) + 1),
            *bic_lines,
        ],
    )


if __name__ == "__main__":
    main()
