"""The one flow: the velocity field of the return at sampled actions, and its discretisation steps.

Every method in wrl follows the Wasserstein gradient flow of the return. In particle form an action
of the policy at state s moves as

    da/dt = v(s, a) = grad_a Q(s, a)        (+ sqrt(2 tau) dB_t for the entropy-regularised J + tau H),

i.e. the Wasserstein gradient of the return is the action gradient of the critic, and the entropy term
is a heat flow (Otto calculus: d/dt pi = -div_a(pi grad_a Q) + tau Laplacian_a pi). This module holds
that velocity field and its explicit steps, shared by WPO, WPPG, the exact grid flow and the particle
methods; each method then contributes only its *projection* back to a representable policy
(:mod:`wrl.projections`).

- :func:`action_value_gradients` and :func:`sample_actions`: Q and v = grad_a Q at actions, held constant;
- :class:`VelocityTransform`: velocity samples in, velocity samples out, composed by :func:`chain` (as
  Optax composes gradient transformations): the links :func:`executed_action` (the field of Q(s, clip(a)))
  and :func:`tanh_link` (of Q(s, tanh(u))), the :func:`box_pull` back into the action box, the
  :func:`squash` of large gradients and the second-order :func:`newton` velocity (lambda I + |H_a|)^-1 grad_a Q;
- :func:`transport_step`, :func:`heat_step`, :func:`langevin_step`: the Lie-Trotter split of one flow step
  (transport a -> a + eta v, then heat a -> a + sqrt(2 tau eta) xi).

Shapes: observations carry a leading batch axis B (any pytree); actions are (N, B, D) for N samples per
state; ``q_fn(obs, action) -> Q`` maps (B, ...) observations and (B, D) actions to (B,) values with no
coupling between rows. Critics are evaluated at the *unclipped* action, so grad_a Q is never silently zero
outside the action box (clipping is the acting code's job, never the critic's, unless the
:func:`executed_action` link asks for the field of the executed action).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from wrl.config import hp, validate
from wrl.distributions.base import sample
from wrl.errors import ConfigError

Array = jax.Array
PRNGKey = jax.Array
Obs = Any
QFn = Callable[[Obs, Array], Array]
PolicyFn = Callable[[Any, Obs], Any]
Reduction = Literal["first", "mean", "min"]
Squash = Literal["identity", "cbrt"]


class VelocitySamples(NamedTuple):
    """Actions and the critic at them, all held constant (stop-gradient).

    actions: (N, B, D) unclipped actions a_n at states s_b; q: (N, B) Q(s_b, a_n); dq_da: (N, B, D) the
    velocity v(s_b, a_n): grad_a Q as evaluated, or as a :class:`VelocityTransform` made it.
    """

    actions: Array
    q: Array
    dq_da: Array


def action_value_gradients(q_fn: QFn, obs: Obs, actions: Array) -> tuple[Array, Array]:
    """Q(s_b, a_nb) and v = grad_a Q(s_b, a_nb) for actions (N, B, D); both returned under stop-gradient.

    The critic is differentiated at the action exactly as given (no clipping to the action box), so the
    velocity field is the critic's, never an artefact of a clip.
    """
    q_many = jax.vmap(q_fn, in_axes=(None, 0))

    def total(a: Array) -> tuple[Array, Array]:
        q = q_many(obs, a)
        return jnp.sum(q), q

    dq_da, q = jax.grad(total, has_aux=True)(jax.lax.stop_gradient(actions))
    return jax.lax.stop_gradient(q), jax.lax.stop_gradient(dq_da)


def velocity_at(q_fn: QFn, obs: Obs, actions: Array) -> VelocitySamples:
    """:class:`VelocitySamples` at given actions (N, B, D): the actions, Q and grad_a Q, all constant."""
    actions = jax.lax.stop_gradient(actions)
    q, dq_da = action_value_gradients(q_fn, obs, actions)
    return VelocitySamples(actions=actions, q=q, dq_da=dq_da)


def sample_actions(key: PRNGKey, dist: Any, obs: Obs, q_fn: QFn, num_samples: int) -> VelocitySamples:
    """Draw N actions per state from ``dist`` (fresh key) and evaluate Q and grad_a Q there.

    The key must be new at every update (split it from the training key); a fixed sampling seed makes
    every update use the same noise, a known fault of the WPO reference implementation.
    """
    return velocity_at(q_fn, obs, sample(key, jax.lax.stop_gradient(dist), (num_samples,)))


class VelocityTransform(Protocol):
    """A transform of the velocity field at sampled actions: ``transform(samples, q_fn, obs) -> samples``.

    One signature for every transform (as every Optax gradient transformation has one): the velocity
    samples v(s_b, a_nb) at the actions in ``samples``, the critic ``q_fn`` they came from and the states
    ``obs``. Most transforms act on the samples alone; a :class:`Link` (:func:`executed_action`,
    :func:`tanh_link`) replaces the field by that of the value the environment actually earns, evaluating
    ``q_fn`` anew at the same actions, so it comes first in a :func:`chain`, and the transforms after it in
    the chain see the linked value. Actions never change; Q and grad_a Q stay constant (stop-gradient).
    """

    def __call__(self, samples: VelocitySamples, q_fn: QFn, obs: Obs) -> VelocitySamples: ...


def identity() -> VelocityTransform:
    """v -> v: the critic's own field grad_a Q(s, a) at the sampled actions."""

    def transform(samples: VelocitySamples, q_fn: QFn, obs: Obs) -> VelocitySamples:
        return samples

    return transform


def chain(*transforms: VelocityTransform) -> VelocityTransform:
    """The composition T_k o ... o T_1 of ``transforms`` (applied left to right), itself a transform.

    After a :class:`Link` the later transforms are given the linked value Q(s, g(u)) as their ``q_fn`` (a
    :func:`newton` step after :func:`tanh_link` takes the Hessian of Q(s, tanh(u)) in u, not of Q in a).
    """

    def transform(samples: VelocitySamples, q_fn: QFn, obs: Obs) -> VelocitySamples:
        for t in transforms:
            samples = t(samples, q_fn, obs)
            if isinstance(t, Link):
                q_fn = t.value(q_fn)
        return samples

    return transform


@dataclass(frozen=True)
class Link:
    """The field of a value composed with the map g from policy samples to executed actions:

        Q_g(s, u) = Q(s, g(u)),   v(s, u) = grad_u Q_g(s, u) = (dg/du)^T (grad_a Q)(s, g(u)).

    A :class:`VelocityTransform` that evaluates Q_g and its gradient anew at the same samples u; in a
    :func:`chain` the transforms after it see Q_g (:meth:`value`).
    """

    g: Callable[[Array], Array]

    def value(self, q_fn: QFn) -> QFn:
        """Q_g(s, u) = Q(s, g(u))."""
        return lambda o, u: q_fn(o, self.g(u))

    def __call__(self, samples: VelocitySamples, q_fn: QFn, obs: Obs) -> VelocitySamples:
        return velocity_at(self.value(q_fn), obs, samples.actions)


def executed_action(low: float = -1.0, high: float = 1.0) -> Link:
    """The field of the value of the action the environment executes: Q_exec(s, a) = Q(s, clip(a, low, high)).

    Its velocity field is grad_a Q_exec(s, a) = 1[low < a < high] * (grad_a Q)(s, clip(a)) elementwise: the
    critic's gradient at the executed action for coordinates inside the box, zero for coordinates outside,
    since moving such a coordinate further out (or back towards the edge) changes nothing the environment
    sees. This is the exact Wasserstein gradient of the return the policy earns, E_a Q(s, clip(a)); the raw
    critic gradient at an unclipped sample is instead an extrapolation from data the critic never saw.
    A :class:`Link` with g(a) = clip(a, low, high): Q and grad_a Q are those of Q_exec at the same (unclipped)
    actions, evaluated anew.
    """
    return Link(lambda a: jnp.clip(a, low, high))


def tanh_link() -> Link:
    """The field of the value of a latent sample under the tanh link: Q_tanh(s, u) = Q(s, tanh(u)).

    The policy draws u (unbounded) and the environment executes a = tanh(u), which always lies inside the
    open box (-1, 1)^D. The flow then runs on the measure of u, with the velocity field
    grad_u Q_tanh(s, u) = (1 - tanh(u)^2) * (grad_a Q)(s, tanh(u)) elementwise: the critic is differentiated
    only at actions inside the box (where its data is), and the field fades as a coordinate saturates instead
    of pointing outwards without end. A :class:`Link` with g = tanh: Q and grad_u Q are those of Q_tanh at the
    same latent samples, evaluated anew.
    """
    return Link(jnp.tanh)


def box_pull(weight: float, low: float = -1.0, high: float = 1.0) -> VelocityTransform:
    """v = grad_a Q - w * rms(grad_a Q) * (a - clip(a, low, high)): the velocity field of the penalised value

        Q(s, a) - (w rms / 2) * dist(a, [low, high]^D)^2,

    which equals grad_a Q inside the action box and pulls samples outside it back. The environment only
    ever executes clip(a), so outside the box the critic's gradient is an extrapolation from data on the
    boundary; left alone it can push the policy mean ever further out. ``rms`` is the root-mean-square of
    grad_a Q over the batch (held constant), so ``weight`` is scale-free: at distance 1/w outside the box
    the pull matches a typical critic gradient. ``weight = 0`` is the identity.
    """

    def transform(samples: VelocitySamples, q_fn: QFn, obs: Obs) -> VelocitySamples:
        if weight == 0:
            return samples
        dq_da, actions = samples.dq_da, samples.actions
        scale = jax.lax.stop_gradient(jnp.sqrt(jnp.mean(jnp.square(dq_da))))
        return samples._replace(dq_da=dq_da - weight * scale * (actions - jnp.clip(actions, low, high)))

    return transform


def squash(kind: Squash = "identity") -> VelocityTransform:
    """v = grad_a Q ("identity") or v = cbrt(grad_a Q) elementwise ("cbrt"), damping large critic gradients."""
    if kind not in ("identity", "cbrt"):
        raise ConfigError(f"unknown squash {kind!r}; use 'identity' or 'cbrt'")

    def transform(samples: VelocitySamples, q_fn: QFn, obs: Obs) -> VelocitySamples:
        return samples if kind == "identity" else samples._replace(dq_da=jnp.cbrt(samples.dq_da))

    return transform


def newton(damping: float) -> VelocityTransform:
    """The second-order velocity v = (lambda I + |H_a|)^-1 grad_a Q, H_a = grad_a^2 Q(s, a) per sample.

    The Otto-calculus Hessian of the return along the flow reduces, state by state, to the action-Hessian of Q, so
    preconditioning the first-order field by it is a Newton step in the Wasserstein geometry. |H_a| is H_a with its
    eigenvalues replaced by their absolute values (saddle-free Newton): where Q is concave, |H_a| = -H_a and
    v = (lambda I - H_a)^-1 grad_a Q, which on Q(a) = -(a - a*)^T H (a - a*) / 2 is (lambda I + H)^-1 H (a* - a) and
    lands on a* in one unit step as lambda -> 0; where Q curves upwards the step still ascends. ``damping``
    (lambda > 0) bounds the step where the curvature vanishes: v -> grad_a Q / lambda for a linear Q. The Hessian of
    ``q_fn`` at the unclipped actions is taken by forward-over-reverse autodiff (a D x D matrix per sample): the
    samples' ``dq_da`` must be the gradient of that same ``q_fn``, so in a :func:`chain` this transform comes right
    after the critic's field or a :class:`Link` (whose linked value it then differentiates), before a pull or a
    squash.
    """
    if not damping > 0:
        raise ConfigError(f"the Newton velocity needs a damping > 0 (got {damping})")

    def transform(samples: VelocitySamples, q_fn: QFn, obs: Obs) -> VelocitySamples:
        actions = jax.lax.stop_gradient(samples.actions)

        def hessian(o: Obs, a: Array) -> Array:  # one state's (D, D) action-Hessian of Q
            return jax.hessian(lambda x: q_fn(jax.tree.map(lambda y: y[None], o), x[None])[0])(a)

        h = jax.vmap(jax.vmap(hessian), in_axes=(None, 0))(obs, actions)  # (N, B, D, D)
        if h.shape[-1] == 1:  # one action dimension: |H| = |h|, no eigendecomposition (a LAPACK call per sample)
            return samples._replace(dq_da=jax.lax.stop_gradient(samples.dq_da / (damping + jnp.abs(h[..., 0]))))
        h = 0.5 * (h + jnp.swapaxes(h, -1, -2))
        eigvals, eigvecs = jnp.linalg.eigh(h)
        coords = jnp.einsum("...ji,...j->...i", eigvecs, samples.dq_da) / (damping + jnp.abs(eigvals))
        v = jnp.einsum("...ij,...j->...i", eigvecs, coords)
        return samples._replace(dq_da=jax.lax.stop_gradient(v))

    return transform


VELOCITIES = ("gradient", "newton")


@dataclass(frozen=True)
class VelocityConfig:
    """The order of the velocity an agent's action samples follow: the one declaration of ``--velocity`` and
    ``--newton-damping`` (the configs of WPO, WPPG and wgf-direct extend this class).

    ``gradient``: v = grad_a Q(s, a), the Wasserstein gradient of the return; ``newton``: the second-order
    v = (lambda I + |H_a|)^-1 grad_a Q of :func:`newton`, lambda = ``newton_damping``.
    """

    velocity: str = hp("gradient", "velocity at the sampled actions: the critic's gradient grad_a Q (gradient) or the "
                                   "second-order (lambda I + |H_a|)^-1 grad_a Q, H_a = grad_a^2 Q (newton)",
                       choices=VELOCITIES)
    newton_damping: float = hp(1.0, "newton velocity: lambda, which bounds the step where Q is flat "
                                    "(v -> grad_a Q / lambda)", gt=0)

    def __post_init__(self) -> None:
        validate(self, of=VelocityConfig)

    def second_order(self) -> VelocityTransform:
        """:func:`newton` at ``newton_damping`` for ``velocity = newton``, else :func:`identity`."""
        return newton(self.newton_damping) if self.velocity == "newton" else identity()


def transport_step(actions: Array, velocity: Array, eta: float | Array) -> Array:
    r"""The transport half of a flow step: a -> a + eta v(s, a) (explicit Euler on da/dt = v),

    $$a \leftarrow a + \eta\, v(s, a).$$

    With v = grad_a Q this is the optimal-transport move of the Wasserstein proximal step for a return
    that is locally linear in the action; use v = -grad_a Q for a cost.
    """
    return actions + eta * velocity


def heat_step(key: PRNGKey, actions: Array, tau: float | Array, eta: float | Array) -> Array:
    r"""The heat half of a flow step: a -> a + xi, xi ~ N(0, 2 tau eta I),

    $$a \leftarrow a + \xi, \qquad \xi \sim \mathcal{N}(0, 2 \tau \eta I).$$

    The exact solution of the heat equation d/dt pi = tau Laplacian pi over a time eta, i.e. convolution
    with the Gaussian kernel of covariance 2 tau eta I: the entropy term of J + tau H. ``tau = 0`` returns
    the actions unchanged.
    """
    if isinstance(tau, int | float) and tau == 0:
        return actions
    noise = jax.random.normal(key, actions.shape, actions.dtype)
    return actions + jnp.sqrt(2.0 * tau * eta) * noise


def langevin_step(key: PRNGKey, actions: Array, velocity: Array, eta: float | Array,
                  tau: float | Array) -> Array:
    r"""One Lie-Trotter split step of the entropy-regularised flow: heat(transport(a)),

    $$a \leftarrow a + \eta\, v(s, a) + \sqrt{2 \tau \eta}\, \xi, \qquad \xi \sim \mathcal{N}(0, I)$$

    (unadjusted Langevin dynamics on Q / tau). On a quadratic Q(a) = -(a - a*)^T H (a - a*) / 2 a Gaussian
    N(m, C) maps exactly to N(m + eta H (a* - m), (I - eta H) C (I - eta H)^T + 2 tau eta I).
    """
    return heat_step(key, transport_step(actions, velocity, eta), tau, eta)
