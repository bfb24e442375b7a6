"""WPO core: the surrogate's gradient, the Gaussian Fisher adaptor, decoupled KL, preconditioners, the toy."""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.stats import norm

from wrl.distributions import DiagGaussian, GaussianMixture, diag_gaussian, mixture
from wrl.errors import ConfigError, RunDirError
from wrl.flows import velocity
from wrl.projections import fisher, kl
from wrl.projections import preconditioners as precond

B, O, D = 3, 4, 2
A_MAT = jnp.array([[0.8, 0.3], [-0.1, 0.5]])  # Q(s, a) = -(a - c(s))^T A (a - c(s)) + b^T a
B_VEC = jnp.array([0.4, -0.7])
C_MAT = jnp.array([[0.5, -0.2], [0.1, 0.3], [-0.4, 0.2], [0.2, 0.1]])  # c(s) = s @ C


def q_fn(obs, a):
    diff = a - obs @ C_MAT
    return -jnp.einsum("bi,ij,bj->b", diff, A_MAT, diff) + a @ B_VEC


def grad_q(obs, a):
    """Hand-written grad_a Q for actions (..., B, D)."""
    return -(a - obs @ C_MAT) @ (A_MAT + A_MAT.T) + B_VEC


def expected_return_grads(dist, obs):
    """Closed form dJ/dmu, dJ/dsigma of J = E_{a~N(mu, sigma^2)} Q(s, a), per state."""
    d_mu = -(dist.mean - obs @ C_MAT) @ (A_MAT + A_MAT.T) + B_VEC
    d_sigma = -2.0 * jnp.diag(A_MAT) * dist.std
    return d_mu, d_sigma


def policy_fn(params, obs):
    h = obs @ params["W"] + params["b"]
    return diag_gaussian(h[:, :D], h[:, D:], init_std=0.8, min_std=1e-3)


@pytest.fixture(scope="module")
def setup():
    k1, k2 = jax.random.split(jax.random.key(0))
    params = {"W": 0.3 * jax.random.normal(k1, (O, 2 * D)), "b": jnp.array([0.2, -0.1, 0.3, -0.4])}
    obs = jax.random.normal(k2, (B, O))
    return params, obs


def _pullback(params, obs, cot_mu, cot_sigma):
    """theta-gradient of sum_b (cot_mu . mu_b + cot_sigma . sigma_b) through policy_fn (chain rule)."""
    _, vjp = jax.vjp(lambda p: tuple(policy_fn(p, obs)), params)
    return vjp((cot_mu, cot_sigma))[0]


def _flat(tree):
    return np.concatenate([np.ravel(x) for x in jax.tree.leaves(tree)])


def sampled_loss(params, key, obs, *, num_samples, policy_fn=policy_fn, q_fn=q_fn,
                 adaptor=fisher.natural_gradient_adaptor):
    """The one WPO policy loss at N fresh samples from policy_fn(params, obs) and the critic's velocity there."""
    dist = policy_fn(params, obs)
    return fisher.wpo_policy_loss(dist, velocity.sample_actions(key, dist, obs, q_fn, num_samples), adaptor=adaptor)


# ------------------------------------------------------------------------------------------------
# The Gaussian adaptor
# ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_adaptor_gradient_is_chain_rule_of_d_mu_d_sigma(setup):
    params, obs = setup
    n = 64
    key = jax.random.key(11)
    loss_fn = functools.partial(sampled_loss, key=key, obs=obs, num_samples=n)
    grads = jax.jit(jax.grad(lambda p: loss_fn(p)[0]))(params)

    @jax.jit
    def independent(params):
        # the same samples: a = mu + sigma * eps with eps from the same key
        dist = policy_fn(params, obs)
        eps = jax.random.normal(key, (n, B, D))
        a = dist.mean + dist.std * eps
        dq = grad_q(obs, a)
        d_mu = jnp.mean(dq, axis=0)  # E[grad_a Q]
        d_sigma = jnp.mean((a - dist.mean) / dist.std * dq, axis=0)  # E[((a - mu)/sigma) grad_a Q]
        return _pullback(params, obs, -d_mu / B, -d_sigma / B)  # loss = -(mean over states) of the update

    np.testing.assert_allclose(_flat(grads), _flat(independent(params)), rtol=2e-4, atol=2e-5)

    # forward values are unchanged by the adaptor
    values = jax.jit(lambda p: (loss_fn(p)[0], loss_fn(p, adaptor=None)[0]))(params)
    assert float(values[0]) == pytest.approx(float(values[1]), rel=1e-6)


def test_adaptor_keeps_values_and_rescales_gradients():
    dist = DiagGaussian(mean=jnp.array([0.3, -1.0]), std=jnp.array([0.5, 2.0]))
    adapted = fisher.natural_gradient_adaptor(dist)
    np.testing.assert_array_equal(adapted.mean, dist.mean)
    np.testing.assert_array_equal(adapted.std, dist.std)
    g_mu = jax.grad(lambda m: jnp.sum(fisher.natural_gradient_adaptor(DiagGaussian(m, dist.std)).mean))(dist.mean)
    g_sd = jax.grad(lambda s: jnp.sum(fisher.natural_gradient_adaptor(DiagGaussian(dist.mean, s)).std))(dist.std)
    np.testing.assert_allclose(g_mu, dist.std**2, rtol=1e-6)
    np.testing.assert_allclose(g_sd, dist.std**2 / 2, rtol=1e-6)


# ------------------------------------------------------------------------------------------------
# Expectation: WPO vs the score-function policy gradient on a quadratic Q
# ------------------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnums=3)
def _per_sample_wpo_grads(params, obs, samples, adaptor):
    """theta-gradient of the WPO surrogate for each sample index n separately, leaves (N, ...)."""

    def one(actions, dq_da):
        s = velocity.VelocitySamples(actions[None], jnp.zeros((1, B)), dq_da[None])

        def loss(p):
            return fisher.wpo_policy_loss(policy_fn(p, obs), s, adaptor=fisher.natural_gradient_adaptor if adaptor
                                          else None)[0]

        return jax.grad(loss)(params)

    return jax.vmap(one)(samples.actions, samples.dq_da)


@functools.partial(jax.jit, static_argnums=3)
def _per_sample_score_function_grads(params, obs, a, fisher_weighted):
    """-(1/B) sum_b J^T c_nb with c = grad_phi log pi(a) Q(a) (phi = (mu, sigma)), optionally F_phi-weighted."""
    dist = policy_fn(params, obs)
    mu, sd = dist.mean, dist.std
    q = q_fn_many(obs, a)[..., None]  # (N, B, 1)

    def one(a_n, q_n):
        c_mu = jax.grad(lambda m: jnp.sum(norm.logpdf(a_n, m, sd)))(mu) * q_n
        c_sd = jax.grad(lambda s: jnp.sum(norm.logpdf(a_n, mu, s)))(sd) * q_n
        if fisher_weighted:  # F_phi = diag(1/sigma^2, 2/sigma^2)
            c_mu, c_sd = c_mu / sd**2, 2.0 * c_sd / sd**2
        return _pullback(params, obs, -c_mu / B, -c_sd / B)

    return jax.vmap(one)(a, q)


def q_fn_many(obs, a):
    return jax.vmap(q_fn, in_axes=(None, 0))(obs, a)


def _mean_se(per_sample):
    flat = np.concatenate([np.asarray(v).reshape(v.shape[0], -1) for v in jax.tree.leaves(per_sample)], axis=1)
    return flat.mean(0), flat.std(0, ddof=1) / np.sqrt(flat.shape[0])


@pytest.mark.slow
@pytest.mark.parametrize("adaptor", [True, False])
def test_wpo_matches_score_function_gradient_in_expectation(setup, adaptor):
    """With the adaptor E[grad L_wpo] = -grad_theta J (the policy gradient); without it the same quantity
    pulled back through the Fisher of (mu, sigma): -J^T F_phi grad_phi J. Both sides are Monte-Carlo
    estimates from independent samples; they agree within 5 standard errors, and each agrees with the
    closed form of the quadratic Q."""
    params, obs = setup
    n = 20_000
    dist = policy_fn(params, obs)
    samples = jax.jit(velocity.sample_actions, static_argnums=(3, 4))(jax.random.key(21), dist, obs, q_fn, n)
    w_mean, w_se = _mean_se(_per_sample_wpo_grads(params, obs, samples, adaptor))

    a_pg = dist.mean + dist.std * jax.random.normal(jax.random.key(22), (n, B, D))  # independent samples
    p_mean, p_se = _mean_se(_per_sample_score_function_grads(params, obs, a_pg, fisher_weighted=not adaptor))

    d_mu, d_sigma = expected_return_grads(dist, obs)
    if not adaptor:
        d_mu, d_sigma = d_mu / dist.std**2, 2.0 * d_sigma / dist.std**2
    exact = _flat(_pullback(params, obs, -d_mu / B, -d_sigma / B))

    assert np.all(np.abs(w_mean - p_mean) <= 5 * np.sqrt(w_se**2 + p_se**2)), (w_mean, p_mean)
    assert np.all(np.abs(w_mean - exact) <= 5 * w_se + 1e-5)
    assert np.all(np.abs(p_mean - exact) <= 5 * p_se + 1e-5)
    # the full library loss on the same samples is the mean of the per-sample gradients
    full = jax.jit(
        jax.grad(
            lambda p: fisher.wpo_policy_loss(
                policy_fn(p, obs), samples, adaptor=fisher.natural_gradient_adaptor if adaptor else None
            )[0]
        )
    )(params)
    np.testing.assert_allclose(_flat(full), w_mean, rtol=1e-3, atol=1e-4)
    # WPO has far lower variance than the score function on this problem
    assert np.median(w_se / p_se) < 0.5


# ------------------------------------------------------------------------------------------------
# Decoupled KL and its duals
# ------------------------------------------------------------------------------------------------


def _pair():
    online = DiagGaussian(mean=jnp.array([[0.3, -0.2], [1.0, 0.0]]), std=jnp.array([[0.5, 1.2], [0.8, 0.3]]))
    target = DiagGaussian(mean=jnp.array([[0.1, 0.1], [0.7, 0.2]]), std=jnp.array([[0.6, 1.0], [0.5, 0.4]]))
    return online, target


def test_decoupled_kl_closed_forms_and_direction():
    online, target = _pair()
    kl_m, kl_s = kl.decoupled_kl(online, target)
    mu, sd, mu_t, sd_t = online.mean, online.std, target.mean, target.std
    np.testing.assert_allclose(kl_m, (mu - mu_t) ** 2 / (2 * sd_t**2), rtol=1e-6)
    # KL(N(mu_t, sd_t) || N(mu_t, sd)): target first
    np.testing.assert_allclose(kl_s, jnp.log(sd / sd_t) + sd_t**2 / (2 * sd**2) - 0.5, rtol=1e-5, atol=1e-7)
    # each term sees one online parameter group only; the target receives no gradient
    g = jax.grad(lambda o, t: jnp.sum(kl.decoupled_kl(o, t)[0]), argnums=(0, 1))(online, target)
    assert np.all(np.asarray(g[0].std) == 0) and np.any(np.asarray(g[0].mean) != 0)
    assert np.all(np.asarray(g[1].mean) == 0) and np.all(np.asarray(g[1].std) == 0)
    g = jax.grad(lambda o: jnp.sum(kl.decoupled_kl(o, target)[1]))(online)
    assert np.all(np.asarray(g.mean) == 0) and np.any(np.asarray(g.std) != 0)


def test_decoupled_kl_matches_sample_estimate():
    online, target = _pair()
    kl_m, kl_s = kl.decoupled_kl(online, target)
    n = 400_000
    a = target.mean + target.std * jax.random.normal(jax.random.key(3), (n, *target.mean.shape))
    log_t = norm.logpdf(a, target.mean, target.std)
    for kl_d, q in ((kl_m, norm.logpdf(a, online.mean, target.std)), (kl_s, norm.logpdf(a, target.mean, online.std))):
        r = np.asarray(log_t - q, np.float64)
        est, se = r.mean(0), r.std(0) / np.sqrt(n)
        assert np.all(np.abs(est - np.asarray(kl_d)) <= 5 * se + 1e-6), (est, kl_d, se)


def test_kl_penalty_and_dual_ascent_direction():
    online, target = _pair()
    kl_m, kl_s = kl.decoupled_kl(online, target)
    mean_m, mean_s = np.asarray(kl_m).mean(0), np.asarray(kl_s).mean(0)

    soft = kl.KLConfig(kl_mode="soft", kl_alpha_mean=2.0, kl_alpha_std=3.0)
    duals = kl.init_kl_duals(soft, action_dim=D)
    np.testing.assert_allclose(kl.kl_weights(duals)[0], 2.0, rtol=1e-5)
    penalty, dual_loss, aux = kl.decoupled_kl_loss(online, target, duals, soft)
    assert float(penalty) == pytest.approx(2.0 * mean_m.sum() + 3.0 * mean_s.sum(), rel=1e-5)
    assert float(dual_loss) == 0.0
    opt = kl.dual_optimizer(soft).init(duals)
    kept, kept_opt = kl.dual_ascent_update(duals, opt, aux.kl_mean, aux.kl_std, soft)
    assert kept is duals and kept_opt is opt

    # hard mode: epsilons between the two dimensions' KLs -> one weight rises, the other falls
    eps_m = float(np.mean(mean_m))
    eps_s = float(np.mean(mean_s))
    assert (mean_m[0] - eps_m) * (mean_m[1] - eps_m) < 0 and (mean_s[0] - eps_s) * (mean_s[1] - eps_s) < 0
    hard = kl.KLConfig(kl_mode="hard", kl_alpha_mean=1.0, kl_alpha_std=1.0, kl_epsilon_mean=eps_m,
                       kl_epsilon_std=eps_s)
    duals = kl.init_kl_duals(hard, action_dim=D)
    _, dual_loss, aux = kl.decoupled_kl_loss(online, target, duals, hard)
    step = jax.jit(kl.dual_ascent_update, static_argnums=4)
    new, _ = step(duals, kl.dual_optimizer(hard).init(duals), aux.kl_mean, aux.kl_std, hard)
    old_w, new_w = kl.kl_weights(duals), kl.kl_weights(new)
    for old, upd, kl_d, eps in ((old_w[0], new_w[0], mean_m, eps_m), (old_w[1], new_w[1], mean_s, eps_s)):
        np.testing.assert_array_equal(np.asarray(upd) > np.asarray(old), kl_d > eps)
    # the dual loss's gradient agrees with the update direction and never reaches the policy
    g_online = jax.grad(lambda o: kl.decoupled_kl_loss(o, target, duals, hard)[1])(online)
    assert np.all(np.asarray(g_online.mean) == 0) and np.all(np.asarray(g_online.std) == 0)

    # a multiplier driven down keeps its floor
    floor = kl.KLDuals(jnp.full((D,), kl.MIN_RAW_ALPHA), jnp.full((D,), kl.MIN_RAW_ALPHA))
    tiny = kl.KLConfig(kl_mode="hard", kl_epsilon_mean=10.0, kl_epsilon_std=10.0, dual_lr=100.0)
    out, _ = kl.dual_ascent_update(floor, kl.dual_optimizer(tiny).init(floor), aux.kl_mean, aux.kl_std, tiny)
    assert np.all(np.asarray(out.raw_alpha_mean) >= kl.MIN_RAW_ALPHA)

    # one multiplier on the KL summed over dimensions
    joint = kl.KLConfig(kl_mode="hard")
    duals = kl.init_kl_duals(joint, action_dim=D, per_dim=False)
    assert duals.raw_alpha_mean.shape == ()
    _, _, aux = kl.decoupled_kl_loss(online, target, duals, joint)
    assert float(aux.kl_mean) == pytest.approx(float(mean_m.sum()), rel=1e-5)


def test_kl_config_validation():
    with pytest.raises(ConfigError):
        kl.KLConfig(kl_mode="medium")
    with pytest.raises(ConfigError):
        kl.KLConfig(kl_epsilon_mean=0.0)


def test_the_wpo_config_is_its_kl_config_declared_once():
    """WPO's KL options are KLConfig's own fields (names, defaults, help, bounds), not a copy of them."""
    import dataclasses

    from wrl.agents.wpo import WPOConfig

    own = {f.name: f for f in dataclasses.fields(kl.KLConfig)}
    assert set(own) == {"kl_mode", "kl_alpha_mean", "kl_alpha_std", "kl_epsilon_mean", "kl_epsilon_std", "dual_lr"}
    wpo = {f.name: f for f in dataclasses.fields(WPOConfig)}
    assert all(wpo[name] is field for name, field in own.items())
    cfg = WPOConfig(kl_mode="hard", dual_lr=0.5)
    assert isinstance(cfg, kl.KLConfig) and kl.dual_optimizer(cfg) is not None
    with pytest.raises(ConfigError, match="--kl-mode"):
        WPOConfig(kl_mode="medium")


# ------------------------------------------------------------------------------------------------
# General distributions: exact mixed derivatives and preconditioners
# ------------------------------------------------------------------------------------------------


def _mixture_policy(params, obs):
    return GaussianMixture(
        logits=params["logits"] + obs @ params["W_logits"],
        means=params["means"] + obs[:, None, :] * params["shift"],
        stds=jnp.broadcast_to(jnp.exp(params["log_stds"]), (obs.shape[0], *params["log_stds"].shape)),
    )


def test_mixture_mixed_derivative_matches_finite_differences():
    """grad_theta E[grad_a log pi . g] from autodiff equals central differences of a hand-written
    closed form of grad_a log pi for a Gaussian mixture (float64)."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        k, dim, b, n = 3, 2, 2, 5
        params = {
            "logits": jnp.asarray(rng.normal(size=k)),
            "W_logits": jnp.asarray(0.3 * rng.normal(size=(dim, k))),
            "means": jnp.asarray(rng.normal(size=(k, dim))),
            "shift": jnp.asarray(0.5 * rng.normal(size=(k, dim))),
            "log_stds": jnp.asarray(0.3 * rng.normal(size=(k, dim))),
        }
        obs = jnp.asarray(rng.normal(size=(b, dim)))
        actions = jnp.asarray(rng.normal(size=(n, b, dim)))
        g = jnp.asarray(rng.normal(size=(n, b, dim)))
        samples = velocity.VelocitySamples(actions, jnp.zeros((n, b)), g)
        autodiff = -_flat(jax.jit(jax.grad(lambda p: fisher.wpo_surrogate(_mixture_policy(p, obs), samples)))(params))

        def closed_form(flat_params):
            p = unravel(flat_params)
            logits = p["logits"] + obs @ p["W_logits"]  # (b, k)
            means = p["means"] + obs[:, None, :] * p["shift"]  # (b, k, dim)
            stds = jnp.exp(p["log_stds"])  # (k, dim)
            a = actions[:, :, None, :]  # (n, b, 1, dim)
            log_w = logits - jnp.log(jnp.sum(jnp.exp(logits), -1, keepdims=True))
            log_comp = jnp.sum(-0.5 * ((a - means) / stds) ** 2 - jnp.log(stds) - 0.5 * np.log(2 * np.pi), -1)
            r = jnp.exp(log_w + log_comp)
            r = r / jnp.sum(r, -1, keepdims=True)  # responsibilities (n, b, k)
            grad_a = jnp.sum(r[..., None] * (-(a - means) / stds**2), axis=-2)  # (n, b, dim)
            return jnp.mean(jnp.sum(grad_a * g, -1))

        from jax.flatten_util import ravel_pytree

        flat, unravel = ravel_pytree(params)
        h = 1e-6
        steps = h * jnp.eye(flat.size)
        f = jax.jit(jax.vmap(closed_form))
        fd = np.asarray((f(flat + steps) - f(flat - steps)) / (2 * h))
        # ravel_pytree and jax.tree.leaves share the (sorted-key) order
        np.testing.assert_allclose(autodiff, fd, rtol=1e-6, atol=1e-8)


def _random_scores(n, b, shapes, seed):
    rng = np.random.default_rng(seed)
    return {name: jnp.asarray(rng.normal(size=(n, b, *s))) for name, s in shapes.items()}


@pytest.mark.parametrize("shapes", [{"x": (2,), "y": (3,)}, {"x": (4, 3), "y": (8,)}], ids=["M>=P", "M<P"])
def test_empirical_fisher_solve_matches_dense_solve(shapes):
    with jax.enable_x64(True):
        n, b, lam = 4, 2, 0.05
        scores = _random_scores(n, b, shapes, seed=1)
        direction = {k: v[0, 0] * 0.7 + 0.1 for k, v in _random_scores(1, 1, shapes, seed=2).items()}
        s = np.concatenate([np.asarray(scores[k]).reshape(n * b, -1) for k in sorted(scores)], axis=1)
        fisher_m = s.T @ s / (n * b) + lam * np.eye(s.shape[1])
        expected = np.linalg.solve(fisher_m, _flat(direction))
        got = _flat(precond.empirical_fisher_solve(direction, scores, damping=lam))
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
        # state weights: a zero-mask state drops out of the Fisher
        mask = jnp.array([1.0, 0.0])
        s1 = np.concatenate([np.asarray(scores[k])[:, 0].reshape(n, -1) for k in sorted(scores)], axis=1)
        expected = np.linalg.solve(s1.T @ s1 / n + lam * np.eye(s1.shape[1]), _flat(direction))
        got = _flat(precond.empirical_fisher_solve(direction, scores, damping=lam, mask=mask))
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_group_fisher_rescale():
    n, b, lam = 5, 3, 1e-2
    shapes = {"x": (2, 3), "y": (4,)}
    scores = _random_scores(n, b, shapes, seed=3)
    direction = {k: jnp.ones(s) for k, s in shapes.items()}
    out = precond.group_fisher_rescale(direction, scores, damping=lam)
    diag = precond.group_fisher_rescale(direction, scores, damping=lam, per_element=True)
    for k in shapes:
        f = np.mean(np.asarray(scores[k]) ** 2, axis=(0, 1))
        np.testing.assert_allclose(out[k], 1.0 / (f.mean() + lam), rtol=1e-5)
        np.testing.assert_allclose(diag[k], 1.0 / (f + lam), rtol=1e-5)


@pytest.mark.slow
def test_general_path_with_fisher_recovers_gaussian_adaptor():
    """For a Gaussian parameterised directly by (mu, sigma) the empirical-Fisher WPO direction tends to
    the adaptor's (d_mu, d_sigma) (the exact Fisher is diag(1/sigma^2, 2/sigma^2))."""
    params = {"mu": jnp.array([0.5, -1.0]), "sigma": jnp.array([0.7, 1.5])}
    obs = jnp.zeros((1, O))

    def direct(p, o):
        return DiagGaussian(jnp.broadcast_to(p["mu"], (o.shape[0], D)), jnp.broadcast_to(p["sigma"], (o.shape[0], D)))

    key = jax.random.key(5)
    n = 200_000

    @functools.partial(jax.jit, static_argnames=("pre", "n"))
    def natural(p, pre, n):
        samples = velocity.sample_actions(key, direct(p, obs), obs, q_fn, n)
        direction = precond.natural_wpo_direction(p, obs, samples, policy_fn=direct, preconditioner=pre,
                                                  damping=1e-6)
        return direction, samples

    nat, samples = natural(params, "fisher", n)
    adapted = jax.jit(
        jax.grad(lambda p: sampled_loss(p, key, obs, num_samples=n, policy_fn=direct)[0])
    )(params)
    d_mu = jnp.mean(samples.dq_da, axis=0)[0]
    d_sigma = jnp.mean((samples.actions - params["mu"]) / params["sigma"] * samples.dq_da, axis=0)[0]
    np.testing.assert_allclose(-adapted["mu"], d_mu, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(-adapted["sigma"], d_sigma, rtol=1e-4, atol=1e-5)
    # the empirical Fisher's own sampling error (cross terms E[s_mu s_sigma] ~ 3/(sigma^2 sqrt(n)), times
    # sigma^2 |d_sigma| ~ 1.5) gives a standard error of about 0.008 here: allow 5 of them
    np.testing.assert_allclose(nat["mu"], d_mu, rtol=0.0, atol=0.04)
    np.testing.assert_allclose(nat["sigma"], d_sigma, rtol=0.0, atol=0.04)
    # the other preconditioners run and give ascent directions (positive inner product)
    others = jax.jit(lambda p: [natural(p, pre, 1000)[0] for pre in ("none", "group", "diagonal")])(params)
    for d in others:
        assert float(_flat(d) @ np.concatenate([d_mu, d_sigma])) > 0


# ------------------------------------------------------------------------------------------------
# Keys, jit, squashing, action box, errors
# ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_jit_fresh_keys_and_cube_root(setup):
    params, obs = setup
    loss = jax.jit(functools.partial(sampled_loss, num_samples=8))
    l1, aux = loss(params, jax.random.key(1), obs)
    l2, _ = loss(params, jax.random.key(2), obs)
    l1b, _ = loss(params, jax.random.key(1), obs)
    assert float(l1) != float(l2) and float(l1) == float(l1b)
    assert aux.q_mean.shape == () and aux.kl is None and float(aux.kl_penalty) == 0.0
    # cube root: the squash transform feeds cbrt(grad_a Q) to the surrogate, the actions and Q untouched
    @jax.jit
    def both(params):
        dist = policy_fn(params, obs)
        s = velocity.sample_actions(jax.random.key(3), dist, obs, q_fn, 8)
        cubed = velocity.VelocitySamples(s.actions, s.q, jnp.cbrt(s.dq_da))
        squashed = velocity.squash("cbrt")(s, q_fn, obs)
        return squashed, cubed, fisher.wpo_surrogate(dist, squashed), fisher.wpo_surrogate(dist, cubed)

    squashed, cubed, l_squashed, l_cubed = both(params)
    jax.tree.map(np.testing.assert_array_equal, squashed, cubed)
    np.testing.assert_allclose(l_squashed, l_cubed, rtol=1e-6)
    with pytest.raises(ConfigError):
        velocity.squash("tanh")


def test_critic_sees_unclipped_actions():
    """Samples far outside a [-1, 1] box reach the critic as drawn, with a non-zero grad_a Q."""
    dist = DiagGaussian(mean=jnp.full((2, 1), 5.0), std=jnp.full((2, 1), 0.1))
    q_fn = lambda o, a: -jnp.sum((a - 2.0) ** 2, -1)  # noqa: E731
    s = velocity.sample_actions(jax.random.key(0), dist, jnp.zeros((2, 1)), q_fn, 16)
    assert np.all(np.asarray(s.actions) > 4.0)
    np.testing.assert_allclose(s.dq_da, -2.0 * (s.actions - 2.0), rtol=1e-6)


def test_adaptor_requires_a_gaussian():
    params = {"logits": jnp.zeros(2), "W_logits": jnp.zeros((O, 2)), "means": jnp.zeros((2, 1)),
              "shift": jnp.zeros((2, 1)), "log_stds": jnp.zeros((2, 1))}
    with pytest.raises(ConfigError, match="adaptor"):
        sampled_loss(params, jax.random.key(0), jnp.zeros((1, O)), num_samples=4, policy_fn=_mixture_policy,
                     q_fn=lambda o, a: -jnp.sum(a**2, -1))


# ------------------------------------------------------------------------------------------------
# The toy: `wrl flow mixture`
# ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_flow_mixture_reaches_both_optima(tmp_path, capsys):
    from wrl.lab.flows import mixture

    out = tmp_path / "flow"
    assert mixture.run(mixture.Options(out=str(out), iterations=150, samples=256)) == 0
    printed = capsys.readouterr().out
    assert "wpo" in printed and "npg" in printed and "pg" in printed
    summary = json.loads((out / "summary.json").read_text())["final"]
    means = summary["wpo"]["means"]
    assert means[0] == pytest.approx(-np.sqrt(50.0), abs=0.1)
    assert means[1] == pytest.approx(np.sqrt(50.0), abs=0.1)
    assert min(summary["wpo"]["weights"]) > 0.2  # mass is transported, not reweighted away
    assert summary["wpo"]["expected_q"] > 24.9
    assert (out / "mixture.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a non-empty output directory is refused without --overwrite
    with pytest.raises(RunDirError, match="--overwrite"):
        mixture.run(mixture.Options(out=str(out), iterations=1))


# ------------------------------------------------------------------------------------------------
# Any family: the Monte Carlo output-Fisher adaptor and the mixture's decoupled KL
# ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_output_fisher_adaptor_recovers_gaussian_closed_form():
    """On a diagonal Gaussian the MC Fisher of (mu, sigma) tends to diag(1/sigma^2, 2/sigma^2)."""
    dist = DiagGaussian(mean=jnp.array([[0.3, -1.0], [0.0, 2.0]]), std=jnp.array([[0.5, 2.0], [1.0, 0.2]]))
    m = 40_000
    adapted = fisher.output_fisher_adaptor(dist, jax.random.key(0), num_samples=m, damping=1e-9)
    np.testing.assert_allclose(adapted.mean, dist.mean, rtol=1e-6)
    np.testing.assert_allclose(adapted.std, dist.std, rtol=1e-6)
    cot = DiagGaussian(mean=jnp.array([[1.0, -2.0], [0.5, 1.0]]), std=jnp.array([[0.3, 1.0], [-1.0, 2.0]]))

    def pulled(adaptor):
        _, vjp = jax.vjp(adaptor, dist)
        return vjp(cot)[0]

    mc = pulled(lambda d: fisher.output_fisher_adaptor(d, jax.random.key(0), num_samples=m, damping=1e-9))
    exact = pulled(fisher.natural_gradient_adaptor)
    # MC error: a diagonal Fisher entry is off by ~ sqrt(2/m) relative (0.7%); the (mu, sigma) cross entry,
    # E[z^3 - z] / sigma^2 with sd(z^3 - z) = sqrt(14), leaks ~ sqrt(14/m) sigma^2 / 2 of the other
    # cotangent into each entry. Tolerance: 3% relative plus four such standard errors.
    leak = 4 * np.sqrt(14 / m) * np.asarray(dist.std) ** 2 * np.maximum(np.abs(cot.mean), np.abs(cot.std))
    for got, want in ((mc.mean, exact.mean), (mc.std, exact.std)):
        assert np.all(np.abs(np.asarray(got) - np.asarray(want)) <= 0.03 * np.abs(np.asarray(want)) + leak)
    # and it is not the identity: the sigma=2 mean gradient is scaled by ~4
    assert abs(float(mc.mean[0, 1]) / float(cot.mean[0, 1]) - 4.0) < 0.2


@pytest.mark.slow
def test_output_fisher_adaptor_on_a_mixture_inverts_its_fisher():
    """The adapted gradient g satisfies (F + lambda I) g = cotangent with F the MC Fisher of the mixture."""
    mix = GaussianMixture(logits=jnp.array([[0.2, -0.3]]), means=jnp.array([[[-1.0], [1.5]]]),
                          stds=jnp.array([[[0.5], [0.8]]]))
    key, lam = jax.random.key(4), 1e-2
    cot = GaussianMixture(logits=jnp.array([[1.0, -1.0]]), means=jnp.array([[[0.5], [2.0]]]),
                          stds=jnp.array([[[-1.0], [0.3]]]))
    _, vjp = jax.vjp(lambda d: fisher.output_fisher_adaptor(d, key, num_samples=2000, damping=lam), mix)
    g = np.concatenate([np.ravel(x) for x in jax.tree.leaves(vjp(cot)[0])])
    # independent Fisher: finite-difference scores of the same samples
    from wrl.distributions.base import sample as dist_sample

    a = dist_sample(key, mix, (2000,))[:, 0]  # (M, 1)
    flat0 = np.concatenate([np.ravel(x) for x in jax.tree.leaves(mix)]).astype(np.float64)

    def logp(flat):
        d = GaussianMixture(jnp.asarray(flat[:2])[None], jnp.asarray(flat[2:4]).reshape(1, 2, 1),
                            jnp.asarray(flat[4:6]).reshape(1, 2, 1))
        return np.asarray(mixture.log_prob(d, a[:, None, :])[:, 0], np.float64)

    h = 1e-3
    scores = np.stack([(logp(flat0 + h * e) - logp(flat0 - h * e)) / (2 * h) for e in np.eye(6)], axis=1)
    fisher_fd = scores.T @ scores / len(scores)
    c = np.concatenate([np.ravel(x) for x in jax.tree.leaves(cot)])
    np.testing.assert_allclose((fisher_fd + lam * np.eye(6)) @ g, c, rtol=2e-2, atol=2e-2)


def test_mixture_decoupled_kl_closed_forms():
    online = GaussianMixture(logits=jnp.array([[0.5, -0.5]]), means=jnp.array([[[0.2, -0.1], [1.0, 0.4]]]),
                             stds=jnp.array([[[0.5, 1.0], [0.7, 0.3]]]))
    target = GaussianMixture(logits=jnp.array([[0.0, 0.1]]), means=jnp.array([[[0.0, 0.0], [1.2, 0.4]]]),
                             stds=jnp.array([[[0.4, 1.0], [0.7, 0.6]]]))
    kl_m, kl_s = kl.mixture_decoupled_kl(online, target)
    w_t = jax.nn.softmax(target.logits, -1)
    comp_m, comp_s = kl.decoupled_kl(DiagGaussian(online.means, online.stds),
                                      DiagGaussian(target.means, target.stds))
    cat = np.sum(np.asarray(w_t) * (np.log(np.asarray(w_t)) - np.asarray(jax.nn.log_softmax(online.logits, -1))))
    np.testing.assert_allclose(kl_m, np.einsum("bk,bkd->bd", w_t, comp_m) + cat / 2, rtol=1e-5)
    np.testing.assert_allclose(kl_s, np.einsum("bk,bkd->bd", w_t, comp_s), rtol=1e-5)
    same_m, same_s = kl.mixture_decoupled_kl(target, target)
    np.testing.assert_allclose(same_m, 0, atol=1e-6)
    np.testing.assert_allclose(same_s, 0, atol=1e-6)


def _given(actions, dq_da):
    """Velocity samples with a given field at given actions."""
    return velocity.VelocitySamples(actions, jnp.zeros(actions.shape[:-1]), dq_da)


def test_box_pull_is_the_gradient_of_the_penalised_value():
    a = jnp.array([[0.5, -0.2], [1.5, -3.0]])
    dq = jnp.array([[1.0, 2.0], [0.5, -1.0]])
    np.testing.assert_array_equal(velocity.box_pull(0.0)(_given(a, dq), None, None).dq_da, dq)
    g = velocity.box_pull(2.0)(_given(a, dq), None, None).dq_da
    np.testing.assert_array_equal(g[0], dq[0])  # inside the box: unchanged
    rms = float(jnp.sqrt(jnp.mean(dq**2)))
    # independent: autodiff of Q_lin(a) - (w rms / 2) dist(a, box)^2 with grad_a Q_lin = dq
    pen = lambda x: jnp.sum(dq * x) - 2.0 * rms / 2 * jnp.sum((x - jnp.clip(x, -1, 1)) ** 2)  # noqa: E731
    np.testing.assert_allclose(g, jax.grad(pen)(a), rtol=1e-6)
    assert float(g[1, 0]) < 0 < float(g[1, 1])  # outside: pulled back towards the box


def test_executed_velocity_is_the_gradient_of_the_value_of_the_clipped_action():
    """grad_a Q(s, clip(a)): the critic's gradient at the clipped action inside the box, zero outside."""
    w = jnp.array([1.0, -2.0, 0.5])
    q = lambda obs, a: jnp.sum(w * a + a**2, -1)  # noqa: E731  grad_a = w + 2a
    a = jnp.array([[[0.3, 1.7, -2.5], [-0.9, 0.2, 1.01]]])  # (N=1, B=2, D=3)
    raw_samples = velocity.velocity_at(q, None, a)
    executed = velocity.executed_action()(raw_samples, q, None)
    g = executed.dq_da
    np.testing.assert_array_equal(executed.actions, a)  # the samples stay where they are
    np.testing.assert_allclose(executed.q, q(None, jnp.clip(a[0], -1, 1))[None], rtol=1e-6)
    inside = jnp.abs(a) < 1
    expected = jnp.where(inside, w + 2 * jnp.clip(a, -1, 1), 0.0)
    np.testing.assert_allclose(g, expected, rtol=1e-6)
    raw = raw_samples.dq_da
    assert float(jnp.max(jnp.abs(raw - (w + 2 * a)))) < 1e-5  # the default keeps the raw extrapolation


def test_tanh_link_velocity_is_the_critic_gradient_at_tanh_u_times_the_derivative_of_tanh():
    """grad_u Q(s, tanh(u)) = (1 - tanh(u)^2) (grad_a Q)(s, tanh(u)): it fades as a coordinate saturates and the
    critic is only ever evaluated inside the box."""
    w = jnp.array([1.0, -2.0, 0.5])
    q = lambda obs, a: jnp.sum(w * a + a**2, -1)  # noqa: E731  grad_a = w + 2a
    u = jnp.array([[[0.3, 1.7, -2.5], [-0.9, 0.2, 6.0]]])  # (N=1, B=2, D=3), latent: unbounded
    linked = velocity.tanh_link()(velocity.velocity_at(q, None, u), q, None)
    q_u, g = linked.q, linked.dq_da
    t = np.tanh(np.asarray(u, np.float64))
    np.testing.assert_allclose(g, (1 - t**2) * (np.asarray(w) + 2 * t), rtol=1e-5, atol=1e-6)  # f32: 1 - tanh^2
    np.testing.assert_allclose(q_u, np.sum(np.asarray(w) * t + t**2, -1), rtol=1e-6)
    assert abs(float(g[0, 1, 2])) < 1e-4  # saturated coordinate: almost no velocity
    # the critic is only ever given actions inside the box: one that is NaN outside it stays finite
    in_box_only = lambda obs, a: jnp.where(jnp.all(jnp.abs(a) < 1, -1), q(obs, a), jnp.nan)  # noqa: E731
    linked = velocity.tanh_link()(velocity.velocity_at(q, None, u), in_box_only, None)
    assert np.all(np.isfinite(np.asarray(linked.q))) and np.all(np.isfinite(np.asarray(linked.dq_da)))


def test_velocity_transforms_chain_left_to_right():
    """chain(T1, T2)(s) = T2(T1(s)); the empty chain and identity() leave the samples as they are."""
    q = lambda obs, a: jnp.sum(3.0 * a - a**2, -1)  # noqa: E731  grad_a = 3 - 2a
    a = jnp.array([[[0.3, 1.7], [-0.9, 2.5]]])  # (N=1, B=2, D=2)
    s = velocity.velocity_at(q, None, a)
    for t in (velocity.chain(), velocity.identity()):
        jax.tree.map(np.testing.assert_array_equal, t(s, q, None), s)
    link, pull, cbrt = velocity.executed_action(), velocity.box_pull(1.0), velocity.squash("cbrt")
    chained = velocity.chain(link, pull, cbrt)(s, q, None)
    by_hand = cbrt(pull(link(s, q, None), q, None), q, None)
    jax.tree.map(np.testing.assert_array_equal, chained, by_hand)
    # the order matters: the pull sees the executed field (zero off the box), not the raw one
    assert not np.allclose(chained.dq_da, velocity.chain(pull, link, cbrt)(s, q, None).dq_da)
