"""Baselines with the same networks: Ada-VAE's thresholding rule (or the known number of shared factors), and a
VAE that ignores the pairing."""

from __future__ import annotations

import torch

from pyro_drpm.models.shared_factors.base import PairedVAE, check_views, posterior_divergence

__all__ = ["AdaVAE", "UnpairedVAE", "adaptive_threshold_mask"]


def adaptive_threshold_mask(divergence: torch.Tensor, num_shared: torch.Tensor | None = None) -> torch.Tensor:
    """Ada-VAE's shared dimensions from the per-dimension divergences ``(B, d)``, as a ``(B, d)`` boolean tensor.

    Without ``num_shared``, dimension ``j`` is shared iff :math:`\\delta_j < \\tau = (\\max_j \\delta_j +
    \\min_j \\delta_j) / 2` [1]; at least one dimension is then independent (and, unless all are equal, at least
    one shared). Given the number of shared factors ``k`` per pair (``(B,)`` integers), the ``k`` dimensions of
    smallest divergence are shared (the variant of [1] with known ``k``).

    Example::

        >>> adaptive_threshold_mask(torch.tensor([[0.1, 5.0, 0.2, 4.0]]))
        tensor([[ True, False,  True, False]])
        >>> adaptive_threshold_mask(torch.tensor([[0.1, 5.0, 0.2, 4.0]]), torch.tensor([1]))
        tensor([[ True, False, False, False]])

    References:
    [1] Locatello, Poole, Raetsch, Schoelkopf, Bachem, Tschannen, "Weakly-Supervised Disentanglement Without
    Compromises", ICML 2020, arXiv:2002.02886, https://arxiv.org/abs/2002.02886.
    """
    if divergence.dim() != 2:
        raise ValueError(f"divergence must have shape (B, d), got {tuple(divergence.shape)}")
    if num_shared is None:
        threshold = (divergence.max(-1, keepdim=True).values + divergence.min(-1, keepdim=True).values) / 2
        return divergence < threshold
    num_shared = torch.as_tensor(num_shared, device=divergence.device)
    if num_shared.shape != divergence.shape[:1]:
        raise ValueError(f"num_shared must have shape ({divergence.shape[0]},), got {tuple(num_shared.shape)}")
    if ((num_shared < 0) | (num_shared > divergence.shape[-1])).any():
        raise ValueError(f"num_shared must lie in 0..{divergence.shape[-1]}")
    rank = divergence.argsort(-1).argsort(-1)
    return rank < num_shared.unsqueeze(-1)


class AdaVAE(PairedVAE):
    """Ada-VAE [1]: the shared dimensions of a pair are those whose posteriors differ least (a fixed rule).

    The model and guide of :class:`~pyro_drpm.models.shared_factors.base.PairedVAE` with the mask
    :func:`adaptive_threshold_mask` of ``KL(q(z_j | x1) || q(z_j | x2))``, computed from the current encoder
    without gradient (model and guide compute the same mask). Pass ``num_shared`` (``(B,)`` integers) to
    :meth:`model`, :meth:`guide` and :meth:`shared_mask` for the oracle that is told the number of shared
    factors of every pair.

    The objective is the one of the DRPM model (a shared dimension is one latent variable, one KL term), not the
    sum of two per-view ELBOs of [1], so that the two differ only in how the split is inferred.

    Example::

        >>> vae = AdaVAE(8, 4, hidden_dims=(16,))
        >>> vae.shared_mask(torch.randn(3, 8), torch.randn(3, 8)).shape
        torch.Size([3, 4])

    References:
    [1] Locatello, Poole, Raetsch, Schoelkopf, Bachem, Tschannen, "Weakly-Supervised Disentanglement Without
    Compromises", ICML 2020, arXiv:2002.02886, https://arxiv.org/abs/2002.02886.
    """

    def model_mask(self, x1, x2, *, num_shared=None) -> torch.Tensor:
        return self.shared_mask(x1, x2, num_shared=num_shared)

    def guide_mask(self, x1, x2, posteriors, *, num_shared=None) -> torch.Tensor:
        (loc1, scale1), (loc2, scale2) = posteriors
        with torch.no_grad():
            return adaptive_threshold_mask(posterior_divergence(loc1, scale1, loc2, scale2), num_shared)

    @torch.no_grad()
    def shared_mask(self, x1: torch.Tensor, x2: torch.Tensor, *, num_shared=None) -> torch.Tensor:
        """``(B, d)`` boolean: the thresholding rule, or the ``num_shared`` most similar dimensions."""
        check_views(x1, x2, self.input_dim)
        return self.guide_mask(x1, x2, (self.encoder(x1), self.encoder(x2)), num_shared=num_shared)


class UnpairedVAE(PairedVAE):
    """A plain VAE that ignores the pairing: no dimension is ever shared, both views are independent examples.

    Example::

        >>> UnpairedVAE(8, 4, hidden_dims=(16,)).shared_mask(torch.randn(3, 8), torch.randn(3, 8)).any().item()
        False
    """

    def model_mask(self, x1, x2) -> torch.Tensor:
        return x1.new_zeros(x1.shape[0], self.latent_dim)

    def guide_mask(self, x1, x2, posteriors) -> torch.Tensor:
        return self.model_mask(x1, x2)

    def shared_mask(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """``(B, d)`` all ``False``."""
        check_views(x1, x2, self.input_dim)
        return torch.zeros(x1.shape[0], self.latent_dim, dtype=torch.bool, device=x1.device)
