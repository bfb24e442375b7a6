"""Value heads: how a Q network's raw outputs become Q, which atoms a bootstrap takes from them, and the loss
that trains them towards target atoms.

A head is a :class:`ValueHead` of pure functions on arrays (no parameters of its own):

    value(raw (..., out_dim)) -> Q (...),
    atoms(raw (..., out_dim)) -> (..., M)     the atoms a TD target is built from (M = 1: Q itself; the
                                              quantile head: its K quantiles),
    loss(raw (B, out_dim), target_atoms (B, M)) -> per-sample loss (B,),

where the target atoms are y_m = r + gamma (1 - d) atoms_m(s', a') of a target network (the loss treats
them as constants: it stops their gradient).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr

Array = jax.Array


class ValueHead(NamedTuple):
    """A value head: ``name``, the network's output width ``out_dim`` and three functions (see the module)."""

    name: str
    out_dim: int
    value: Callable[[Array], Array]
    atoms: Callable[[Array], Array]
    loss: Callable[[Array, Array], Array]


def _check_loss_inputs(raw: Array, target_atoms: Array, out_dim: int) -> None:
    assert raw.ndim == 2 and raw.shape[1] == out_dim, f"raw must be (B, {out_dim}), got {raw.shape}"
    assert target_atoms.ndim == 2 and target_atoms.shape[0] == raw.shape[0], (
        f"target_atoms must be (B={raw.shape[0]}, M), got {target_atoms.shape}")


# --- mean squared error ----------------------------------------------------------------------------------------


def mse_head() -> ValueHead:
    """Q = raw[..., 0] (out_dim 1); atoms = Q[..., None] (M = 1); loss = 0.5 (Q - mean_m y_m)^2."""

    def loss(raw: Array, target_atoms: Array) -> Array:
        _check_loss_inputs(raw, target_atoms, 1)
        y = jax.lax.stop_gradient(target_atoms).mean(-1)
        return 0.5 * jnp.square(raw[:, 0] - y)

    return ValueHead("mse", 1, lambda raw: raw[..., 0], lambda raw: raw[..., :1], loss)


# --- HL-Gauss ------------------------------------------------------------------------------------------------


def hl_gauss_histogram(y: Array, edges: Array, sigma: float | Array) -> Array:
    """The HL-Gauss target of scalars y (...): the probabilities (..., K) that Y ~ N(y, sigma^2) falls in each
    of the K bins [e_k, e_{k+1}) of ``edges`` (K + 1,), given that it falls in [e_0, e_K]:

        p_k = (Phi((e_{k+1} - y) / sigma) - Phi((e_k - y) / sigma)) / (Phi((e_K - y) / sigma) - Phi((e_0 - y) / sigma)).

    y is first clipped to [e_0, e_K] (no change inside the support; a target outside it gets the histogram of
    the nearest edge instead of 0 / 0).
    """
    y = jnp.clip(y, edges[0], edges[-1])
    cdf = ndtr((edges - y[..., None]) / sigma)  # (..., K + 1)
    return (cdf[..., 1:] - cdf[..., :-1]) / (cdf[..., -1:] - cdf[..., :1])


def hl_gauss_head(num_bins: int = 101, v_min: float = -5.0, v_max: float = 5.0,
                  sigma_ratio: float = 0.75) -> ValueHead:
    """HL-Gauss, a histogram loss with Gaussian label smoothing (Imani & White, 2018; Farebrother et al., "Stop
    Regressing: Training Value Functions via Classification for Scalable Deep RL", ICML 2024).

    out_dim = num_bins logits over the bins of edges linspace(v_min, v_max, num_bins + 1), with centres z_k and
    width w = (v_max - v_min) / num_bins; sigma = sigma_ratio * w.

        value(raw) = sum_k softmax(raw)_k z_k,              atoms = value[..., None] (M = 1),
        loss(raw, y) = -sum_k p_k log softmax(raw)_k,      p = mean_m hl_gauss_histogram(y_m, edges, sigma).
    """
    edges = np.linspace(v_min, v_max, num_bins + 1)  # float64 constants, cast to the inputs' dtype
    centres = 0.5 * (edges[1:] + edges[:-1])
    sigma = sigma_ratio * (v_max - v_min) / num_bins

    def value(raw: Array) -> Array:
        return jnp.sum(jax.nn.softmax(raw, axis=-1) * jnp.asarray(centres, raw.dtype), axis=-1)

    def loss(raw: Array, target_atoms: Array) -> Array:
        _check_loss_inputs(raw, target_atoms, num_bins)
        y = jax.lax.stop_gradient(target_atoms)
        p = hl_gauss_histogram(y, jnp.asarray(edges, y.dtype), sigma).mean(-2)  # (B, K)
        return -jnp.sum(p * jax.nn.log_softmax(raw, axis=-1), axis=-1)

    return ValueHead("hl_gauss", num_bins, value, lambda raw: value(raw)[..., None], loss)


# --- quantile regression ---------------------------------------------------------------------------------------


def quantile_huber_loss(quantiles: Array, target_atoms: Array, taus: Array, kappa: float = 1.0) -> Array:
    """The quantile Huber loss of QR-DQN (Dabney et al., "Distributional Reinforcement Learning with Quantile
    Regression", AAAI 2018), per sample:

        u_ij = y_j - theta_i,
        L = sum_i mean_j |tau_i - 1{u_ij < 0}| H_kappa(u_ij) / kappa,
        H_kappa(u) = u^2 / 2 if |u| <= kappa else kappa (|u| - kappa / 2),

    for quantiles theta (B, K) at levels taus (K,) and target atoms y (B, M); returns (B,). kappa = 0 gives
    the plain quantile loss (H_kappa(u) / kappa -> |u|).
    """
    assert quantiles.ndim == 2 and target_atoms.ndim == 2 and quantiles.shape[0] == target_atoms.shape[0], (
        f"quantiles (B, K) and target_atoms (B, M), got {quantiles.shape} and {target_atoms.shape}")
    assert taus.shape == quantiles.shape[-1:], f"taus must be ({quantiles.shape[-1]},), got {taus.shape}"
    u = target_atoms[:, None, :] - quantiles[:, :, None]  # (B, K, M): u[b, i, j] = y_j - theta_i
    abs_u = jnp.abs(u)
    if kappa == 0:
        huber = abs_u
    else:
        huber = jnp.where(abs_u <= kappa, 0.5 * jnp.square(u), kappa * (abs_u - 0.5 * kappa)) / kappa
    weight = jnp.abs(taus[None, :, None] - (u < 0).astype(u.dtype))
    return jnp.sum(jnp.mean(weight * huber, axis=-1), axis=-1)


def quantile_head(num_quantiles: int = 100, kappa: float = 1.0) -> ValueHead:
    """Quantile regression: out_dim = K quantiles theta_i at levels tau_i = (2i + 1) / (2K), i = 0..K-1;
    value = mean_i theta_i, atoms = the quantiles (M = K), loss = :func:`quantile_huber_loss`."""
    taus = (2.0 * np.arange(num_quantiles) + 1.0) / (2.0 * num_quantiles)

    def loss(raw: Array, target_atoms: Array) -> Array:
        _check_loss_inputs(raw, target_atoms, num_quantiles)
        return quantile_huber_loss(raw, jax.lax.stop_gradient(target_atoms), jnp.asarray(taus, raw.dtype), kappa)

    return ValueHead("quantile", num_quantiles, lambda raw: raw.mean(-1), lambda raw: raw, loss)


HEADS: dict[str, Callable[..., ValueHead]] = {"mse": mse_head, "hl_gauss": hl_gauss_head,
                                              "quantile": quantile_head}


def make_head(name: str, **settings) -> ValueHead:
    """The head called ``name`` ("mse", "hl_gauss", "quantile") with the constructor's keyword ``settings``."""
    if name not in HEADS:
        raise ValueError(f"unknown value head {name!r}; choose one of {sorted(HEADS)}")
    return HEADS[name](**settings)
