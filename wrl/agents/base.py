"""What every agent provides: a config dataclass and pure ``init``/``act``/``update`` functions.

``make_agent(config, obs_dim, act_dim)`` returns an :class:`Agent` whose functions close over the
networks and optimizers (static) and take the agent state (a pytree of arrays) explicitly, so the whole
training state can be jit-compiled, vmapped over seeds, and saved as arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import optax

from wrl.config import Preset, hp
from wrl.critics import CriticConfig
from wrl.errors import ConfigError
from wrl.replay import Batch, Rollout

AgentState = Any
Metrics = dict[str, jax.Array]

__all__ = ["ActorCriticConfig", "Agent", "AgentState", "Metrics", "Preset"]


class Agent(NamedTuple):
    init: Callable[[jax.Array], AgentState]
    """key -> initial agent state."""
    act: Callable[[AgentState, jax.Array, jax.Array, bool], jax.Array]
    """(state, obs batch, key, deterministic) -> actions in [-1, 1]."""
    update: Callable[[AgentState, Batch, jax.Array], tuple[AgentState, Metrics]] | None
    """(state, batch, key) -> (new state, scalar metrics): one gradient step (off-policy agents)."""
    rollout_update: Callable[[AgentState, Rollout, jax.Array], tuple[AgentState, Metrics]] | None = None
    """On-policy agents: (state, the last ``update_every`` steps of every env, key) -> (new state, metrics),
    called every ``update_every`` environment steps instead of ``update`` on sampled minibatches."""


@dataclass(frozen=True)
class ActorCriticConfig(CriticConfig):
    """Fields every actor-critic agent shares: the critic (:class:`~wrl.critics.CriticConfig`), the actor
    network and the optimizers."""

    actor_hidden: tuple[int, ...] = hp((256, 256), "actor MLP hidden sizes", ge=1)
    actor_lr: float = hp(3e-4, "actor learning rate", gt=0)
    adam_b1: float = hp(0.9, "Adam's beta1 for every network (CrossQ: 0.5)", ge=0, lt=1)
    flat_optimizer: bool = hp(False, "Adam on one flattened parameter vector per network (fewer, larger ops)")
    lr_schedule: str = hp("constant", "learning rates: constant, or linear decay to --lr-final-fraction of "
                                      "themselves over --lr-decay-updates", choices=("constant", "linear"))
    lr_final_fraction: float = hp(0.5, "--lr-schedule linear: the final learning rate as a fraction of the first "
                                       "(SimbaV2: 0.5)", ge=0, le=1)
    lr_decay_updates: int = hp(0, "--lr-schedule linear: optimizer steps of the decay (0: the run's total number "
                                  "of updates, filled in when the run starts)", ge=0)

    def optimizer(self, lr: float, clip: float = 0.0) -> optax.GradientTransformation:
        """Adam at ``lr`` with beta1 ``adam_b1``, after a global-norm clip at ``clip`` (0: none), on one flattened
        vector if ``flat_optimizer`` (the same elementwise arithmetic in fewer operations).

        With ``lr_schedule`` "linear" the step size after k steps of this optimizer is
        lr (1 - (1 - f) min(k, T) / T), f = ``lr_final_fraction``, T = ``lr_decay_updates`` (an optimizer that
        steps every other update, as TD3's delayed actor, reaches only k = T / 2).
        """
        rate: float | optax.Schedule = lr
        if self.lr_schedule == "linear":
            if self.lr_decay_updates <= 0:
                raise ConfigError("--lr-schedule linear needs --lr-decay-updates > 0 (the trainer fills it in from "
                                  "the run's length when it is 0)")
            rate = optax.linear_schedule(lr, lr * self.lr_final_fraction, self.lr_decay_updates)
        adam = optax.adam(rate, b1=self.adam_b1)
        tx = optax.chain(optax.clip_by_global_norm(clip), adam) if clip > 0 else adam
        return optax.flatten(tx) if self.flat_optimizer else tx


def check_velocity(cfg: Any) -> None:
    """Raise a ConfigError if the agent config ``cfg`` (a :class:`~wrl.flows.velocity.VelocityConfig` and a
    :class:`~wrl.critics.CriticConfig`) asks for the Newton velocity on a critic without action curvature: there
    grad_a^2 Q = 0 almost everywhere and (lambda I + |H_a|)^-1 grad_a Q is grad_a Q / lambda, a rescaled first-order
    step, not a second-order one."""
    if cfg.velocity == "newton" and cfg.piecewise_linear_in_action():
        raise ConfigError(f"--velocity newton needs a critic that curves in the action: --critic {cfg.critic} with "
                          f"--critic-loss {cfg.critic_loss} is piecewise linear in a (ReLU layers), its Hessian is "
                          "zero and the Newton step is grad_a Q / lambda; use --critic layernorm, simba, simbav2 or "
                          "bro, or --critic-loss hl_gauss")
