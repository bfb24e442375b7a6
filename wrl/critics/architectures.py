"""Q networks of the frontier critics: CrossQ, SimBa, SimbaV2 and BRO.

Every network maps (obs (..., obs_dim), action (..., act_dim)) to raw outputs (..., out_dim) of the
concatenation x = [obs, action]; a value head (:mod:`wrl.critics.heads`) turns the raw outputs into Q and
trains them. ``train`` matters only for :class:`CrossQNet` (batch statistics); the others ignore it.
Observation normalisation (the running-statistics normalisation of SimBa and SimbaV2) is not part of the
networks: it belongs to whoever feeds them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from wrl.critics.batch_renorm import BatchRenorm

Array = jax.Array
Params = Any

# SimbaV2: the linear layers whose weights live on the unit sphere are the submodules whose names start with
# this prefix; :func:`project_weights` finds them by it.
SPHERE_PREFIX = "sphere_"


def _inputs(obs: Array, action: Array) -> Array:
    return jnp.concatenate([obs, action], axis=-1)


class CrossQNet(nn.Module):
    """CrossQ's critic (Bhatt et al., "CrossQ: Batch Normalization in Deep Reinforcement Learning for Greater
    Sample Efficiency and Simplicity", ICLR 2024):

        x = [obs, action],  x <- BRN(x)  (if batch_norm_input),
        x <- BRN(ReLU(Dense_h(x)))  for h in hidden  (normalised after the activation, as the authors' code),
        out = Dense_out(x),

    with BRN the :class:`BatchRenorm` layer, which normalises with the batch's statistics when ``train`` is
    True (then ``"batch_stats"`` must be mutable for the running statistics to move) and with its running
    statistics otherwise. CrossQ has no target network: the TD target comes from the same network in the same
    training-mode pass as Q(s, a), on the joint batch [(s, a), (s', a')], so that both halves are normalised
    with the same statistics.
    """

    hidden: Sequence[int] = (2048, 2048)
    out_dim: int = 1
    momentum: float = 0.99
    warmup_steps: int = 100_000
    r_max: float = 3.0
    d_max: float = 5.0
    batch_norm_input: bool = True

    def _brn(self) -> BatchRenorm:
        return BatchRenorm(momentum=self.momentum, warmup_steps=self.warmup_steps, r_max=self.r_max,
                           d_max=self.d_max)

    @nn.compact
    def __call__(self, obs: Array, action: Array, train: bool = False) -> Array:
        x = _inputs(obs, action)
        if self.batch_norm_input:
            x = self._brn()(x, use_running_average=not train)
        for h in self.hidden:
            x = nn.relu(nn.Dense(h)(x))
            x = self._brn()(x, use_running_average=not train)
        return nn.Dense(self.out_dim)(x)


class SimbaNet(nn.Module):
    """SimBa's critic (Lee et al., "SimBa: Simplicity Bias for Scaling Up Parameters in Deep Reinforcement
    Learning", 2024): pre-LayerNorm residual blocks with an inverted bottleneck,

        x_0 = Dense_h(x),                                        (orthogonal initialisation)
        x_l = x_{l-1} + Dense_h(ReLU(Dense_4h(LN(x_{l-1})))),    l = 1..num_blocks (He-normal initialisation)
        out = Dense_out(LN(x_L)),                                (orthogonal initialisation)

    x = [obs, action]; biases start at zero.
    """

    hidden_dim: int = 512
    num_blocks: int = 2
    out_dim: int = 1

    @nn.compact
    def __call__(self, obs: Array, action: Array, train: bool = False) -> Array:
        del train
        x = nn.Dense(self.hidden_dim, kernel_init=nn.initializers.orthogonal(1.0))(_inputs(obs, action))
        for _ in range(self.num_blocks):
            y = nn.LayerNorm()(x)
            y = nn.relu(nn.Dense(4 * self.hidden_dim, kernel_init=nn.initializers.he_normal())(y))
            x = x + nn.Dense(self.hidden_dim, kernel_init=nn.initializers.he_normal())(y)
        x = nn.LayerNorm()(x)
        return nn.Dense(self.out_dim, kernel_init=nn.initializers.orthogonal(1.0))(x)


class BroNet(nn.Module):
    """BRO's critic, BroNet (Nauman et al., "Bigger, Regularized, Optimistic: scaling for compute and
    sample-efficient continuous control", NeurIPS 2024): post-LayerNorm residual blocks,

        x_0 = ReLU(LN(Dense_h(x))),
        x_l = x_{l-1} + LN(Dense_h(ReLU(LN(Dense_h(x_{l-1}))))),   l = 1..num_blocks,
        out = Dense_out(x_L),

    x = [obs, action]; Flax's default initialisation (LeCun-normal kernels, zero biases).
    """

    hidden_dim: int = 512
    num_blocks: int = 2
    out_dim: int = 1

    @nn.compact
    def __call__(self, obs: Array, action: Array, train: bool = False) -> Array:
        del train
        x = nn.relu(nn.LayerNorm()(nn.Dense(self.hidden_dim)(_inputs(obs, action))))
        for _ in range(self.num_blocks):
            y = nn.relu(nn.LayerNorm()(nn.Dense(self.hidden_dim)(x)))
            x = x + nn.LayerNorm()(nn.Dense(self.hidden_dim)(y))
        return nn.Dense(self.out_dim)(x)


# --- SimbaV2 -----------------------------------------------------------------------------------------------


def l2_normalize(x: Array, axis: int = -1, eps: float = 1e-8) -> Array:
    """x / ||x|| along ``axis``, as x * rsqrt(||x||^2 + eps^2): finite (zero) at x = 0, with a finite
    gradient; the norm of the result is 1 - O(eps^2 / ||x||^2)."""
    return x * jax.lax.rsqrt(jnp.sum(jnp.square(x), axis=axis, keepdims=True) + eps * eps)


def _sphere_kernel_init(key: Array, shape: Sequence[int], dtype: Any = jnp.float32) -> Array:
    """An orthogonal matrix (in, out) with each column (one output unit's incoming weights) then scaled to
    unit norm: the constraint :func:`project_weights` keeps holds from the start."""
    return l2_normalize(nn.initializers.orthogonal(1.0)(key, shape, dtype), axis=-2)


class Scaler(nn.Module):
    """A learnable per-feature scale s (SimbaV2, after nGPT): x -> s * x, with s = s' * (init / scale) and the
    parameter s' starting at ``scale``, so that s starts at ``init`` while the optimiser's steps on s' move s
    by init / scale times their size (this sets the scaler's effective learning rate)."""

    dim: int
    init: float = 1.0
    scale: float = 1.0

    @nn.compact
    def __call__(self, x: Array) -> Array:
        s = self.param("scaler", nn.initializers.constant(self.scale), (self.dim,), jnp.float32)
        return x * (s * (self.init / self.scale)).astype(x.dtype)


class SimbaV2Net(nn.Module):
    """SimbaV2's critic (Lee et al., "Hyperspherical Normalization for Scalable Deep Reinforcement Learning",
    ICML 2025): every hidden feature and every hidden weight vector lives on a unit sphere.

    With norm(v) = v / ||v|| (over the feature axis), x = [obs, action], d = hidden_dim:

        input:      x~ = norm([x, shift])                        (shift: a constant feature, keeps ||x||)
        embedding:  h_0 = norm(s_0 * (W_0 x~))                   W_0: (d, dim x + 1), s_0 a Scaler
        blocks:     h~_l = norm(W_l2 ReLU(s_l * (W_l1 h_{l-1})))   W_l1: (4d, d), W_l2: (d, 4d)
                    h_l = norm(h_{l-1} + alpha_l * (h~_l - h_{l-1}))  (LERP residual, alpha_l a Scaler)
        output:     out = Dense_out(s_o * (W_o h_L))              W_o: (d, d), Dense_out a plain affine layer

    The matrices W (no biases) are those :func:`project_weights` keeps on the sphere: in the paper's
    (out, in) convention each row w_i (the incoming weights of output unit i) has unit norm, so that
    (W h)_i = <w_i, h> is the cosine between two unit vectors; in Flax's (in, out) kernels that is each column,
    i.e. the norm over the input axis (-2). The initialisation is orthogonal, then projected. The scalers and
    the output layer Dense_out (weights and bias) are free.

    Scalers (the paper's defaults, None): s_0, s_o start at ``scaler_init`` = sqrt(2 / d) with
    ``scaler_scale`` = sqrt(2 / d); the 4d-wide s_l at scaler_init / 2 with scale scaler_scale / 2 (1 /
    sqrt(expansion 4)); alpha_l starts at ``alpha_init`` = 1 / (num_blocks + 1) with ``alpha_scale`` =
    1 / sqrt(d). The features h_0 .. h_L are sown in the collection ``"intermediates"`` under ``"hidden"``.
    """

    hidden_dim: int = 512
    num_blocks: int = 2
    out_dim: int = 1
    shift: float = 3.0
    scaler_init: float | None = None
    scaler_scale: float | None = None
    alpha_init: float | None = None
    alpha_scale: float | None = None
    expansion: int = 4

    @nn.compact
    def __call__(self, obs: Array, action: Array, train: bool = False) -> Array:
        del train
        d = self.hidden_dim
        s_init = math.sqrt(2.0 / d) if self.scaler_init is None else self.scaler_init
        s_scale = math.sqrt(2.0 / d) if self.scaler_scale is None else self.scaler_scale
        a_init = 1.0 / (self.num_blocks + 1) if self.alpha_init is None else self.alpha_init
        a_scale = 1.0 / math.sqrt(d) if self.alpha_scale is None else self.alpha_scale
        root = math.sqrt(self.expansion)

        def sphere_dense(features: int, name: str) -> nn.Dense:
            return nn.Dense(features, use_bias=False, kernel_init=_sphere_kernel_init, name=SPHERE_PREFIX + name)

        x = _inputs(obs, action)
        x = l2_normalize(jnp.concatenate([x, jnp.full((*x.shape[:-1], 1), self.shift, x.dtype)], axis=-1))
        h = l2_normalize(Scaler(d, s_init, s_scale, name="scaler_embed")(sphere_dense(d, "embed")(x)))
        self.sow("intermediates", "hidden", h)
        for i in range(self.num_blocks):
            u = sphere_dense(self.expansion * d, f"block{i}_up")(h)
            u = nn.relu(Scaler(self.expansion * d, s_init / root, s_scale / root, name=f"scaler_block{i}")(u))
            h_tilde = l2_normalize(sphere_dense(d, f"block{i}_down")(u))
            h = l2_normalize(h + Scaler(d, a_init, a_scale, name=f"alpha_block{i}")(h_tilde - h))
            self.sow("intermediates", "hidden", h)
        z = Scaler(d, s_init, s_scale, name="scaler_out")(sphere_dense(d, "out")(h))
        return nn.Dense(self.out_dim, kernel_init=nn.initializers.orthogonal(1.0), name="head")(z)


def _is_sphere_kernel(path: tuple[Any, ...]) -> bool:
    keys = [getattr(k, "key", getattr(k, "name", None)) for k in path]
    return (len(keys) >= 2 and keys[-1] == "kernel" and isinstance(keys[-2], str)
            and keys[-2].startswith(SPHERE_PREFIX))


def project_weights(params: Params) -> Params:
    """SimbaV2's weight projection, applied after every optimiser step: each kernel of a sphere layer of
    :class:`SimbaV2Net` (a submodule named ``sphere_*``) divided by its norm over the input axis (-2), so
    that each output unit's weight vector has unit norm; every other leaf (scalers, the output layer) as it is.

    Pure and shape-agnostic: ``params`` may be the variables ({"params": ...}) or the params themselves, and
    may carry leading axes (an ensemble's members axis: kernels (members, in, out)), since the norm is taken
    over axis -2 of each kernel whatever comes before; usable under jit and vmap.
    """
    return jax.tree_util.tree_map_with_path(
        lambda path, leaf: l2_normalize(leaf, axis=-2) if _is_sphere_kernel(path) else leaf, params)
