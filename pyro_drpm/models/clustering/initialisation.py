"""The mixture initialisation of deep clustering models: a Gaussian mixture fitted to an embedding."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["MixtureInit", "cluster_path_order", "fit_gaussian_mixture"]


@dataclass
class MixtureInit:
    """Parameters of a Gaussian mixture fitted to an embedding: ``(K,)`` weights, ``(K, d)`` locs, and ``(K, d)``
    standard deviations (diagonal covariances) or ``(K, d, d)`` Cholesky factors (full covariances) as scales."""

    weights: torch.Tensor
    locs: torch.Tensor
    scales: torch.Tensor
    labels: np.ndarray


def fit_gaussian_mixture(
    Z,
    n_components: int,
    random_state: int | None = None,
    n_init: int = 10,
    reg_covar: float = 1e-4,
    dirichlet_process: bool = False,
    covariance: str = "diagonal",
) -> MixtureInit:
    """Fit a Gaussian mixture to ``Z`` (scikit-learn) and return its parameters as float32 tensors.

    ``dirichlet_process=True`` fits ``BayesianGaussianMixture`` with a Dirichlet-process weight prior instead
    (used to initialise the truncated stick-breaking baseline, ``n_components`` being the truncation level).
    The settings follow the DRPM code (``covariance_type="diag"``, 10 k-means++ starts, ``reg_covar=1e-4``);
    ``covariance="full"`` fits full covariances and returns their Cholesky factors. A full-covariance mixture
    is not chosen among ``n_init`` EM runs by its likelihood, which on a few points per dimension rewards
    overfitted covariances (on standardised wine, 178 x 13, the best of 10 k-means++ starts had the higher
    likelihood and an ARI of 0.37-0.46 for three of five seeds; on breast cancer, 569 x 30, 0.50-0.63): the
    ``n_init`` starts go to k-means (chosen by its inertia) and one EM run starts from the best k-means
    partition (wine 0.897, iris 0.904, breast cancer 0.743-0.774 over five seeds). The Dirichlet-process
    mixture, which takes no initial parameters, keeps its ``n_init`` k-means++ starts.
    """
    if covariance not in ("diagonal", "full"):
        raise ValueError(f"unknown covariance {covariance!r}; expected 'diagonal' or 'full'")
    from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

    Z = np.asarray(torch.as_tensor(Z).detach().cpu().numpy(), dtype=np.float64)
    full = covariance == "full"
    common = dict(
        n_components=n_components,
        covariance_type="full" if full else "diag",
        reg_covar=reg_covar,
        n_init=n_init,
        init_params="k-means++",
        random_state=random_state,
        max_iter=300,
    )
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if dirichlet_process:
            mixture = BayesianGaussianMixture(weight_concentration_prior_type="dirichlet_process", **common)
        elif full:
            common.update(n_init=1, **_kmeans_start(Z, n_components, n_init, reg_covar, random_state))
            mixture = GaussianMixture(**common)
        else:
            mixture = GaussianMixture(**common)
        mixture.fit(Z)
    if covariance == "full":
        scales = np.linalg.cholesky(mixture.covariances_)
    else:
        scales = np.sqrt(mixture.covariances_)
    return MixtureInit(
        weights=torch.as_tensor(mixture.weights_, dtype=torch.float32),
        locs=torch.as_tensor(mixture.means_, dtype=torch.float32),
        scales=torch.as_tensor(scales, dtype=torch.float32),
        labels=mixture.predict(Z),
    )


def _kmeans_start(Z: np.ndarray, n_components: int, n_init: int, reg_covar: float, random_state) -> dict:
    """Initial weights, means and precisions of a full-covariance mixture: those of the best of ``n_init``
    k-means runs' clusters (each covariance plus ``reg_covar`` on its diagonal, as scikit-learn's M step)."""
    from sklearn.cluster import KMeans

    labels = KMeans(n_components, n_init=n_init, random_state=random_state).fit(Z).labels_
    if np.bincount(labels, minlength=n_components).min() == 0:  # fewer distinct points than components
        return dict(init_params="kmeans")
    weights, means, precisions = [], [], []
    for k in range(n_components):
        members = Z[labels == k]
        centred = members - members.mean(0)
        covariance = centred.T @ centred / len(members) + reg_covar * np.eye(Z.shape[1])
        weights.append(len(members) / len(Z))
        means.append(members.mean(0))
        try:
            precision = np.linalg.inv(covariance)
        except np.linalg.LinAlgError:  # a singular covariance (reg_covar = 0): scikit-learn's own k-means start
            return dict(init_params="kmeans")
        precisions.append((precision + precision.T) / 2)  # scikit-learn checks the symmetry exactly
    return dict(weights_init=np.array(weights), means_init=np.stack(means), precisions_init=np.stack(precisions))


def cluster_path_order(locs: torch.Tensor) -> torch.Tensor:
    """An order of the clusters along a short path through their means (greedy nearest neighbour, 2-opt).

    A DRPM's subsets are filled in a fixed order, so elements that a sampled size pushes across a block boundary
    land in the next subset; ordering the clusters along a short path makes that neighbour a similar cluster.

    Example::

        >>> cluster_path_order(torch.tensor([[0.0], [5.0], [1.0]])).tolist()
        [0, 2, 1]
    """
    k = locs.shape[0]
    if k <= 2:
        return torch.arange(k)
    d = torch.cdist(locs.double(), locs.double())
    best: list[int] | None = None
    best_len = math.inf
    for start in range(k):
        path = [start]
        while len(path) < k:
            rest = [j for j in range(k) if j not in path]
            path.append(min(rest, key=lambda j: float(d[path[-1], j])))
        improved = True
        while improved:  # 2-opt on an open path
            improved = False
            for i in range(k - 2):
                for j in range(i + 2, k):
                    a, b = path[i], path[i + 1]
                    c = path[j]
                    e = path[j + 1] if j + 1 < k else None
                    old = d[a, b] + (d[c, e] if e is not None else 0.0)
                    new = d[a, c] + (d[b, e] if e is not None else 0.0)
                    if new < old - 1e-12:
                        path[i + 1 : j + 1] = path[i + 1 : j + 1][::-1]
                        improved = True
        length = float(sum(d[path[i], path[i + 1]] for i in range(k - 1)))
        if length < best_len:
            best, best_len = path, length
    return torch.tensor(best)
