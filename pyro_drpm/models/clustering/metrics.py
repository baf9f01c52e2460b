"""Clustering metrics: unsupervised accuracy (Hungarian matching), NMI and ARI.

Cluster labels are arbitrary names, so every score here is invariant to relabelling the predicted clusters.

- **Unsupervised accuracy** (ACC): the fraction of points that agree with the true classes under the best
  one-to-one map from clusters to classes,

  .. math::

      \\mathrm{ACC} = \\max_{m} \\frac{1}{N} \\sum_{i=1}^{N} \\mathbb{1}[y_i = m(c_i)],

  found by the Hungarian algorithm on the contingency table (``scipy.optimize.linear_sum_assignment``). When
  there are more clusters than classes, the surplus clusters are matched to nothing and count as errors (the
  convention of Xie et al. 2016 and of the VaDE and DRPM code).
- **NMI**: scikit-learn's ``normalized_mutual_info_score`` (arithmetic normalisation).
- **ARI**: scikit-learn's ``adjusted_rand_score``.

Example::

    >>> from pyro_drpm.models.clustering.metrics import clustering_scores
    >>> scores = clustering_scores([0, 0, 1, 1], [1, 1, 0, 0])
    >>> sorted(scores), float(scores["acc"])
    (['acc', 'ari', 'nmi'], 1.0)

References:
[1] Xie, Girshick, Farhadi, "Unsupervised Deep Embedding for Clustering Analysis", arXiv:1511.06335.
[2] Vinh, Epps, Bailey, "Information Theoretic Measures for Clusterings Comparison", JMLR 11 (2010).
[3] Hubert and Arabie, "Comparing Partitions", Journal of Classification 2 (1985).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "adjusted_rand_index",
    "cluster_accuracy",
    "clustering_scores",
    "contingency_table",
    "n_clusters_used",
    "normalized_mutual_info",
]


def _labels_pair(labels_true, labels_pred) -> tuple[np.ndarray, np.ndarray]:
    """Validate two label vectors: 1-D, same non-zero length, no NaN."""
    labels_true = np.asarray(labels_true)
    labels_pred = np.asarray(labels_pred)
    for name, labels in (("labels_true", labels_true), ("labels_pred", labels_pred)):
        if labels.ndim != 1:
            raise ValueError(f"`{name}` must be 1-D, got shape {labels.shape}")
        if labels.size == 0:
            raise ValueError(f"`{name}` is empty")
        if labels.dtype.kind == "f" and not np.isfinite(labels).all():
            raise ValueError(f"`{name}` contains NaN or inf")
    if labels_true.shape != labels_pred.shape:
        raise ValueError(f"`labels_true` and `labels_pred` differ in length: {labels_true.size} != {labels_pred.size}")
    return labels_true, labels_pred


def contingency_table(labels_true, labels_pred) -> np.ndarray:
    """Counts ``C[a, b]`` of points with true class ``a`` and predicted cluster ``b``.

    Rows follow the sorted unique true labels, columns the sorted unique predicted labels.
    """
    labels_true, labels_pred = _labels_pair(labels_true, labels_pred)
    _, true_index = np.unique(labels_true, return_inverse=True)
    _, pred_index = np.unique(labels_pred, return_inverse=True)
    table = np.zeros((true_index.max() + 1, pred_index.max() + 1), dtype=np.int64)
    np.add.at(table, (true_index, pred_index), 1)
    return table


def cluster_accuracy(labels_true, labels_pred) -> float:
    """Unsupervised accuracy: agreement under the best one-to-one cluster-to-class map (Hungarian).

    >>> cluster_accuracy([0, 0, 1, 1, 2], [2, 2, 0, 0, 0])
    0.8
    """
    from scipy.optimize import linear_sum_assignment

    table = contingency_table(labels_true, labels_pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / table.sum())


def normalized_mutual_info(labels_true, labels_pred) -> float:
    """Normalised mutual information (scikit-learn, arithmetic mean normalisation)."""
    from sklearn.metrics import normalized_mutual_info_score

    labels_true, labels_pred = _labels_pair(labels_true, labels_pred)
    return float(normalized_mutual_info_score(labels_true, labels_pred))


def adjusted_rand_index(labels_true, labels_pred) -> float:
    """Adjusted Rand index (scikit-learn)."""
    from sklearn.metrics import adjusted_rand_score

    labels_true, labels_pred = _labels_pair(labels_true, labels_pred)
    return float(adjusted_rand_score(labels_true, labels_pred))


def clustering_scores(labels_true, labels_pred) -> dict[str, float]:
    """``{"acc": ..., "nmi": ..., "ari": ...}`` for one clustering."""
    return {
        "acc": cluster_accuracy(labels_true, labels_pred),
        "nmi": normalized_mutual_info(labels_true, labels_pred),
        "ari": adjusted_rand_index(labels_true, labels_pred),
    }


def n_clusters_used(labels_pred) -> int:
    """Number of distinct clusters that received at least one point."""
    labels_pred = np.asarray(labels_pred)
    if labels_pred.ndim != 1:
        raise ValueError(f"`labels_pred` must be 1-D, got shape {labels_pred.shape}")
    return int(np.unique(labels_pred).size)
