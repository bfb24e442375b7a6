"""Target networks: the parameters a critic (or a policy) bootstraps from follow the online ones slowly."""

from __future__ import annotations

from typing import Any, Literal

import jax
import optax

Params = Any


def polyak(target: Params, online: Params, rate: float) -> Params:
    """theta_target <- rate * theta + (1 - rate) * theta_target."""
    return optax.incremental_update(online, target, rate)


def target_update(target: Params, online: Params, step: jax.Array, mode: Literal["polyak", "periodic"],
                  rate: float, period: int) -> Params:
    """The target network after update number ``step``: :func:`polyak` with ``rate``, or a periodic copy
    theta_target <- theta when step % period == 0, else unchanged (``optax.periodic_update``)."""
    if mode == "polyak":
        return polyak(target, online, rate)
    return optax.periodic_update(online, target, step, period)
