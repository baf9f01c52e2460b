"""How well latents align with known factors (MIG, DCI disentanglement) and how well shared counts are inferred.

- **MIG** [1]: both latents and factors are discretised into equal-width bins; for every factor ``v_k`` the gap
  between the two largest mutual informations with single latents, normalised by the factor's entropy, averaged:

  .. math::

      \\mathrm{MIG} = \\frac{1}{K} \\sum_{k=1}^K \\frac{I(z_{j^{(1)}}; v_k) - I(z_{j^{(2)}}; v_k)}{H(v_k)}.

- **DCI disentanglement** [2]: from an importance matrix ``R`` (``R_jk``: importance of latent ``j`` for
  predicting factor ``k``, here from scikit-learn gradient-boosted trees, one regressor per factor),
  :math:`D = \\sum_j \\rho_j (1 - H_K(P_{j\\cdot}))` with :math:`P_{jk} = R_{jk} / \\sum_k R_{jk}`, the entropy
  :math:`H_K` in base ``K`` and the weights :math:`\\rho_j = \\sum_k R_{jk} / \\sum_{jk} R_{jk}`.

scikit-learn is imported on first use.

Example::

    >>> factors = np.stack(np.meshgrid(np.arange(4.0), np.arange(4.0)), -1).reshape(-1, 2)  # independent
    >>> mutual_information_gap(factors[:, ::-1], factors, bins=4), disentanglement_from_importance(np.eye(2))
    (1.0, 1.0)

References:
[1] Chen, Li, Grosse, Duvenaud, "Isolating Sources of Disentanglement in Variational Autoencoders", NeurIPS
2018, arXiv:1802.04942, https://arxiv.org/abs/1802.04942.
[2] Eastwood, Williams, "A Framework for the Quantitative Evaluation of Disentangled Representations", ICLR
2018, https://openreview.net/forum?id=By-7dz-AZ.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "count_confusion",
    "dci_disentanglement",
    "disentanglement_from_importance",
    "discretise",
    "importance_matrix",
    "mutual_information_gap",
]


def _check_codes(latents, factors) -> tuple[np.ndarray, np.ndarray]:
    latents, factors = np.asarray(latents, dtype=np.float64), np.asarray(factors, dtype=np.float64)
    for name, array in (("latents", latents), ("factors", factors)):
        if array.ndim != 2 or array.shape[0] < 2:
            raise ValueError(f"{name} must have shape (N, d) with N >= 2, got {array.shape}")
        if not np.isfinite(array).all():
            raise ValueError(f"{name} contains NaN or inf")
    if latents.shape[0] != factors.shape[0]:
        raise ValueError(f"latents and factors differ in length: {latents.shape[0]} != {factors.shape[0]}")
    return latents, factors


def discretise(values, bins: int = 20) -> np.ndarray:
    """Every column of ``(N, d)`` values into ``bins`` equal-width bins over its range, as integers ``0..bins-1``.

    Example::

        >>> discretise(np.array([[0.0], [0.4], [1.0]]), bins=2).ravel().tolist()
        [0, 0, 1]
    """
    values = np.asarray(values, dtype=np.float64)
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be an integer >= 1, got {bins!r}")
    codes = np.zeros(values.shape, dtype=np.int64)
    for j in range(values.shape[1]):
        edges = np.histogram_bin_edges(values[:, j], bins=bins)
        codes[:, j] = np.digitize(values[:, j], edges[1:-1])
    return codes


def mutual_information_gap(latents, factors, *, bins: int = 20) -> float:
    """MIG of latents ``(N, d)`` against factors ``(N, K)``, both discretised into ``bins`` bins (see module).

    A factor with a single value (zero entropy) is left out of the average.

    :param latents: the codes, one row per observation; at least 2 columns.
    :param factors: the true factors, one row per observation.
    :param bins: the number of equal-width bins per column.
    """
    from sklearn.metrics import mutual_info_score

    latents, factors = _check_codes(latents, factors)
    if latents.shape[1] < 2:
        raise ValueError("the MIG needs at least 2 latent dimensions")
    z, v = discretise(latents, bins), discretise(factors, bins)
    gaps = []
    for k in range(v.shape[1]):
        entropy = mutual_info_score(v[:, k], v[:, k])
        if entropy <= 0:
            continue
        information = np.sort([mutual_info_score(z[:, j], v[:, k]) for j in range(z.shape[1])])[::-1]
        gaps.append((information[0] - information[1]) / entropy)
    if not gaps:
        raise ValueError("every factor is constant: the MIG is undefined")
    return float(np.mean(gaps))


def disentanglement_from_importance(importance) -> float:
    """DCI disentanglement of an importance matrix ``R`` of shape ``(num_latents, num_factors)`` (see module).

    Example::

        >>> disentanglement_from_importance(np.eye(3)), round(disentanglement_from_importance(np.ones((3, 3))), 12)
        (1.0, 0.0)
    """
    importance = np.abs(np.asarray(importance, dtype=np.float64))
    if importance.ndim != 2 or importance.shape[1] < 2:
        raise ValueError(f"importance must have shape (num_latents, num_factors >= 2), got {importance.shape}")
    row_sums = importance.sum(1)
    total = row_sums.sum()
    if total <= 0:
        raise ValueError("importance is all zero")
    p = importance / np.where(row_sums > 0, row_sums, 1.0)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(p > 0, p * np.log(p), 0.0).sum(1) / np.log(importance.shape[1])
    return float(((1.0 - entropy) * row_sums / total).sum())


def importance_matrix(latents, factors, *, seed: int = 0, n_estimators: int = 50) -> np.ndarray:
    """``(d, K)`` importances of the latents for each factor: scikit-learn gradient-boosted regression trees,
    one per factor, their ``feature_importances_`` as columns."""
    from sklearn.ensemble import GradientBoostingRegressor

    latents, factors = _check_codes(latents, factors)
    columns = []
    for k in range(factors.shape[1]):
        regressor = GradientBoostingRegressor(n_estimators=n_estimators, max_depth=3, random_state=seed)
        columns.append(regressor.fit(latents, factors[:, k]).feature_importances_)
    return np.stack(columns, 1)


def dci_disentanglement(latents, factors, *, seed: int = 0, n_estimators: int = 50) -> float:
    """DCI disentanglement of latents ``(N, d)`` against factors ``(N, K)``, importances from
    :func:`importance_matrix`."""
    return disentanglement_from_importance(importance_matrix(latents, factors, seed=seed, n_estimators=n_estimators))


def count_confusion(true_counts, inferred_counts, num_dims: int) -> np.ndarray:
    """``(num_dims + 1) x (num_dims + 1)`` integer table: row = true number of shared factors, column = inferred.

    Example::

        >>> count_confusion([0, 1, 1], [0, 2, 1], 2).tolist()
        [[1, 0, 0], [0, 1, 1], [0, 0, 0]]
    """
    true_counts, inferred_counts = np.asarray(true_counts), np.asarray(inferred_counts)
    if true_counts.shape != inferred_counts.shape or true_counts.ndim != 1:
        raise ValueError(f"counts must be 1-D of equal length, got {true_counts.shape} and {inferred_counts.shape}")
    for name, counts in (("true_counts", true_counts), ("inferred_counts", inferred_counts)):
        if ((counts < 0) | (counts > num_dims) | (counts != np.round(counts))).any():
            raise ValueError(f"{name} must be integers in 0..{num_dims}")
    table = np.zeros((num_dims + 1, num_dims + 1), dtype=np.int64)
    np.add.at(table, (true_counts.astype(np.int64), inferred_counts.astype(np.int64)), 1)
    return table
