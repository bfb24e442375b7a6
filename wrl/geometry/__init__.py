"""Wasserstein geometry of actions and policies: closed forms, estimators, geodesics, the policy metric.

- :mod:`wrl.geometry.gaussian`: Bures-Wasserstein distance, transport map, geodesic, exp/log maps.
- :mod:`wrl.geometry.quantile`: one-dimensional W2 through quantile functions, from samples, geodesics.
- :mod:`wrl.geometry.samples`: W2 / Sinkhorn between sample sets (ott-jax), exact assignment, Gelbrich bound.
- :mod:`wrl.geometry.entropy`: plug-in Gaussian-mixture (kernel density) entropy of samples, Gaussian entropy.
- :mod:`wrl.geometry.kernels`: the RBF kernel on particle sets and the median-heuristic bandwidth.
- :mod:`wrl.geometry.policy_metric`: <v, w>_pi and E_s W2^2(pi(.|s), pi'(.|s)) over a state distribution.
"""

from wrl.geometry.entropy import gaussian_entropy, gaussian_mixture_entropy_bias, mixture_entropy
from wrl.geometry.gaussian import (
    bures_distance_sq,
    bures_transport_map,
    gaussian_exp_map,
    gaussian_geodesic,
    gaussian_log_map,
    sqrtm_psd,
    w2_diag_gaussian_sq,
    w2_gaussian_sq,
)
from wrl.geometry.kernels import median_bandwidth, rbf_kernel, squared_distances
from wrl.geometry.policy_metric import (
    policy_inner,
    policy_norm_sq,
    policy_w2_sq_diag_gaussian,
    policy_w2_sq_linear_gaussian,
    policy_w2_sq_samples,
    state_average,
)
from wrl.geometry.quantile import (
    empirical_quantiles,
    gaussian_quantiles,
    quantile_geodesic,
    quantile_levels,
    w2_1d_samples_sq,
    w2_quantile_sq,
)
from wrl.geometry.samples import gelbrich_bound_sq, sinkhorn_divergence_sq, sinkhorn_w2_sq, w2_assignment_sq

__all__ = [
    "bures_distance_sq",
    "bures_transport_map",
    "empirical_quantiles",
    "gaussian_entropy",
    "gaussian_exp_map",
    "gaussian_geodesic",
    "gaussian_log_map",
    "gaussian_mixture_entropy_bias",
    "gaussian_quantiles",
    "gelbrich_bound_sq",
    "median_bandwidth",
    "mixture_entropy",
    "policy_inner",
    "policy_norm_sq",
    "policy_w2_sq_diag_gaussian",
    "policy_w2_sq_linear_gaussian",
    "policy_w2_sq_samples",
    "quantile_geodesic",
    "quantile_levels",
    "rbf_kernel",
    "sinkhorn_divergence_sq",
    "sinkhorn_w2_sq",
    "sqrtm_psd",
    "squared_distances",
    "state_average",
    "w2_1d_samples_sq",
    "w2_assignment_sq",
    "w2_diag_gaussian_sq",
    "w2_gaussian_sq",
    "w2_quantile_sq",
]
