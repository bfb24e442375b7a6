"""Networks: MLPs (optionally LayerNorm), the MLP critic network, and ensembles applied as one vmapped set of
parameters (their initialisation: :meth:`wrl.critics.Critic.init`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


class MLP(nn.Module):
    """x -> (Dense -> [LayerNorm] -> act) * len(hidden) -> Dense(out_dim)."""

    hidden: Sequence[int]
    out_dim: int
    activation: Callable[[jax.Array], jax.Array] = nn.relu
    layer_norm: bool = False
    out_scale: float = 1.0  # scale of the last layer's initialisation

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for h in self.hidden:
            x = nn.Dense(h)(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
            x = self.activation(x)
        init = nn.initializers.variance_scaling(self.out_scale, "fan_avg", "uniform")
        return nn.Dense(self.out_dim, kernel_init=init)(x)


class QNetwork(nn.Module):
    """Q(s, a): an MLP on the concatenation [s, a] with one output (shape (...,)), or ``out_dim`` raw outputs
    (shape (..., out_dim)) for a value head (:mod:`wrl.critics.heads`)."""

    hidden: Sequence[int]
    layer_norm: bool = False
    out_dim: int | None = None

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array, train: bool = False) -> jax.Array:
        out = MLP(self.hidden, self.out_dim or 1, layer_norm=self.layer_norm)(jnp.concatenate([obs, action], -1))
        return out[..., 0] if self.out_dim is None else out


def ensemble_apply(module: nn.Module, params, *inputs) -> jax.Array:
    """Every member on the same inputs: output has a leading ensemble axis."""
    return jax.vmap(lambda p: module.apply(p, *inputs))(params)
