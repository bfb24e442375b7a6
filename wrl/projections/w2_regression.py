"""The W2 regression projection of WPPG (Wasserstein Proximal Policy Gradient, arXiv 2603.02576).

Per state, WPPG takes the Wasserstein proximal (JKO) step of the entropy-regularised return

    pi_{k+1}(.|s) = argmax_pi  <Q^{pi_k}(s, .), pi> + tau H(pi) - W2^2(pi, pi_k(.|s)) / (2 eta),

split (Lie-Trotter) into the transport a -> a + eta grad_a Q(s, a) and the heat step a -> a + xi,
xi ~ N(0, 2 tau eta I) (:func:`wrl.flows.velocity.langevin_step`). The moved samples are then projected
onto an implicit policy a = g_theta(s, z) by least squares with the same noise z, which is a W2 projection
(the pairing z -> (g_theta(s, z), target) is a transport plan, so the loss bounds W2^2 from above). No
log-density appears anywhere, so any sampler g_theta works.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from wrl.flows.velocity import VelocitySamples, langevin_step

Array = jax.Array
PRNGKey = jax.Array


def proximal_targets(key: PRNGKey, samples: VelocitySamples, eta: float, tau: float) -> Array:
    """Targets of the WPPG projection: one split proximal step of each sample, held constant.

        b_k = a0_k + eta v(s, a0_k) + xi_k,   xi_k ~ N(0, 2 tau eta I),   a0_k = g_theta_k(s, z_k),

    with v the velocity in ``samples.dq_da`` (grad_a min(Q1, Q2) for WPPG). Shapes (K, B, D).
    """
    return jax.lax.stop_gradient(langevin_step(key, samples.actions, samples.dq_da, eta, tau))


def w2_projection_loss(actions: Array, targets: Array) -> Array:
    """The WPPG projection loss, mean over the K noise draws and B states of the squared distance:

        L(theta) = (1 / (K B)) sum_{k, b} || g_theta(s_b, z_kb) - stopgrad(b_kb) ||^2,

    ``actions`` (K, B, D) = g_theta(s, z) for the same z that produced the targets (depends on theta);
    ``targets`` (K, B, D) from :func:`proximal_targets`. At the sampling point (theta = theta_k) its
    gradient is -2 (da/dtheta)^T (eta v + xi) / (K B): a K-sample deterministic-policy-gradient step.
    """
    return jnp.mean(jnp.sum(jnp.square(actions - jax.lax.stop_gradient(targets)), axis=-1))
