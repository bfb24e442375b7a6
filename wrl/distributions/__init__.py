"""Policy distributions as plain pytrees with pure functions.

Generic entry points dispatch on the pytree's type (:func:`log_prob`, :func:`sample`, :func:`entropy`);
family-specific helpers live in the submodules :mod:`~wrl.distributions.gaussian` and
:mod:`~wrl.distributions.mixture`.
"""

from wrl.distributions import gaussian, mixture
from wrl.distributions.base import (
    Family,
    entropy,
    family_of,
    log_prob,
    normal_log_density,
    register_family,
    sample,
    softplus_inverse,
)
from wrl.distributions.gaussian import (
    DiagGaussian,
    diag_gaussian,
    kl_divergence,
    kl_divergence_per_dim,
    raw_from_std,
    std_from_raw,
)
from wrl.distributions.mixture import GaussianMixture

__all__ = [
    "DiagGaussian",
    "Family",
    "GaussianMixture",
    "diag_gaussian",
    "entropy",
    "family_of",
    "gaussian",
    "kl_divergence",
    "kl_divergence_per_dim",
    "log_prob",
    "mixture",
    "normal_log_density",
    "raw_from_std",
    "register_family",
    "sample",
    "softplus_inverse",
    "std_from_raw",
]
