"""The second-order velocity v = (lambda I + |H_a|)^-1 grad_a Q: closed forms, finite differences, a link in the
chain, the exact LQR flow, and the agents that use it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wrl.errors import ConfigError
from wrl.exact.hessian import lqr_gauss_newton_step
from wrl.exact.lqr import default_system, differential_q, lqr_optimum, run_lqr_flow
from wrl.exact.precision import float64
from wrl.flows import velocity


def test_newton_velocity_lands_on_the_maximiser_of_a_concave_quadratic_in_one_step():
    """v = (lambda I - H_a)^-1 grad_a Q on Q(s, a) = -(a - a*(s))^T H (a - a*(s)) / 2: a + v = a*(s) as lambda -> 0,
    for every sample of every state, with a full (non-diagonal) H."""
    rng = np.random.default_rng(0)
    m = rng.normal(size=(3, 3))
    h = jnp.asarray(m @ m.T + 0.5 * np.eye(3), jnp.float32)  # SPD: Q is strictly concave
    q = lambda obs, a: -0.5 * jnp.einsum("bi,ij,bj->b", a - obs, h, a - obs)  # noqa: E731  a*(s) = s
    obs = jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)
    a = jnp.asarray(rng.normal(size=(5, 4, 3)) * 2, jnp.float32)  # (N, B, D)
    v = velocity.newton(1e-6)(velocity.velocity_at(q, obs, a), q, obs).dq_da
    np.testing.assert_allclose(a + v, jnp.broadcast_to(obs, a.shape), atol=1e-4)
    # the first-order field is not a step to the maximiser (H is not a multiple of I)
    assert not np.allclose(a + velocity.velocity_at(q, obs, a).dq_da, jnp.broadcast_to(obs, a.shape), atol=0.1)
    with pytest.raises(ConfigError):
        velocity.newton(0.0)


def test_newton_velocity_ascends_where_the_critic_curves_upwards():
    """Saddle-free: with an indefinite Hessian M, v = (lambda I + |M|)^-1 grad_a Q, |M| = U |diag(mu)| U^T, checked
    against NumPy's eigendecomposition (float64); v . grad_a Q > 0, so the step still ascends Q."""
    rng = np.random.default_rng(1)
    m = np.array([[2.0, 0.5, 0.0], [0.5, -1.0, 0.3], [0.0, 0.3, 0.5]])  # eigenvalues of both signs
    w = rng.normal(size=3)
    with jax.enable_x64(True):
        q = lambda obs, a: 0.5 * jnp.einsum("bi,ij,bj->b", a, jnp.asarray(m), a) + a @ jnp.asarray(w)  # noqa: E731
        a = jnp.asarray(rng.normal(size=(2, 4, 3)))
        samples = velocity.velocity_at(q, None, a)
        v = np.asarray(velocity.newton(0.3)(samples, q, None).dq_da)
    mu, u = np.linalg.eigh(m)
    precond = np.linalg.inv(0.3 * np.eye(3) + u @ np.diag(np.abs(mu)) @ u.T)
    grad = np.einsum("ij,nbj->nbi", m, np.asarray(a)) + w
    np.testing.assert_allclose(v, np.einsum("ij,nbj->nbi", precond, grad), rtol=1e-10)
    assert np.all(np.sum(v * grad, -1) > 0)


def _critic(obs, a):
    """A smooth critic that is not quadratic in the action: Q(s, a) = sum_k c_k tanh(w_k . a + u_k . s)."""
    rng = np.random.default_rng(7)
    w, u, c = rng.normal(size=(6, 3)), rng.normal(size=(6, 2)), rng.normal(size=6)
    return jnp.tanh(a @ jnp.asarray(w).T + obs @ jnp.asarray(u).T) @ jnp.asarray(c)


def _fd_newton(grad_fn, a, damping, eps=1e-5):
    """(lambda I + |H|)^-1 g per sample, H from central differences of the gradient (NumPy, float64)."""
    g = np.asarray(grad_fn(a))
    d = a.shape[-1]
    h = np.stack([(np.asarray(grad_fn(a + eps * e)) - np.asarray(grad_fn(a - eps * e))) / (2 * eps)
                  for e in np.eye(d)], axis=-1)  # (..., D, D): column j = d grad / d a_j
    h = 0.5 * (h + np.swapaxes(h, -1, -2))
    mu, u = np.linalg.eigh(h)
    precond = np.einsum("...ij,...j,...kj->...ik", u, 1.0 / (damping + np.abs(mu)), u)
    return np.einsum("...ij,...j->...i", precond, g)


def test_newton_velocity_in_one_action_dimension_is_the_gradient_over_damping_plus_the_curvature():
    """D = 1 (no eigendecomposition): v = Q'(a) / (lambda + |Q''(a)|), against the closed form of a cubic critic."""
    with jax.enable_x64(True):
        q = lambda obs, a: (a[:, 0] - obs[:, 0]) ** 3 - 2.0 * a[:, 0] ** 2  # noqa: E731
        obs = jnp.asarray([[0.3], [-1.0]])
        a = jnp.asarray(np.random.default_rng(5).normal(size=(3, 2, 1)))
        v = velocity.newton(0.5)(velocity.velocity_at(q, obs, a), q, obs).dq_da
        x, s = np.asarray(a)[..., 0], np.asarray(obs)[:, 0]
        grad, curv = 3 * (x - s) ** 2 - 4 * x, 6 * (x - s) - 4
        np.testing.assert_allclose(np.asarray(v)[..., 0], grad / (0.5 + np.abs(curv)), rtol=1e-12)


@pytest.mark.parametrize("link", [None, "tanh", "clip"])
def test_newton_velocity_matches_finite_differences_of_the_critic_gradient_also_after_a_link(link):
    """On a non-quadratic critic, newton's Hessian (forward-over-reverse) agrees with central differences of grad_a Q;
    after a link in a chain, with those of the linked value Q(s, g(u)) (grad_u Q(s, tanh(u)) has the Hessian of
    tanh in it: a Newton step on Q's own Hessian would differ)."""
    g = {None: lambda a: a, "tanh": jnp.tanh, "clip": lambda a: jnp.clip(a, -1.0, 1.0)}[link]
    rng = np.random.default_rng(3)
    with jax.enable_x64(True):
        obs = jnp.asarray(rng.normal(size=(5, 2)))
        a = jnp.asarray(rng.normal(size=(4, 5, 3)))  # some coordinates outside [-1, 1]
        first = {None: velocity.identity(), "tanh": velocity.tanh_link(), "clip": velocity.executed_action()}[link]
        v = velocity.chain(first, velocity.newton(0.2))(velocity.velocity_at(_critic, obs, a), _critic, obs).dq_da
        linked = lambda x: jax.vmap(jax.grad(lambda y, o: jnp.sum(_critic(o, g(y)))), (0, None))(x, obs)  # noqa: E731
        expected = _fd_newton(linked, np.asarray(a), 0.2)
        np.testing.assert_allclose(np.asarray(v), expected, rtol=1e-6, atol=1e-8)
        if link == "tanh":  # not the Newton step of the unlinked critic, applied to the linked field
            plain = velocity.newton(0.2)(velocity.tanh_link()(velocity.velocity_at(_critic, obs, a), _critic, obs),
                                         _critic, obs).dq_da
            assert not np.allclose(np.asarray(plain), expected, rtol=1e-3)


def test_newton_velocity_on_the_exact_lqr_flow_is_policy_iteration_and_reaches_riccati_in_fewer_steps():
    """The exact ergodic LQR problem (default system: 2-D state, 1-D action), cost c, linear policies a = -K s.

    Per state the Newton velocity of the return -Q at a = -K s, with lambda -> 0, is v = -G_K^-1 (G_K a + B^T P_K A s)
    (Hess_a Q = 2 G_K is constant), so a unit transport step a + v followed by the least-squares projection onto a
    linear policy is the Wasserstein Gauss-Newton step K <- G_K^-1 B^T P_K A of the exact solver (policy iteration):
    checked at every iterate. It reaches the Riccati gain K* to 1e-8 (relative) in 5 steps from K = 0; the
    first-order flow at its default step size (1 / (4 lambda_max(G_K0))) takes 151.
    """
    opt = lqr_optimum(default_system())
    rel = lambda k: np.linalg.norm(k - opt.K) / np.linalg.norm(opt.K)  # noqa: E731
    with float64():
        sys = default_system().astype(jnp.float64)
        states = jnp.asarray(np.random.default_rng(0).normal(size=(64, sys.n)))
        sigma = jnp.zeros((sys.m, sys.m))
        k, newton_steps = np.zeros((sys.m, sys.n)), 0
        while rel(k) > 1e-8:
            ret = lambda o, a, k=k: -differential_q(sys, k, sigma, o, a)  # noqa: E731  the return to ascend
            a = (-states @ k.T)[None]  # (N = 1, B, D)
            v = velocity.newton(1e-12)(velocity.velocity_at(ret, states, a), ret, states).dq_da
            k_next = -np.linalg.lstsq(states, np.asarray(a + v)[0], rcond=None)[0].T
            np.testing.assert_allclose(k_next, np.asarray(lqr_gauss_newton_step(sys, k)), rtol=1e-8, atol=1e-10)
            k, newton_steps = k_next, newton_steps + 1
            assert newton_steps <= 20
    first = run_lqr_flow(default_system(), n_steps=3000)
    errors = np.array([rel(x) for x in first.K])
    first_steps = int(np.argmax(errors <= 1e-8))
    assert errors[first_steps] <= 1e-8  # the first-order flow gets there too, eventually
    assert newton_steps == 5 and 140 <= first_steps <= 160, (newton_steps, first_steps)  # 5 and 151


@pytest.mark.parametrize("algo", ["wpo", "wppg", "wgf-direct"])
def test_agents_take_the_newton_velocity_and_keep_the_first_order_numbers_by_default(algo):
    """Every agent with a velocity takes --velocity newton (a finite update that differs from the first-order one)
    on a critic with action curvature (LayerNorm) and refuses it on a piecewise-linear one; --velocity gradient is
    the default."""
    from wrl.agents import make_agent
    from wrl.config import validate
    from wrl.replay import Batch
    from wrl.training.trainer import agent_config_from

    obs_dim, act_dim, b = 3, 2, 8
    rng = np.random.default_rng(0)
    batch = Batch(obs=jnp.asarray(rng.normal(size=(b, obs_dim)), jnp.float32),
                  action=jnp.asarray(rng.uniform(-1, 1, size=(b, act_dim)), jnp.float32),
                  reward=jnp.asarray(rng.normal(size=b), jnp.float32),
                  next_obs=jnp.asarray(rng.normal(size=(b, obs_dim)), jnp.float32),
                  discount=jnp.full((b,), 0.99, jnp.float32))
    key = jax.random.PRNGKey(0)
    assert agent_config_from(algo, {"velocity": "gradient"}) == agent_config_from(algo, {})  # the default
    states, metrics = {}, {}
    for name, extra in [("default", {}), ("newton", {"velocity": "newton"})]:
        cfg = agent_config_from(algo, {"actor_hidden": (16,), "critic_hidden": (16,), "critic": "layernorm", **extra})
        agent = make_agent(algo, cfg, obs_dim, act_dim)
        state = agent.init(key)
        for i in range(3):
            state, metrics[name] = jax.jit(agent.update)(state, batch, jax.random.fold_in(key, i))
        states[name] = jax.tree.leaves(state)
    assert all(np.all(np.isfinite(x)) for x in states["newton"])
    # Adam's first steps are nearly sign(g), so compare what the velocity feeds: the policy loss and its statistics
    differs = [k for k in metrics["default"] if k.startswith(("policy/", "losses/"))
               and not np.allclose(metrics["default"][k], metrics["newton"][k])]
    assert differs, metrics["newton"]
    with pytest.raises(ConfigError, match="--velocity"):
        validate(agent_config_from(algo, {"velocity": "third-order"}))
    # a ReLU critic is piecewise linear in a: its Newton step would be grad_a Q / lambda, so it is refused
    for critic, loss in [("mlp", "mse"), ("crossq", "mse"), ("mlp", "quantile")]:
        with pytest.raises(ConfigError, match="curves in the action"):
            make_agent(algo, agent_config_from(algo, {"velocity": "newton", "critic": critic, "critic_loss": loss}),
                       obs_dim, act_dim)
    make_agent(algo, agent_config_from(algo, {"velocity": "newton", "critic": "mlp", "critic_loss": "hl_gauss"}),
               obs_dim, act_dim)
