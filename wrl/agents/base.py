"""What every agent provides: a config dataclass and pure ``init``/``act``/``update`` functions.

``make_agent(config, obs_dim, act_dim)`` returns an :class:`Agent` whose functions close over the
networks and optimizers (static) and take the agent state (a pytree of arrays) explicitly, so the whole
training state can be jit-compiled, vmapped over seeds, and saved as arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from wrl.replay import Batch

AgentState = Any
Metrics = dict[str, jax.Array]


class Agent(NamedTuple):
    init: Callable[[jax.Array], AgentState]
    """key -> initial agent state."""
    act: Callable[[AgentState, jax.Array, jax.Array, bool], jax.Array]
    """(state, obs batch, key, deterministic) -> actions in [-1, 1]."""
    update: Callable[[AgentState, Batch, jax.Array], tuple[AgentState, Metrics]]
    """(state, batch, key) -> (new state, scalar metrics): one gradient step."""
