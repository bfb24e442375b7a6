"""The critic component: one architecture x one value head x one target scheme, shared by every agent.

Every method in wrl follows the flow through grad_a Q(s, a); the critic that provides it is chosen by one
option, ``critic`` (the architecture), with ``critic_loss`` (how its outputs become Q and are trained):

    y = R^(n) + gamma^m (1 - d) (V(s'_m) + bonus),   V(s') = reduce_n [ min_i Z_i(s', a'_n) ],
    L(phi) = sum_i mean_b loss(raw_i(s_b, a_b), y_b),           Q_i(s, a) = value(raw_i(s, a)),

where Z_i are the *atoms* of member i's output (Q itself for ``mse`` and ``hl_gauss``, the K quantiles for
``quantile``), the min over members is taken atom by atom, a'_n are the agent's next actions and ``bonus``
its entropy term. The architectures:

- ``mlp`` / ``layernorm``: Dense (-> LayerNorm) -> ReLU layers on [s, a] (the critics of SAC, TD3 and WPO);
- ``crossq`` (Bhatt et al., ICLR 2024): Batch Renormalization, no target network; (s, a) and (s', a') in one
  training-mode pass so both share batch statistics, the bootstrap read from that pass under stop-gradient;
  the statistics live in the state (``batch_stats``) and are in evaluation mode wherever Q is only read;
- ``simba`` (Lee et al., 2024): pre-LayerNorm residual blocks with a 4x inverted bottleneck;
- ``simbav2`` (Lee et al., 2025): hyperspherical normalisation; weights projected onto the unit sphere
  after every update;
- ``bro`` (Nauman et al., 2024): BroNet residual blocks with LayerNorm.

A critic's variables are the ensemble's Flax variables stacked on a leading member axis: the ``params``
collection (trained) and, for ``crossq``, the ``batch_stats`` collection (updated by the training pass).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from wrl.config import hp
from wrl.critics import architectures
from wrl.critics.heads import ValueHead, make_head
from wrl.errors import ConfigError
from wrl.networks import QNetwork
from wrl.replay import Batch

Array = jax.Array
Variables = Any
QFn = Callable[[Any, Array], Array]
Reduction = Literal["first", "mean", "min"]

ARCHITECTURES = ("mlp", "layernorm", "crossq", "simba", "simbav2", "bro")
LOSSES = ("mse", "hl_gauss", "quantile")
RESIDUAL = ("simba", "simbav2", "bro")


@dataclass(frozen=True)
class CriticConfig:
    """The critic of an actor-critic agent (every agent config with a critic inherits these fields)."""

    critic: str = hp("mlp", "critic architecture: mlp, layernorm (MLP with LayerNorm), crossq (Batch Renormalization, "
                            "no target network), simba, simbav2 (hyperspherical), bro (BroNet)",
                     choices=ARCHITECTURES)
    critic_hidden: tuple[int, ...] = hp((256, 256), "critic hidden sizes (residual critics: one block per entry, "
                                                    "all the same width)", ge=1)
    critic_loss: str = hp("mse", "critic value head and TD loss: mse, hl_gauss (HL-Gauss categorical cross-entropy), "
                                 "quantile (quantile Huber regression)", choices=LOSSES)
    num_critics: int = hp(2, "critic ensemble size (min over members in targets)", ge=1)
    critic_lr: float = hp(3e-4, "critic learning rate", gt=0)
    critic_bins: int = hp(101, "hl_gauss: number of bins", ge=2)
    critic_v_min: float = hp(-5.0, "hl_gauss: lowest bin edge (returns below are clipped to it; normalise rewards or "
                                   "widen the support)")
    critic_v_max: float = hp(5.0, "hl_gauss: highest bin edge")
    critic_sigma_ratio: float = hp(0.75, "hl_gauss: width of the Gaussian target, in bin widths", gt=0)
    critic_quantiles: int = hp(100, "quantile: number of quantiles", ge=1)
    critic_kappa: float = hp(1.0, "quantile: threshold of the quantile Huber loss", gt=0)
    renorm_momentum: float = hp(0.99, "crossq: momentum of the running batch statistics", gt=0, lt=1)
    renorm_warmup: int = hp(100_000, "crossq: updates of plain batch normalisation before the r/d corrections open",
                            ge=0)

    @staticmethod
    def upgrade(data: dict[str, Any]) -> dict[str, Any]:
        """A recorded config of a wrl before ``critic`` in today's fields: ``critic_layer_norm`` True becomes
        ``critic = "layernorm"``, False ``"mlp"`` (a record without it takes today's default, which is the agent's
        old one: ``mlp``, WPO's ``layernorm``). Applied by :func:`wrl.config.upgrade`."""
        if "critic_layer_norm" not in data:
            return data
        layer_norm = data.pop("critic_layer_norm")
        if "critic" in data:
            raise ConfigError("a config holds both critic and the field it replaced (critic_layer_norm)")
        data["critic"] = "layernorm" if layer_norm else "mlp"
        return data

    def piecewise_linear_in_action(self) -> bool:
        """Whether Q(s, a) is piecewise linear in a, so that its action-Hessian grad_a^2 Q is zero almost everywhere:
        ReLU layers with no normalisation that depends on the input (``mlp``; ``crossq``'s batch renormalisation is
        affine where the critic is read, in evaluation mode) under a head whose value is linear in the last
        features (``mse``; ``quantile``, the mean of the quantiles). LayerNorm, SimBa's, SimbaV2's and BRO's
        normalisations and the HL-Gauss head's softmax expectation curve Q."""
        return self.critic in ("mlp", "crossq") and self.critic_loss in ("mse", "quantile")

    def head(self) -> ValueHead:
        """The value head of ``critic_loss`` with its settings."""
        if self.critic_loss == "hl_gauss":
            if not self.critic_v_min < self.critic_v_max:
                raise ConfigError(f"--critic-v-min ({self.critic_v_min}) must be below --critic-v-max "
                                  f"({self.critic_v_max})")
            return make_head("hl_gauss", num_bins=self.critic_bins, v_min=self.critic_v_min,
                             v_max=self.critic_v_max, sigma_ratio=self.critic_sigma_ratio)
        if self.critic_loss == "quantile":
            return make_head("quantile", num_quantiles=self.critic_quantiles, kappa=self.critic_kappa)
        return make_head("mse")

    def network(self, out_dim: int) -> nn.Module:
        """The critic network of ``critic`` with ``out_dim`` raw outputs (the value head's)."""
        kind, hidden = self.critic, tuple(self.critic_hidden)
        if kind in RESIDUAL and len(set(hidden)) != 1:
            raise ConfigError(f"--critic {kind} stacks residual blocks of one width: give --critic-hidden as one width "
                              f"per block, all equal (got {' '.join(map(str, hidden))})")
        if kind in ("mlp", "layernorm"):
            return QNetwork(hidden, kind == "layernorm", out_dim=out_dim)
        if kind == "crossq":
            return architectures.CrossQNet(hidden, out_dim, momentum=self.renorm_momentum,
                                           warmup_steps=self.renorm_warmup)
        net = {"simba": architectures.SimbaNet, "simbav2": architectures.SimbaV2Net, "bro": architectures.BroNet}[kind]
        return net(hidden_dim=hidden[0], num_blocks=len(hidden), out_dim=out_dim)


def trainable(variables: Variables) -> Variables:
    """The trained collection of a critic's variables, ``{"params": ...}`` (the optimizer's tree)."""
    return {"params": variables["params"]}


@dataclass(frozen=True)
class Critic:
    """A critic ensemble's static parts (network, value head, optimizer) and its pure functions.

    ``joint`` (CrossQ): no target network; the TD target is read from the same training-mode pass as Q.
    ``project``: applied to the parameters after every update (SimbaV2's projection onto the sphere).
    """

    net: nn.Module
    head: ValueHead
    tx: optax.GradientTransformation
    num_members: int
    joint: bool = False
    project: Callable[[Variables], Variables] | None = None

    @property
    def has_target(self) -> bool:
        """Whether the critic bootstraps from a separate target network (every critic but CrossQ's)."""
        return not self.joint

    def init(self, key: Array, obs_dim: int, act_dim: int) -> Variables:
        """The variables of ``num_members`` independent members, stacked on a leading axis.

        The members are initialised one by one and stacked (the same numbers as a vmapped init): under ``jit``, a
        vmapped init of the SimbaV2 network deadlocks XLA on CPU (jax 0.10.2)."""
        obs0, act0 = jnp.zeros((1, obs_dim)), jnp.zeros((1, act_dim))
        members = [self.net.init(k, obs0, act0) for k in jax.random.split(key, self.num_members)]
        return jax.tree.map(lambda *leaves: jnp.stack(leaves), *members)

    def raw(self, variables: Variables, obs: Any, action: Array) -> Array:
        """Every member's raw outputs (members, ..., out_dim), in evaluation mode."""
        return jax.vmap(lambda v: self.net.apply(v, obs, action))(variables)

    def q_fn(self, variables: Variables, reduction: Reduction) -> QFn:
        """Q(s, a) of the ensemble (evaluation mode) reduced over the members:

            'first': Q_1(s, a)   'mean': (1/M) sum_i Q_i(s, a)   'min': min_i Q_i(s, a),

        with Q_i = value(raw_i). 'first' evaluates member 0 alone (the others' passes would be discarded).
        """
        value = self.head.value
        if reduction == "first":
            first = jax.tree.map(lambda x: x[0], variables)
            return lambda obs, action: value(self.net.apply(first, obs, action))
        if reduction == "mean":
            return lambda obs, action: value(self.raw(variables, obs, action)).mean(0)
        if reduction == "min":
            return lambda obs, action: value(self.raw(variables, obs, action)).min(0)
        raise ConfigError(f"unknown critic reduction {reduction!r}; use 'first', 'mean' or 'min'")

    def next_atoms(self, variables: Variables, next_obs: Any, actions: Array,
                   reduce: Literal["mean", "max"] = "mean") -> Array:
        """V(s') as atoms (B, M): reduce_n min_i Z_i(s', a'_n), the min over members atom by atom, then the mean
        (or max) over the N samples. ``actions`` is (N, B, D), or (B, D) for a single sample (no reduction)."""
        if actions.ndim == 2:
            return self.head.atoms(self.raw(variables, next_obs, actions)).min(0)
        raw = jax.vmap(lambda a: self.raw(variables, next_obs, a))(actions)  # (N, members, B, out_dim)
        return reduce_samples(self.head.atoms(raw).min(1), reduce)

    def loss(self, raw: Array, target: Array) -> Array:
        """sum over members of mean_b loss(raw_i(s_b, a_b), y_b), raw (members, B, out_dim), y atoms (B, M)."""
        per_sample = jax.vmap(self.head.loss, in_axes=(0, None))(raw, target)  # (members, B)
        return jnp.sum(jnp.mean(per_sample, axis=1))

    def update(self, variables: Variables, opt_state: optax.OptState, batch: Batch, next_actions: Array,
               target_variables: Variables | None = None, bonus: Array | float = 0.0,
               reduce: Literal["mean", "max"] = "mean") -> tuple[Variables, optax.OptState, Array, Array]:
        """One optimizer step of the critic on its TD loss (module docstring), bootstrapping on the agent's
        ``next_actions`` (N, B, D) or (B, D) at ``batch.next_obs`` with V(s') + ``bonus`` ((B,) or scalar):

        - with a target network: V(s') from ``target_variables`` (evaluation mode), then the loss;
        - ``joint`` (CrossQ): one training-mode pass over [(s, a); (s', a'_1); ...; (s', a'_N)] with the online
          variables; the (s', a') rows give V(s') under stop-gradient, the batch statistics of all rows are the
          new ``batch_stats``.

        Returns (new variables, new optimizer state, loss, Q values (members, B) before the step).
        """
        if self.joint:
            return self._joint_update(variables, opt_state, batch, next_actions, bonus, reduce)
        if target_variables is None:
            raise ValueError("this critic bootstraps from a target network: pass target_variables")
        target = td_target(batch, self.next_atoms(target_variables, batch.next_obs, next_actions, reduce), bonus)

        def loss_fn(params):
            raw = self.raw({**variables, **params}, batch.obs, batch.action)
            return self.loss(raw, target), self.head.value(raw)

        (loss, q), grads = jax.value_and_grad(loss_fn, has_aux=True)(trainable(variables))
        return (*self._apply(variables, grads, opt_state, {}), loss, q)

    def _joint_update(self, variables, opt_state, batch, next_actions, bonus, reduce):
        many = next_actions.ndim == 3
        samples = next_actions if many else next_actions[None]
        n, b = samples.shape[0], batch.action.shape[0]
        obs_all = jax.tree.map(lambda o, o2: jnp.concatenate([o] + [o2] * n), batch.obs, batch.next_obs)
        act_all = jnp.concatenate([batch.action, samples.reshape(n * b, -1)])

        def member(v):
            return self.net.apply(v, obs_all, act_all, train=True, mutable=["batch_stats"])

        def loss_fn(params):
            raw_all, updates = jax.vmap(member)({**variables, **params})
            raw, raw_next = raw_all[:, :b], raw_all[:, b:].reshape(raw_all.shape[0], n, b, -1)
            atoms = jax.lax.stop_gradient(self.head.atoms(raw_next).min(0))  # (N, B, M)
            target = td_target(batch, reduce_samples(atoms if many else atoms[0], reduce if many else None), bonus)
            return self.loss(raw, target), (self.head.value(raw), updates)

        (loss, (q, updates)), grads = jax.value_and_grad(loss_fn, has_aux=True)(trainable(variables))
        return (*self._apply(variables, grads, opt_state, updates), loss, q)

    def _apply(self, variables, grads, opt_state, collections):
        params = trainable(variables)
        updates, opt_state = self.tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        if self.project is not None:
            params = self.project(params)
        return {**variables, **collections, **params}, opt_state

    def init_opt(self, variables: Variables) -> optax.OptState:
        """The optimizer state of the trained collection."""
        return self.tx.init(trainable(variables))


def reduce_samples(atoms: Array, reduce: Literal["mean", "max"] | None) -> Array:
    """Reduce V(s') atoms over the leading sample axis (mean or max), or nothing for one sample (None)."""
    if reduce is None:
        return atoms
    return atoms.mean(0) if reduce == "mean" else atoms.max(0)


def td_target(batch: Batch, next_atoms: Array, bonus: Array | float = 0.0) -> Array:
    """y = R^(n) + gamma^m (1 - terminated) (V(s'_m) + bonus) as atoms (B, M); the batch's discount already folds
    in termination. Held constant."""
    bonus = jnp.asarray(bonus)
    value = next_atoms + (bonus[:, None] if bonus.ndim == 1 else bonus)
    return jax.lax.stop_gradient(batch.reward[:, None] + batch.discount[:, None] * value)


def make_critic(cfg: CriticConfig, optimizer: Callable[[float], optax.GradientTransformation]) -> Critic:
    """The critic of ``cfg`` trained by ``optimizer(cfg.critic_lr)``."""
    head = cfg.head()
    project = architectures.project_weights if cfg.critic == "simbav2" else None
    return Critic(cfg.network(head.out_dim), head, optimizer(cfg.critic_lr), cfg.num_critics,
                  joint=cfg.critic == "crossq", project=project)

