"""Classical clustering baselines from scikit-learn, on the raw features or on a pretrained embedding.

:func:`sklearn_baselines` returns the estimators of the comparison, keyed by a display name:

- ``KMeans`` (k-means++ starts, ``n_init=10``);
- ``GaussianMixture`` (diagonal covariances, 10 k-means++ starts, as the DRPM paper's GMM baseline and the
  mixture that initialises the deep models);
- ``DP-GMM``: ``BayesianGaussianMixture(weight_concentration_prior_type="dirichlet_process")`` with
  ``truncation`` components (the number of clusters it actually uses is reported separately);

each ``on raw`` features, and, given a :class:`~pyro_drpm.nn.PretrainedAutoencoder`, again
``on embedding``: :class:`EmbeddingClustering` clusters the encoder means ``E_q[z | x]`` (the paper's "latent
GMM" when the clusterer is a Gaussian mixture). :class:`BICGaussianMixture` infers the number of clusters by
BIC model selection among Gaussian mixtures.

Example::

    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(50, 3))
    >>> models = sklearn_baselines(n_clusters=2, random_state=0)
    >>> sorted(models)
    ['DP-GMM (raw)', 'GaussianMixture (raw)', 'KMeans (raw)']
    >>> models["KMeans (raw)"].fit_predict(X).shape
    (50,)
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture
from sklearn.utils.validation import check_array, check_is_fitted

from pyro_drpm.nn import PretrainedAutoencoder

__all__ = ["BICGaussianMixture", "EmbeddingClustering", "dirichlet_process_mixture", "sklearn_baselines"]


class EmbeddingClustering(ClusterMixin, BaseEstimator):
    """Cluster the pretrained encoder's means ``E_q[z | x]`` with any scikit-learn clusterer.

    :param clusterer: an unfitted scikit-learn clusterer with ``fit`` and ``predict`` (cloned on ``fit``).
    :param pretrained: the :class:`~pyro_drpm.nn.PretrainedAutoencoder` that embeds the data.
    """

    def __init__(self, clusterer, pretrained: PretrainedAutoencoder):
        self.clusterer = clusterer
        self.pretrained = pretrained

    def _embed(self, X) -> np.ndarray:
        X = check_array(X, dtype=[np.float64, np.float32])
        if X.shape[1] != self.pretrained.n_features:
            raise ValueError(f"X has {X.shape[1]} features, the encoder expects {self.pretrained.n_features}")
        return self.pretrained.embed(X).numpy().astype(np.float64)

    def fit(self, X, y=None):
        Z = self._embed(X)
        self.clusterer_ = clone(self.clusterer)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.clusterer_.fit(Z)
        labels = getattr(self.clusterer_, "labels_", None)  # mixtures have none; HDBSCAN has no predict
        self.labels_ = np.asarray(self.clusterer_.predict(Z) if labels is None else labels)
        self.n_features_in_ = X.shape[1] if hasattr(X, "shape") else Z.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """Labels of new points, for clusterers that can predict (KMeans, mixtures; not HDBSCAN)."""
        check_is_fitted(self, "clusterer_")
        return self.clusterer_.predict(self._embed(X))


class _QuietMixture(ClusterMixin, BaseEstimator):
    """A scikit-learn mixture whose ``ConvergenceWarning`` is silenced and which exposes ``labels_``."""

    def __init__(self, mixture):
        self.mixture = mixture

    def fit(self, X, y=None):
        self.mixture_ = clone(self.mixture)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.mixture_.fit(X)
        self.labels_ = self.mixture_.predict(X)
        return self

    def predict(self, X):
        check_is_fitted(self, "mixture_")
        return self.mixture_.predict(X)


class BICGaussianMixture(ClusterMixin, BaseEstimator):
    """The number of clusters chosen by BIC: scikit-learn's ``GaussianMixture`` with 1, 2, ..., ``max_components``
    components, keeping the one of lowest Bayesian information criterion.

    .. math::

        \\mathrm{BIC}(k) = -2 \\log p(X \\mid \\hat\\theta_k) + p_k \\log N,

    with :math:`p_k` the free parameters of a ``k``-component mixture (``k - 1`` weights, ``k d`` means and the
    covariances: ``k d`` diagonal, ``k d (d + 1) / 2`` full, ``d (d + 1) / 2`` tied, ``k`` spherical). A
    non-Bayesian way to infer the number of clusters, and the model selection that the DRPM-VC delete moves
    approximate for diagonal clusters. ``n_components_`` is the number chosen and ``bic_`` the criterion of every
    candidate.

    Example::

        >>> from sklearn.datasets import make_blobs
        >>> X, _ = make_blobs(300, 2, centers=3, random_state=0)
        >>> BICGaussianMixture(6, random_state=0).fit(X).n_components_
        3

    :param max_components: the largest number of components tried (an integer >= 1, at most the number of
        samples).
    :param covariance_type: ``"diag"`` (the default, as the comparison's other mixtures), ``"full"``, ``"tied"``
        or ``"spherical"``.
    :param reg_covar: added to the covariances' diagonals, as in ``GaussianMixture``.
    :param n_init: EM starts per candidate.
    :param init_params: how EM starts, as in ``GaussianMixture``; the default ``"kmeans"`` (scikit-learn's):
        k-means++ seeds alone leave tied-covariance mixtures at one repeated component (on standardised iris every
        ``k`` got the one-component likelihood).
    :param random_state: seed of every candidate's fit.
    """

    def __init__(
        self,
        max_components: int = 20,
        covariance_type="diag",
        reg_covar=1e-4,
        n_init=3,
        init_params="kmeans",
        random_state=None,
    ):
        self.max_components = max_components
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state

    def fit(self, X, y=None):
        X = check_array(X, dtype=[np.float64, np.float32])
        limit = self.max_components
        if isinstance(limit, bool) or not isinstance(limit, numbers.Integral) or not 1 <= limit <= X.shape[0]:
            raise ValueError(
                f"max_components must be an integer between 1 and the number of samples, n_samples={X.shape[0]}, "
                f"got {limit!r}"
            )
        if self.covariance_type not in _COVARIANCE_TYPES:
            raise ValueError(f"unknown covariance_type {self.covariance_type!r}; expected one of {_COVARIANCE_TYPES}")
        candidates, bic = [], []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for k in range(1, int(limit) + 1):
                mixture = GaussianMixture(
                    k,
                    covariance_type=self.covariance_type,
                    reg_covar=self.reg_covar,
                    n_init=self.n_init,
                    init_params=self.init_params,
                    random_state=self.random_state,
                ).fit(X)
                candidates.append(mixture)
                bic.append(mixture.bic(X))
        self.bic_ = np.array(bic)
        best = int(np.argmin(self.bic_))
        self.mixture_ = candidates[best]
        self.n_components_ = best + 1
        self.labels_ = self.mixture_.predict(X)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """Labels of new points under the chosen mixture."""
        check_is_fitted(self, "mixture_")
        return self.mixture_.predict(check_array(X, dtype=[np.float64, np.float32]))


_COVARIANCE_TYPES = ("diag", "full", "tied", "spherical")


def dirichlet_process_mixture(truncation: int, random_state=None) -> BayesianGaussianMixture:
    """scikit-learn's variational Dirichlet-process Gaussian mixture with ``truncation`` components, unfitted.

    Diagonal covariances, ``reg_covar=1e-4``, k-means++ initialisation, up to 500 iterations (the settings of the
    comparison's DP-GMM rows).

    Example::

        >>> dirichlet_process_mixture(20, random_state=0).n_components
        20
    """
    return BayesianGaussianMixture(
        n_components=truncation,
        weight_concentration_prior_type="dirichlet_process",
        covariance_type="diag",
        reg_covar=1e-4,
        n_init=1,
        max_iter=500,
        init_params="k-means++",
        random_state=random_state,
    )


def sklearn_baselines(
    n_clusters: int,
    random_state: int | None = None,
    truncation: int | None = None,
    pretrained: PretrainedAutoencoder | None = None,
) -> dict[str, BaseEstimator]:
    """The scikit-learn baselines of the comparison, unfitted, keyed by display name.

    :param n_clusters: ``K`` for KMeans and the Gaussian mixture.
    :param random_state: seed of every estimator.
    :param truncation: components of the Dirichlet-process mixture (default ``2 * n_clusters``).
    :param pretrained: if given, each baseline is also run on the embedding (``"... (embedding)"``).
    """
    truncation = truncation or 2 * n_clusters
    clusterers = {
        "KMeans": KMeans(n_clusters, n_init=10, random_state=random_state),
        "GaussianMixture": _QuietMixture(
            GaussianMixture(
                n_clusters,
                covariance_type="diag",
                reg_covar=1e-4,
                n_init=10,
                init_params="k-means++",
                random_state=random_state,
            )
        ),
        "DP-GMM": _QuietMixture(dirichlet_process_mixture(truncation, random_state)),
    }
    models: dict[str, BaseEstimator] = {f"{name} (raw)": est for name, est in clusterers.items()}
    if pretrained is not None:
        for name, est in clusterers.items():
            models[f"{name} (embedding)"] = EmbeddingClustering(clone(est), pretrained)
    return models
