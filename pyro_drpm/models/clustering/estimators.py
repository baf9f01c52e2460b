"""scikit-learn-style estimators around the Pyro clustering models: ``fit``, ``predict``, ``fit_predict``.

:class:`DRPMClustering` (DRPM-VC), :class:`VaDEClustering` (an i.i.d. categorical mixture prior) and
:class:`DPMixtureClustering` (a truncated stick-breaking Dirichlet-process mixture prior) run one pipeline with
the same networks and budget: pretrain the encoder/decoder (or reuse a shared
:class:`~pyro_drpm.nn.PretrainedAutoencoder`), initialise the prior from a Gaussian mixture fitted to the
embedding, maximise the ELBO with Pyro's ``SVI``, label every point with the model's prediction rule. Fitting
never touches the global Pyro parameter store (a private ``scope``) nor the global torch RNG (``fork_rng``).

Example::

    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((60, 4))
    >>> est = VaDEClustering(n_clusters=3, epochs=2, pretrain_epochs=2, random_state=0, progress=False)
    >>> est.fit_predict(X).shape
    (60,)
"""

from __future__ import annotations

import copy
import inspect
import math
import numbers

import numpy as np
import pyro
import torch
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from pyro_drpm.infer import ELBOS, ExponentialSchedule, evaluate_elbo, train_svi
from pyro_drpm.models.clustering.base import COVARIANCES, LatentClusteringModel
from pyro_drpm.models.clustering.drpm_vc import DRPMVC, SIZE_GRADIENTS
from pyro_drpm.models.clustering.initialisation import fit_gaussian_mixture
from pyro_drpm.models.clustering.mixture_baselines import IIDMixtureVAE, StickBreakingMixtureVAE
from pyro_drpm.nn import (
    LIKELIHOODS,
    PRETRAINING_OBJECTIVES,
    PretrainedAutoencoder,
    embed,
    freeze_,
    image_side,
    pretrain,
)
from pyro_drpm.partitions import ClusterOrderedDRPM, CountsUrn, CRPPrior, DRPMPrior, FullUrn

__all__ = ["DPMixtureClustering", "DRPMClustering", "DeepClusteringEstimator", "VaDEClustering"]

_IMAGE_HIDDEN = (256, 256)
_TABULAR_HIDDEN = (64, 64)
#: Real-valued data with at most this many features is clustered in its standardised feature space by default
#: (``pretraining="identity"``): on wine, iris and breast cancer (13, 4 and 30 features) an autoencoder
#: trained on a few hundred points gave embeddings whose clustering varied from seed to seed and stayed below
#: the features' own (``benchmarks/results/tabular_clustering.md``).
_IDENTITY_MAX_FEATURES = 32

#: With full-covariance clusters, the encoder's scale (and, with the identity networks, a Gaussian decoder's
#: noise) starts at this fraction of the clusters' smallest standard deviation (see
#: :func:`_fit_identity_networks_to_clusters` and, for DRPMClustering on other networks,
#: :func:`_fix_encoder_noise_to_clusters`).
_FULL_COVARIANCE_NOISE_FRACTION = 0.1

#: The estimator options that name a building block, and the blocks they name.
GUIDE_URNS = ("adaptive", "full")
PARTITION_PRIORS = ("drpm", "crp")
PARTITION_GRADIENTS = ("all", "guide", "pathwise")
PARTITION_DTYPES = {"float32": torch.float32, "float64": torch.float64}

#: The parameters every deep clustering estimator has, with their defaults, in signature order.
_COMMON_PARAMETERS = {
    "n_clusters": 10,
    "latent_dim": "auto",
    "hidden_dims": "auto",
    "likelihood": "auto",
    "epochs": 100,
    "pretrain_epochs": 200,
    "batch_size": 256,
    "lr": 1e-3,
    "pretrain_lr": 1e-3,
    "beta": 1.0,
    "elbo": "trace",
    "num_particles": 1,
    "augment": "auto",
    "pretraining": "auto",
    "freeze_encoder": True,
    "covariance": "diagonal",
    "pretrained": None,
    "random_state": None,
    "progress": True,
}


def _estimator_init(parameters: dict):
    """An ``__init__`` that stores ``parameters`` (names and defaults) as attributes, with that explicit signature.

    scikit-learn reads an estimator's parameters from the signature of its ``__init__`` (``get_params``,
    ``clone``), so each estimator needs them spelled out; building the method from one table keeps the three
    estimators' shared parameters in one place.
    """
    self_parameter = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    signature = inspect.Signature(
        [self_parameter]
        + [
            inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=d)
            for name, d in parameters.items()
        ]
    )

    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        for name in parameters:
            setattr(self, name, bound.arguments[name])

    __init__.__signature__ = signature
    return __init__


def _check_positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_positive_float(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


@torch.no_grad()
def _reset_encoder_noise_below_clusters(networks: PretrainedAutoencoder, model: LatentClusteringModel) -> float:
    """Set the encoder's scale head to the constant log noise ``log(f * smallest)``, ``f`` =
    :data:`_FULL_COVARIANCE_NOISE_FRACTION` and ``smallest`` the clusters' smallest standard deviation in any
    direction, never above the head's current largest bias (the default ``e^-2``); return that log noise."""
    smallest = model.smallest_cluster_scale()
    log_scale = min(math.log(_FULL_COVARIANCE_NOISE_FRACTION * smallest), float(networks.encoder.log_scale.bias.max()))
    networks.encoder.reset_scale(log_scale)
    return log_scale


@torch.no_grad()
def _fit_identity_networks_to_clusters(networks: PretrainedAutoencoder, model: LatentClusteringModel) -> None:
    """Fit the identity networks to full-covariance clusters: their noise, ``q(z | x) = N(x, s^2)`` and a
    Gaussian ``p(x | z) = N(z, s^2)``, starts at ``s`` = :data:`_FULL_COVARIANCE_NOISE_FRACTION` times the clusters'
    smallest standard deviation in any direction (never above the default ``e^-2``), and their linear mean maps
    are frozen at the identity.

    The ELBO takes ``E_q[log N(z; mu_k, Sigma_k)] = log N(x; mu_k, Sigma_k) - s^2 tr(Sigma_k^-1) / 2``. Breast
    cancer's standardised features are nearly collinear, so its full-covariance clusters have variances down to
    1e-4; at ``s^2 = e^-4 = 0.018`` the second term dominated the loss (about 50 nats a point), and SVI, whose
    steps bound how fast ``log s`` moves, lowered it by bending the linear encoder and decoder away from the
    identity, which destroyed the clustering (ARI 0.77 at the initialisation, -0.03 after 100 epochs). With
    ``s`` small against every cluster the ELBO is the mixture's log-likelihood of the standardised features up
    to a small term. A full-covariance Gaussian mixture is the same family after any invertible linear map, so
    the mean maps add nothing to the model; left trainable, each of their Adam steps (about ``lr`` per weight)
    is a reconstruction error of several ``s`` (breast cancer: a loss of thousands of nats a point after the
    first epoch, instead of the mixture's fraction of a nat).
    """
    log_scale = _reset_encoder_noise_below_clusters(networks, model)
    if networks.decoder.obs_log_scale is not None:
        networks.decoder.obs_log_scale.fill_(log_scale)
    freeze_(networks.encoder.loc)
    freeze_(networks.decoder.out)


@torch.no_grad()
def _fix_encoder_noise_to_clusters(networks: PretrainedAutoencoder, model: LatentClusteringModel) -> None:
    """Fix the encoder's noise below full-covariance clusters: its scale head is set to the constant
    :data:`_FULL_COVARIANCE_NOISE_FRACTION` times the clusters' smallest standard deviation in any direction
    (never above the default ``e^-2``) and frozen; the trunk and mean head train as before.

    The ELBO and the delete moves score a code by ``E_q[log N(z; mu_k, Sigma_k)] = log N(E_q[z]; mu_k, Sigma_k) -
    tr(diag(s^2) Sigma_k^-1) / 2``. Full-covariance clusters of a pretrained embedding are thin in some directions
    (the digits' 10-dimensional contrastive embedding: smallest standard deviation about 0.03, against the
    default noise ``e^-2 = 0.14``), so at the default noise the second term merged clusters (the digits with
    ``n_clusters=20``, seeds 0 and 1: 5 clusters in use, ACC 0.50). Started small but left trainable, the noise
    grew during SVI (from 0.003 to a median of 0.16) and the final delete moves merged again (7 and 8 clusters,
    ACC 0.68 and 0.79); fixed small, 13 clusters and ACC 0.89 on both seeds.
    """
    _reset_encoder_noise_below_clusters(networks, model)
    freeze_(networks.encoder.log_scale)


def _concentration_starts(value) -> list[float]:
    """``concentration`` as a list of values: a positive number, or a non-empty sequence of them."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return [_check_positive_float("concentration", value)]
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ValueError(f"concentration must be a positive number or a sequence of them, got {value!r}")
    values = list(value)
    if not values:
        raise ValueError("concentration must be a positive number or a non-empty sequence of them, got an empty one")
    return [_check_positive_float("concentration entries", entry) for entry in values]


class DeepClusteringEstimator(ClusterMixin, TransformerMixin, BaseEstimator):
    """Base class: validation, pretraining, mixture initialisation, SVI, prediction. Subclasses build the model.

    Common parameters (see the subclasses for their own):

    :param n_clusters: number of clusters ``K`` (for the DP mixture: the truncation level).
    :param latent_dim: dimension of ``z``; ``"auto"``: 10 for ``[0, 1]`` data, ``D`` with the identity
        networks, 2 with ``pretraining`` ``"tsne"`` or ``"pca"``, ``min(10, D)`` otherwise.
    :param hidden_dims: encoder hidden widths (decoder mirrored); ``"auto"``: ``(256, 256)`` / ``(64, 64)``.
    :param likelihood: ``"bernoulli"``, ``"gaussian"`` or ``"auto"`` (Bernoulli iff all features lie in
        ``[0, 1]``).
    :param epochs: SVI passes over the data.
    :param pretrain_epochs: autoencoder pretraining passes (ignored when ``pretrained`` is given).
    :param batch_size: mini-batch size (for DRPM-VC: the size of the set that is partitioned).
    :param lr: Adam learning rate of SVI (``pretrain_lr``: of the autoencoder).
    :param beta: ``poutine.scale`` weight of the ``z`` terms of the ELBO.
    :param elbo: ``"trace"`` (``Trace_ELBO``) or ``"meanfield"`` (``TraceMeanField_ELBO``: analytic Gaussian
        KL given the sampled assignment).
    :param num_particles: samples of all latent variables per ELBO estimate (averaged; ``1`` as in the paper's
        single partition per step).
    :param augment: use random affine jitters of the images
        (:func:`~pyro_drpm.nn.augment_images`) in pretraining; ``"auto"``: on for Bernoulli data
        whose feature count is a square (square images such as the 8 x 8 digits or 28 x 28 MNIST) unless
        ``pretraining`` is ``"tsne"`` or ``"pca"``, off otherwise.
    :param pretraining: ``"contrastive"`` (twin contrastive learning on two augmented views plus reconstruction,
        :func:`~pyro_drpm.nn.pretrain_contrastive`, the DRPM code's choice; needs augmentable
        images), ``"autoencoder"`` (reconstruction only, denoising when ``augment``), ``"identity"`` (no
        pretraining: linear networks that start as the identity, :func:`~pyro_drpm.nn.identity_networks`, so
        the clusters live in the standardised feature space; ``latent_dim`` must be ``D``), ``"tsne"`` (the
        encoder's mean regresses a t-SNE embedding of the training set, :func:`~pyro_drpm.nn.pretrain_tsne`, so
        the latent space keeps the data's neighbourhoods; ``latent_dim`` 1 to 3, ``"auto"``: 2), ``"pca"`` (no
        pretraining: linear networks set to the principal axes of the standardised features,
        :func:`~pyro_drpm.nn.pca_networks`, so the clusters live in the leading principal component scores and the
        decoder still explains every feature; real-valued data only; ``latent_dim`` 1 to ``D``, ``"auto"``: 2;
        ``latent_dim=D`` drops nothing and rotates the features to their principal axes, so that diagonal clusters
        take the whole data set's axes, which suits some data sets and not others, see
        ``benchmarks/results/tabular_clustering.md``),
        or ``"auto"``:
        contrastive when ``augment`` is on, identity for real-valued data with at most 32 features (when
        ``latent_dim`` is ``"auto"`` or ``D``), autoencoder otherwise.
    :param freeze_encoder: keep the encoder's trunk (all layers but the mean and scale heads) fixed after
        pretraining, as the DRPM code does for every model; the heads, the decoder and the prior train by SVI.
    :param covariance: the latent clusters' covariances, ``"diagonal"`` or ``"full"`` (initialised from a
        full-covariance mixture fit started from k-means, :func:`~pyro_drpm.models.clustering.fit_gaussian_mixture`;
        with the identity networks their noise then starts small against the clusters and their linear maps
        stay the identity, :func:`_fit_identity_networks_to_clusters`; with other networks, ``DRPMClustering``
        fixes the encoder's noise small against the clusters, :func:`_fix_encoder_noise_to_clusters`); see
        :class:`~pyro_drpm.models.clustering.base.LatentClusteringModel`.
    :param pretrained: a shared :class:`~pyro_drpm.nn.PretrainedAutoencoder` to start from.
    :param random_state: seed (``int``), ``numpy`` ``RandomState`` or ``None``.
    :param progress: show tqdm progress bars.

    Fitted attributes: ``labels_``, ``model_`` (the Pyro model/guide module), ``pretrained_``, ``history_``
    (loss per data point and epoch), ``n_clusters_`` (the clusters in use: ``n_clusters`` is an upper bound),
    ``subsets_`` (the model's subsets in use, in label order: ``labels_`` and :meth:`predict` number them
    ``0 .. n_clusters_ - 1``), ``cluster_centers_`` (their latent means), ``n_clusters_found_`` (the same as
    ``n_clusters_``, kept for existing code), ``likelihood_``, ``n_features_in_``, ``start_elbos_`` (when
    ``fit`` ran several starts, such as ``DRPMClustering``'s several CRP concentrations: each start's ELBO per
    point of the training data, :meth:`evidence_lower_bound`, in the order of the starts; ``None`` otherwise).
    """

    _dirichlet_process_init = False
    __init__ = _estimator_init(_COMMON_PARAMETERS)

    # -- parameters ---------------------------------------------------------------------------------------
    def _common_checks(self) -> None:
        _check_positive_int("n_clusters", self.n_clusters)
        if self.latent_dim != "auto":
            _check_positive_int("latent_dim", self.latent_dim)
        if self.hidden_dims != "auto":
            dims = tuple(self.hidden_dims)
            if not dims:
                raise ValueError("hidden_dims must list at least one width")
            for width in dims:
                _check_positive_int("hidden_dims entries", width)
        if self.likelihood not in (*LIKELIHOODS, "auto"):
            raise ValueError(f"unknown likelihood {self.likelihood!r}; expected one of {(*LIKELIHOODS, 'auto')}")
        _check_positive_int("epochs", self.epochs, minimum=0)
        _check_positive_int("pretrain_epochs", self.pretrain_epochs, minimum=0)
        _check_positive_int("batch_size", self.batch_size)
        _check_positive_float("lr", self.lr)
        _check_positive_float("pretrain_lr", self.pretrain_lr)
        _check_positive_float("beta", self.beta)
        if self.elbo not in ELBOS:
            raise ValueError(f"unknown elbo {self.elbo!r}; expected one of {sorted(ELBOS)}")
        _check_positive_int("num_particles", self.num_particles)
        if self.augment not in ("auto", True, False):
            raise ValueError(f"augment must be 'auto', True or False, got {self.augment!r}")
        if self.pretraining not in ("auto", *PRETRAINING_OBJECTIVES):
            raise ValueError(
                f"unknown pretraining {self.pretraining!r}; expected 'auto' or one of {PRETRAINING_OBJECTIVES}"
            )
        if self.covariance not in COVARIANCES:
            raise ValueError(f"unknown covariance {self.covariance!r}; expected one of {COVARIANCES}")
        if self.freeze_encoder not in (True, False):
            raise ValueError(f"freeze_encoder must be True or False, got {self.freeze_encoder!r}")
        if self.pretrained is not None and not isinstance(self.pretrained, PretrainedAutoencoder):
            raise ValueError("pretrained must be a PretrainedAutoencoder or None")

    def _extra_checks(self) -> None:
        """Subclass hook for model-specific parameters."""

    def _resolve_likelihood(self, X: np.ndarray) -> str:
        if self.pretrained is not None:
            if self.likelihood not in ("auto", self.pretrained.likelihood):
                raise ValueError(
                    f"likelihood={self.likelihood!r} contradicts the pretrained networks' "
                    f"{self.pretrained.likelihood!r}"
                )
            likelihood = self.pretrained.likelihood
        elif self.likelihood == "auto":
            likelihood = "bernoulli" if X.min() >= 0.0 and X.max() <= 1.0 else "gaussian"
        else:
            likelihood = self.likelihood
        if likelihood == "bernoulli" and (X.min() < 0.0 or X.max() > 1.0):
            raise ValueError(
                "the Bernoulli likelihood needs features in [0, 1]; rescale X or use likelihood='gaussian'"
            )
        return likelihood

    # -- data --------------------------------------------------------------------------------------------
    def _validate_X(self, X, fitting: bool) -> np.ndarray:
        # scikit-learn's own checks and wording (finite values, 2-D, the feature count seen in fit)
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_2d=True, allow_nd=False, reset=fitting)
        if fitting and X.shape[0] < self.n_clusters:
            raise ValueError(
                f"n_samples={X.shape[0]} is smaller than n_clusters={self.n_clusters}: fewer samples than clusters"
            )
        return X

    # -- fitting -------------------------------------------------------------------------------------------
    def _build_model(self, pretrained: PretrainedAutoencoder, n_samples: int, **start) -> LatentClusteringModel:
        """The model on the copied networks; ``start``: one of :meth:`_starts`."""
        raise NotImplementedError

    def _schedules(self) -> dict:
        """The values the training loop passes to the model and guide (none by default)."""
        return {}

    def fit(self, X, y=None):
        """Pretrain (unless ``pretrained`` is given), initialise the prior from a mixture fit, train by SVI.

        :param X: array ``(n_samples, n_features)``, finite. ``y`` is ignored.
        :returns: ``self``.
        """
        self._common_checks()
        self._extra_checks()
        X = self._validate_X(X, fitting=True)
        likelihood = self._resolve_likelihood(X)
        image_like = likelihood == "bernoulli"
        n_features = X.shape[1]
        hidden = (_IMAGE_HIDDEN if image_like else _TABULAR_HIDDEN) if self.hidden_dims == "auto" else self.hidden_dims
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        self._fit_seed = seed  # what score() splits and samples with
        square = image_like and image_side(n_features) is not None
        augment = (square and self.pretraining not in ("tsne", "pca")) if self.augment == "auto" else bool(self.augment)
        if augment and not square:
            raise ValueError("augment=True needs square images with features in [0, 1] (Bernoulli likelihood)")
        objective = self.pretraining
        if objective == "auto":
            small_tabular = not image_like and n_features <= _IDENTITY_MAX_FEATURES
            if augment:
                objective = "contrastive"
            elif small_tabular and self.latent_dim in ("auto", n_features) and self.pretrained is None:
                objective = "identity"
            else:
                objective = "autoencoder"
        if objective == "contrastive" and not square:
            raise ValueError(
                "pretraining='contrastive' needs square images with features in [0, 1] (Bernoulli likelihood)"
            )
        if self.latent_dim != "auto":
            latent_dim = self.latent_dim
        elif objective == "identity":
            latent_dim = n_features
        elif objective == "tsne":
            latent_dim = 2
        elif objective == "pca":
            latent_dim = min(2, n_features)
        else:
            latent_dim = 10 if image_like else min(10, n_features)

        if self.pretrained is not None:
            if self.pretrained.n_features != X.shape[1]:
                raise ValueError(
                    f"pretrained networks expect {self.pretrained.n_features} features, X has {X.shape[1]}"
                )
            pretrained = self.pretrained
        else:
            pretrained = pretrain(
                X,
                latent_dim=latent_dim,
                hidden_dims=tuple(hidden),
                likelihood=likelihood,
                epochs=self.pretrain_epochs,
                batch_size=self.batch_size,
                lr=self.pretrain_lr,
                seed=seed,
                progress=self.progress,
                augment=augment,
                objective=objective,
                n_clusters=self.n_clusters,
            )
        data = pretrained.preprocess(X)
        fits = [self._fit_start(pretrained, likelihood, objective, data, seed, start) for start in self._starts()]
        if len(fits) > 1:
            # several starts from one pretraining: keep the fit of highest ELBO on the training data
            elbos = [self._evidence_lower_bound(model, data, num_particles=10) for model, _, _ in fits]
            self.start_elbos_ = np.array(elbos)
            model, history, subset_labels = fits[int(np.argmax(elbos))]
        else:
            self.start_elbos_ = None
            model, history, subset_labels = fits[0]
        self.model_ = model
        self.pretrained_ = pretrained
        self.likelihood_ = likelihood
        self.history_ = history
        # only the subsets that some training point uses are clusters; labels number them 0 .. n_clusters_ - 1
        subset_labels = subset_labels.numpy()
        self.subsets_ = np.unique(subset_labels)
        self.n_clusters_ = int(self.subsets_.size)
        self.n_clusters_found_ = self.n_clusters_
        self.labels_ = np.searchsorted(self.subsets_, subset_labels).astype(np.int64)
        self.cluster_centers_ = model.locs.detach().numpy()[self.subsets_].copy()
        return self

    def _starts(self) -> list[dict]:
        """The settings of the fits that :meth:`fit` runs from its one pretraining, passed to :meth:`_build_model`;
        with more than one, the fit of highest ELBO on the training data is kept (default: one fit)."""
        return [{}]

    def _fit_start(self, pretrained, likelihood, objective, data, seed, start: dict):
        """One fit from the pretrained networks (copied): the model, its mixture initialisation, SVI and the
        training points' subsets; returns ``(model, history, subset labels)``. Every start uses ``seed``."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            networks = PretrainedAutoencoder(
                copy.deepcopy(pretrained.encoder),
                copy.deepcopy(pretrained.decoder),
                likelihood,
                pretrained.feature_mean,
                pretrained.feature_scale,
                pretrained.history,
            )
            if self.freeze_encoder:
                freeze_(networks.encoder.trunk)
            model = self._build_model(networks, data.shape[0], **start)
            mixture = fit_gaussian_mixture(
                embed(networks.encoder, data),
                self.n_clusters,
                random_state=seed,
                dirichlet_process=self._dirichlet_process_init,
                covariance=self.covariance,
            )
            model.init_from_mixture(mixture)
            if self.covariance == "full":
                if objective == "identity" and self.pretrained is None:
                    _fit_identity_networks_to_clusters(networks, model)
                else:
                    self._fit_noise_to_full_clusters(networks, model)
            self._after_init(model, data, seed)
            generator = torch.Generator().manual_seed(seed)
            with pyro.get_param_store().scope():
                history = train_svi(
                    model,
                    data,
                    epochs=self.epochs,
                    batch_size=self.batch_size,
                    lr=self.lr,
                    elbo=self.elbo,
                    num_particles=self.num_particles,
                    schedules=self._schedules(),
                    generator=generator,
                    progress=self.progress,
                    desc=type(self).__name__,
                )
        return model, history, self._subset_labels(model, data, seed)

    def _fit_noise_to_full_clusters(self, networks: PretrainedAutoencoder, model: LatentClusteringModel) -> None:
        """Subclass hook, after the mixture initialisation with full covariances (not the identity networks)."""

    def _after_init(self, model: LatentClusteringModel, data: torch.Tensor, seed: int) -> None:
        """Subclass hook, after the mixture initialisation (``data``: the preprocessed training set)."""

    def _subset_labels(self, model: LatentClusteringModel, data: torch.Tensor, seed: int) -> torch.Tensor:
        """The subset of every training point after training (default: the model's prediction rule)."""
        return model.predict(data)

    # -- inference -----------------------------------------------------------------------------------------
    def _data(self, X) -> torch.Tensor:
        check_is_fitted(self, "model_")
        X = self._validate_X(X, fitting=False)
        return self.pretrained_.preprocess(X)

    def _log_responsibilities(self, X) -> torch.Tensor:
        data = self._data(X)
        log_r = self.model_.log_responsibilities(data)[:, torch.as_tensor(self.subsets_)]
        return torch.log_softmax(log_r, dim=-1)

    def predict(self, X) -> np.ndarray:
        """Cluster labels of new points: the model's prediction rule (see the model classes) over the
        ``n_clusters_`` clusters that the training data use."""
        return self._log_responsibilities(X).argmax(-1).numpy().astype(np.int64)

    def predict_proba(self, X) -> np.ndarray:
        """Posterior cluster probabilities at the encoder mean, ``(n_samples, n_clusters_)``."""
        return self._log_responsibilities(X).exp().numpy()

    def transform(self, X) -> np.ndarray:
        """The latent embedding ``E_q[z | x]`` of each point, ``(n_samples, latent_dim)``, in the dtype of ``X``
        (float32 or float64)."""
        check_is_fitted(self, "model_")
        X = self._validate_X(X, fitting=False)
        return embed(self.model_.encoder, self.pretrained_.preprocess(X)).numpy().astype(X.dtype)

    def fit_predict(self, X, y=None) -> np.ndarray:
        """``fit(X)`` and return ``labels_``."""
        return self.fit(X).labels_

    def score(self, X, y=None) -> float:
        """The fitted model's ELBO per point of ``X`` (:meth:`evidence_lower_bound` at its default 10 particles): a
        lower bound on the average log-likelihood of the model, higher is better, as scikit-learn's ``score``; so
        scikit-learn's model selection ranks settings by the ELBO of held-out data (for example
        ``GridSearchCV(DRPMClustering(prune=False), {"n_clusters": [2, 3, 4]})`` on four separated blobs picks 4)."""
        return self.evidence_lower_bound(X)

    def evidence_lower_bound(self, X, *, num_particles: int = 10) -> float:
        """The fitted model's ELBO per point of ``X`` (:func:`~pyro_drpm.infer.evaluate_elbo`).

        ``X`` is split into mini-batches of ``batch_size``, each batch's ELBO is estimated from ``num_particles``
        samples of every latent variable, with the training's final schedule values (the guide's end
        temperature); the split and the samples come from the seed that ``fit`` drew from ``random_state`` (the
        global torch RNG is left as it was), so repeated calls agree. For DRPM-VC the partitioned set is the
        mini-batch, so the bound belongs to the split as well as to the model: compare fitted estimators on the
        same ``X`` with the same ``batch_size`` and ``random_state``.
        """
        return self._evidence_lower_bound(self.model_, self._data(X), num_particles=num_particles)

    def _evidence_lower_bound(self, model, data: torch.Tensor, *, num_particles: int) -> float:
        """:meth:`evidence_lower_bound` of ``model`` on preprocessed ``data``, split and sampled from the fit's seed."""
        seed = self._fit_seed
        values = {name: schedule(1.0) for name, schedule in self._schedules().items()}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return evaluate_elbo(
                model,
                data,
                batch_size=self.batch_size,
                num_particles=num_particles,
                elbo=self.elbo,
                generator=torch.Generator().manual_seed(seed),
                **values,
            )


class DRPMClustering(DeepClusteringEstimator):
    """DRPM variational clustering (Sutter et al. 2023) as a scikit-learn-style estimator.

    Each mini-batch's cluster assignment is one DRPM latent (:class:`~pyro_drpm.models.clustering.drpm_vc.DRPMVC`); the
    ELBO with the DRPM's exact ``log p(Y)`` and ``log q(Y)`` is maximised by ``Trace_ELBO``. ``n_clusters`` is an
    upper bound: with ``prune=True`` the fit keeps the subsets that the MAP partition under the prior uses, and
    labels come from the posterior over the data set's partition (the prior's predictive weights times the
    cluster densities at ``E_q[z_i]``), so an empty subset gets no points; ``n_clusters_`` is the number used.

    Parameters as in :class:`DeepClusteringEstimator`, plus:

    :param partition_weight: ``poutine.scale`` weight of the partition KL (``1``: plain ELBO).
    :param temperature: initial relaxation temperature (annealed exponentially to ``final_temperature``).
    :param final_temperature: temperature at the end of training (the paper: 0.5).
    :param guide_urn: ``"adaptive"`` (concentrated subset sizes) or ``"full"`` (the DRPM default urn).
    :param urn_slack: extra balls per colour of the adaptive urn (``0``: the rounded soft counts exactly, so the
        guide's subset sizes are deterministic).
    :param partition_gradients: ``"all"`` (default: the partition trains the encoder heads and the clusters
        through the guide's scores), ``"pathwise"`` (the same without the zero-mean direct gradient of
        ``log q(Y)``) or ``"guide"`` (only the guide's score scale, the released code's choice); see
        :class:`~pyro_drpm.models.clustering.drpm_vc.DRPMVC`.
    :param partition_prior: ``"drpm"`` (default) or ``"crp"``: the model's prior over the batch's partition, a
        DRPM with learned size logits or a Chinese restaurant process truncated to ``n_clusters`` blocks (the
        CRP baseline; the guide is the same DRPM).
    :param concentration: the CRP concentration (``partition_prior="crp"``): where SVI starts it, or its value
        when it is not learned. A sequence of values: one fit from each, all from the same pretraining, mixture
        initialisation and mini-batches, keeping the fit of highest ELBO on the training data
        (``start_elbos_``), a choice that does not look at labels. Learned from 1 on the digits' t-SNE embedding
        it settles where one pair of digits shares a cluster; started from 1 and 10 the ELBO picks the fits that
        keep them apart on most seeds (``benchmarks/results/crp_concentration_tsne.md``). Each start costs one fit.
    :param learn_concentration: learn the CRP concentration by SVI (else it stays at ``concentration``).
    :param prune: ``n_clusters`` is an upper bound: start from, and end with, the subsets that the MAP partition
        of the codes uses under the prior (delete moves, :mod:`~pyro_drpm.models.clustering.pruning`); labels
        then number only the ``n_clusters_`` subsets in use. ``False``: every subset the mixture fit starts with
        stays available. With a known number of clusters on small tabular data, ``covariance="full"`` with
        ``prune=False`` is the counterpart of a full-covariance ``GaussianMixture`` (the delete moves' BIC term
        grows with the covariance parameters and merges such clusters, as the mixture's own BIC does); see
        ``benchmarks/results/tabular_clustering.md``.
    :param partition_dtype: ``"float32"`` (default; 1.3-1.8x faster per SVI step,
        ``benchmarks/results/clustering_cost.md``) or ``"float64"``: the dtype of the prior's and the guide's
        partition distributions.
    :param size_gradient: how the guide's random subset sizes (``guide_urn="full"`` or ``urn_slack > 0``) are
        trained: ``"straight_through"`` (default: the relaxed MVHG sample, size logits from the soft counts) or
        ``"score"`` (size logits with learned per-subset offsets on detached soft counts, sizes drawn exactly
        and trained by the score-function estimator with a common-random-numbers baseline; see
        :class:`~pyro_drpm.models.clustering.drpm_vc.DRPMVC`).

    Speed: a long fit gets faster per step inside ``with pyro_drpm.compilation_enabled(): est.fit(X)`` (the
    partition's kernels compiled with ``torch.compile``, the first step compiling them; see
    :mod:`pyro_drpm.compilation`).

    Example::

        >>> from pyro_drpm.datasets import load_digits_01
        >>> X, y = load_digits_01()
        >>> est = DRPMClustering(n_clusters=10, epochs=1, pretrain_epochs=1, random_state=0, progress=False)
        >>> est.fit(X[:300]).labels_.shape
        (300,)
    """

    __init__ = _estimator_init(
        {
            **_COMMON_PARAMETERS,
            "partition_weight": 1.0,
            "temperature": 1.0,
            "final_temperature": 0.5,
            "guide_urn": "adaptive",
            "urn_slack": 0,
            "partition_gradients": "all",
            "partition_prior": "drpm",
            "concentration": 1.0,
            "learn_concentration": True,
            "prune": True,
            "partition_dtype": "float32",
            "size_gradient": "straight_through",
        }
    )

    def _extra_checks(self) -> None:
        _check_positive_float("partition_weight", self.partition_weight)
        _check_positive_float("temperature", self.temperature)
        _check_positive_float("final_temperature", self.final_temperature)
        if self.guide_urn not in GUIDE_URNS:
            raise ValueError(f"unknown guide_urn {self.guide_urn!r}; expected one of {GUIDE_URNS}")
        _check_positive_int("urn_slack", self.urn_slack, minimum=0)
        if self.partition_gradients not in PARTITION_GRADIENTS:
            raise ValueError(
                f"unknown partition_gradients {self.partition_gradients!r}; expected one of {PARTITION_GRADIENTS}"
            )
        if self.partition_prior not in PARTITION_PRIORS:
            raise ValueError(f"unknown partition_prior {self.partition_prior!r}; expected one of {PARTITION_PRIORS}")
        _concentration_starts(self.concentration)
        if self.partition_dtype not in PARTITION_DTYPES:
            raise ValueError(
                f"unknown partition_dtype {self.partition_dtype!r}; expected one of {sorted(PARTITION_DTYPES)}"
            )
        if self.size_gradient not in SIZE_GRADIENTS:
            raise ValueError(f"unknown size_gradient {self.size_gradient!r}; expected one of {SIZE_GRADIENTS}")
        if self.size_gradient == "score" and self.guide_urn == "adaptive" and self.urn_slack == 0:
            raise ValueError(
                "size_gradient='score' needs random guide sizes: set guide_urn='full' or urn_slack > 0 "
                "(with guide_urn='adaptive' and urn_slack=0 the sizes are deterministic)"
            )
        for name in ("learn_concentration", "prune"):
            if getattr(self, name) not in (True, False):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")

    def _schedules(self) -> dict:
        return {"temperature": ExponentialSchedule(self.temperature, self.final_temperature)}

    def _fit_noise_to_full_clusters(self, networks, model):
        _fix_encoder_noise_to_clusters(networks, model)

    def _after_init(self, model, data, seed):
        # start from the subsets that the MAP partition of the pretrained codes uses, not from all of them
        if self.prune:
            model.prune_(data, batch_size=self.batch_size, generator=torch.Generator().manual_seed(seed))

    def fit(self, X, y=None):
        """As :meth:`DeepClusteringEstimator.fit`; with the CRP prior, also ``concentration_``: the kept fit's
        final CRP concentration (``None`` with the DRPM prior)."""
        super().fit(X, y)
        prior = self.model_.prior
        self.concentration_ = float(prior.concentration.detach()) if isinstance(prior, CRPPrior) else None
        return self

    def _subset_labels(self, model, data, seed):
        # after training, the same delete moves on the trained codes, then the posterior labels
        if self.prune:
            model.prune_(data, batch_size=self.batch_size, generator=torch.Generator().manual_seed(seed))
        return model.settle_(data)

    def _starts(self):
        if self.partition_prior != "crp":
            return [{}]
        return [{"concentration": value} for value in _concentration_starts(self.concentration)]

    def _build_model(self, pretrained, n_samples, concentration=None):
        k = self.n_clusters
        dtype = PARTITION_DTYPES[self.partition_dtype]
        if self.partition_prior == "crp":
            concentration = _concentration_starts(self.concentration)[0] if concentration is None else concentration
            prior = CRPPrior(k, concentration=concentration, learn_concentration=self.learn_concentration, dtype=dtype)
        else:
            prior = DRPMPrior(k, dtype=dtype)
        urn = FullUrn() if self.guide_urn == "full" else CountsUrn(self.urn_slack)
        return DRPMVC(
            pretrained.encoder,
            pretrained.decoder,
            k,
            prior=prior,
            partition_guide=ClusterOrderedDRPM(k, urn=urn, size_offsets=self.size_gradient == "score", dtype=dtype),
            beta=self.beta,
            partition_weight=self.partition_weight,
            detach_responsibilities=self.partition_gradients == "guide",
            path_derivative=self.partition_gradients == "pathwise",
            size_gradient=self.size_gradient,
            covariance=self.covariance,
        )


class VaDEClustering(DeepClusteringEstimator):
    """Deep clustering with an i.i.d. categorical mixture prior (VaDE-style), same pipeline as DRPM-VC.

    Model: :class:`~pyro_drpm.models.clustering.mixture_baselines.IIDMixtureVAE`. Labels:
    ``argmax_k pi_k N(E_q[z_i]; mu_k, sigma_k^2)``. Parameters: see :class:`DeepClusteringEstimator`.
    """

    def _build_model(self, pretrained, n_samples):
        return IIDMixtureVAE(
            pretrained.encoder, pretrained.decoder, self.n_clusters, beta=self.beta, covariance=self.covariance
        )


class DPMixtureClustering(DeepClusteringEstimator):
    """Deep clustering with a truncated stick-breaking Dirichlet-process mixture prior, trained by SVI.

    Model: :class:`~pyro_drpm.models.clustering.mixture_baselines.StickBreakingMixtureVAE`, initialised from a
    Dirichlet-process ``BayesianGaussianMixture`` on the embedding. ``n_clusters`` is the truncation level ``T``
    (the most clusters it can use); ``n_clusters_found_`` reports how many it does use.

    Parameters: see :class:`DeepClusteringEstimator`, plus
    :param concentration: the DP concentration ``alpha``.
    """

    _dirichlet_process_init = True

    __init__ = _estimator_init({**_COMMON_PARAMETERS, "n_clusters": 20, "concentration": 1.0})

    def _extra_checks(self) -> None:
        _check_positive_int("n_clusters (the truncation level)", self.n_clusters, minimum=2)
        _check_positive_float("concentration", self.concentration)

    def _build_model(self, pretrained, n_samples):
        return StickBreakingMixtureVAE(
            pretrained.encoder,
            pretrained.decoder,
            self.n_clusters,
            beta=self.beta,
            concentration=self.concentration,
            dataset_size=n_samples,
            covariance=self.covariance,
        )
