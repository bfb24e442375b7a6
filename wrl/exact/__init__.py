"""Exact low-dimensional Wasserstein policy flows with known optima (costs minimised).

- :mod:`wrl.exact.lqr`: ergodic LQR, J(K, Sigma), differential Q, the Wasserstein flow, Riccati optimum.
- :mod:`wrl.exact.grid`: one-dimensional states on a grid, Poisson equation, particle flow.
- :mod:`wrl.exact.fibres`: Gaussian-fibre and quantile versions of the grid flow.
- :mod:`wrl.exact.hessian`: first/second variations (local + transport), Newton and Gauss-Newton for LQR.
- :mod:`wrl.exact.geodesic`: geodesics between linear-Gaussian and quantile policies.
- :mod:`wrl.exact.split_step`: the closed-form Gaussian split step of WPPG on a quadratic Q, its fixed point.

The drivers run in float64 inside :func:`wrl.exact.precision.float64` without changing the global setting.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> defining module; imported on first access so that `wrl --help` and the CLI modules
# (wrl.lab.flows.lqr, wrl.lab.flows.grid) do not pay for importing JAX.
_EXPORTS: dict[str, str] = {
    "GridFlowResult": "wrl.exact.grid_flow",
    "GridProblem": "wrl.exact.grid",
    "LQRFlowResult": "wrl.exact.lqr",
    "LQROptimum": "wrl.exact.lqr",
    "LQRSystem": "wrl.exact.lqr",
    "Variations": "wrl.exact.hessian",
    "average_cost": "wrl.exact.lqr",
    "default_system": "wrl.exact.lqr",
    "differential_q": "wrl.exact.lqr",
    "entropic_cost": "wrl.exact.lqr",
    "evaluate_policy": "wrl.exact.grid",
    "float64": "wrl.exact.precision",
    "gaussian_fibre_step": "wrl.exact.fibres",
    "grad_a_q": "wrl.exact.lqr",
    "grid_variations": "wrl.exact.hessian",
    "linear_gaussian_distance_sq": "wrl.exact.geodesic",
    "linear_gaussian_geodesic": "wrl.exact.geodesic",
    "lqr_cost_hessian": "wrl.exact.hessian",
    "lqr_curve": "wrl.exact.hessian",
    "lqr_flow_step": "wrl.exact.lqr",
    "lqr_gauss_newton_step": "wrl.exact.hessian",
    "lqr_newton_direction": "wrl.exact.hessian",
    "lqr_optimum": "wrl.exact.lqr",
    "lqr_variations": "wrl.exact.hessian",
    "named_system": "wrl.exact.lqr",
    "natural_gradient": "wrl.exact.lqr",
    "particle_flow_step": "wrl.exact.grid",
    "particle_objective": "wrl.exact.grid",
    "poisson_solution": "wrl.exact.grid",
    "quantile_entropy": "wrl.exact.fibres",
    "quantile_flow_step": "wrl.exact.fibres",
    "quantile_policy_distance_sq": "wrl.exact.geodesic",
    "quantile_policy_geodesic": "wrl.exact.geodesic",
    "random_stable_system": "wrl.exact.lqr",
    "run_grid_flow": "wrl.exact.grid_flow",
    "run_lqr_flow": "wrl.exact.lqr",
    "run_lqr_second_order": "wrl.exact.hessian",
    "scalar_lqr_grid": "wrl.exact.grid",
    "scalar_system": "wrl.exact.lqr",
    "solve_discrete_lyapunov": "wrl.exact.lqr",
    "solve_riccati": "wrl.exact.lqr",
    "stationary_covariance": "wrl.exact.lqr",
    "stationary_distribution": "wrl.exact.grid",
    "value_matrix": "wrl.exact.lqr",
}


__all__ = [
    "GridFlowResult",
    "GridProblem",
    "LQRFlowResult",
    "LQROptimum",
    "LQRSystem",
    "Variations",
    "average_cost",
    "default_system",
    "differential_q",
    "entropic_cost",
    "evaluate_policy",
    "float64",
    "gaussian_fibre_step",
    "grad_a_q",
    "grid_variations",
    "linear_gaussian_distance_sq",
    "linear_gaussian_geodesic",
    "lqr_cost_hessian",
    "lqr_curve",
    "lqr_flow_step",
    "lqr_gauss_newton_step",
    "lqr_newton_direction",
    "lqr_optimum",
    "lqr_variations",
    "named_system",
    "natural_gradient",
    "particle_flow_step",
    "particle_objective",
    "poisson_solution",
    "quantile_entropy",
    "quantile_flow_step",
    "quantile_policy_distance_sq",
    "quantile_policy_geodesic",
    "random_stable_system",
    "run_grid_flow",
    "run_lqr_flow",
    "run_lqr_second_order",
    "scalar_lqr_grid",
    "scalar_system",
    "solve_discrete_lyapunov",
    "solve_riccati",
    "stationary_covariance",
    "stationary_distribution",
    "value_matrix",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'wrl.exact' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
