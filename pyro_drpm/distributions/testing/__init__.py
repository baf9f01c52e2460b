"""Testing tools shared by the tests and the benchmarks (as ``pyro.distributions.testing``).

:mod:`~pyro_drpm.distributions.testing.oracles` computes the laws by brute force, straight from their
definitions; :func:`~pyro_drpm.distributions.testing.gof.goodness_of_fit` is the one chi-square test of samples
against an exact pmf.
"""

from pyro_drpm.distributions.testing.gof import goodness_of_fit, sample_counts
from pyro_drpm.distributions.testing.oracles import (
    crp_log_probs,
    drpm_log_probs,
    fisher_log_pmf,
    merged_scheme_log_pmf,
    mvhg_log_pmf,
    ordered_blocks_log_probs,
    plackett_luce_log_prob,
)

__all__ = [
    "crp_log_probs",
    "drpm_log_probs",
    "fisher_log_pmf",
    "goodness_of_fit",
    "merged_scheme_log_pmf",
    "mvhg_log_pmf",
    "ordered_blocks_log_probs",
    "plackett_luce_log_prob",
    "sample_counts",
]
