"""The projection of the direct particle method: back-propagating particle velocities through a sampler.

Particles a_j = f_phi(s, xi_j) move with velocities v_j (:func:`wrl.flows.particles.particle_velocity`);
the sampler follows them to first order by

    phi <- phi + lr * (1 / N) sum_j (d f_phi(s, xi_j) / d phi)^T v_j,

the gradient ascent direction of the surrogate below (amortised SVGD and its relatives).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def amortised_particle_loss(moved: jax.Array, velocity: jax.Array) -> jax.Array:
    """L(phi) = -(1/N) sum_j <stopgrad(v_j), f_phi(s, xi_j)>, with ``moved`` = f_phi(s, xi) (..., D) as a
    function of phi and ``velocity`` v (..., D) held constant: grad_phi L = -(1/N) sum_j (df/dphi)^T v_j,
    N the number of particles over all states. Its value carries no meaning, only its gradient."""
    return -jnp.mean(jnp.sum(jax.lax.stop_gradient(velocity) * moved, axis=-1))
