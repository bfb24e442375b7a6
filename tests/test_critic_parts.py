"""The building blocks of the frontier critics: Batch Renormalization, the CrossQ / SimBa / SimbaV2 / BRO
networks and the value heads, against closed forms, NumPy reimplementations and finite differences."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm

from wrl.critics.architectures import SPHERE_PREFIX, BroNet, CrossQNet, SimbaNet, SimbaV2Net, project_weights
from wrl.critics.batch_renorm import BatchRenorm
from wrl.critics.heads import (
    hl_gauss_head,
    hl_gauss_histogram,
    make_head,
    mse_head,
    quantile_head,
    quantile_huber_loss,
)

EPS, R_MAX, D_MAX, MOMENTUM, WARMUP = 1e-3, 3.0, 5.0, 0.9, 10


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def jit_apply(module, **static):
    """module.apply compiled once (eager Flax code compiles every operation on its own, which is slow)."""
    return jax.jit(functools.partial(module.apply, **static))


def jit_init(module, key, *inputs):
    return jax.jit(module.init)(key, *inputs)


def central_differences(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """d f / d x of a scalar function f by central differences, coordinate by coordinate (float64)."""
    x = np.asarray(x, np.float64)
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[idx] = h
        grad[idx] = (float(f(jnp.asarray(x + step))) - float(f(jnp.asarray(x - step)))) / (2 * h)
    return grad


# --- BatchRenorm -----------------------------------------------------------------------------------------------

# Six features; the batch's features have means LOC and standard deviations SCALE, the running statistics are
# MEAN and VAR: feature 0 and 5 close to the batch (nothing clips), feature 1 and 4 with a running standard
# deviation ~10 times too large / small (r clips at 1/r_max and r_max), features 2 and 3 with a running mean
# 20 running deviations away (d clips at -d_max and d_max).
LOC = np.array([0.0, 0.0, 0.0, 0.0, 2.0, -1.0])
SCALE = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.5])
MEAN = np.array([0.1, 0.0, 20.0, -20.0, 2.2, -1.1])
VAR = np.array([1.2, 100.0, 1.0, 1.0, 0.01, 2.0])


def _brn_batch(shape=(8, 8)) -> np.ndarray:
    rng = np.random.default_rng(0)
    return LOC + SCALE * rng.standard_normal((*shape, 6))


def _brn_variables(steps: int) -> dict:
    rng = np.random.default_rng(1)
    return {"params": {"scale": jnp.asarray(rng.uniform(0.5, 2.0, 6)), "bias": jnp.asarray(rng.normal(size=6))},
            "batch_stats": {"mean": jnp.asarray(MEAN), "var": jnp.asarray(VAR), "steps": jnp.asarray(steps, jnp.int32)}}


def _numpy_renorm(x: np.ndarray, variables: dict, warm: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Direct Batch Renormalization of x (..., 6): output, batch mean, batch (biased) variance."""
    flat = x.reshape(-1, x.shape[-1])
    mu_b = flat.mean(0)
    var_b = ((flat - mu_b) ** 2).mean(0)
    sigma_b, sigma = np.sqrt(var_b + EPS), np.sqrt(VAR + EPS)
    r = np.clip(sigma_b / sigma, 1 / R_MAX, R_MAX) if warm else np.ones(6)
    d = np.clip((mu_b - MEAN) / sigma, -D_MAX, D_MAX) if warm else np.zeros(6)
    p = variables["params"]
    return ((x - mu_b) / sigma_b * r + d) * np.asarray(p["scale"]) + np.asarray(p["bias"]), mu_b, var_b


def _brn(**kw) -> BatchRenorm:
    return BatchRenorm(momentum=MOMENTUM, epsilon=EPS, warmup_steps=WARMUP, r_max=R_MAX, d_max=D_MAX, **kw)


def test_batch_renorm_training_matches_the_formulas_with_r_and_d_clipped(x64):
    x = _brn_batch()
    variables = _brn_variables(steps=WARMUP)  # the first step past the warm-up: renormalisation is on
    flat = x.reshape(-1, 6)
    sigma = np.sqrt(VAR + EPS)
    r_raw = np.sqrt(flat.var(0) + EPS) / sigma
    d_raw = (flat.mean(0) - MEAN) / sigma
    # the construction makes every clip active somewhere (and leaves features 0 and 5 unclipped)
    assert r_raw[1] < 1 / R_MAX and r_raw[4] > R_MAX and d_raw[2] < -D_MAX and d_raw[3] > D_MAX
    assert np.all(np.abs(np.log(r_raw[[0, 5]])) < np.log(R_MAX)) and np.all(np.abs(d_raw[[0, 5]]) < D_MAX)

    train = jit_apply(_brn(), use_running_average=False, mutable=["batch_stats"])
    y, updated = train(variables, jnp.asarray(x))
    want, mu_b, var_b = _numpy_renorm(x, variables, warm=True)
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-12, atol=1e-12)
    stats = updated["batch_stats"]
    np.testing.assert_allclose(stats["mean"], MOMENTUM * MEAN + (1 - MOMENTUM) * mu_b, rtol=1e-12)
    np.testing.assert_allclose(stats["var"], MOMENTUM * VAR + (1 - MOMENTUM) * var_b, rtol=1e-12)
    assert int(stats["steps"]) == WARMUP + 1
    # without the clips, training and evaluation agree: x_hat = (x - mu) / sigma for features 0 and 5
    y_eval = jit_apply(_brn(), use_running_average=True)(variables, jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(y)[..., [0, 5]], np.asarray(y_eval)[..., [0, 5]], rtol=1e-12)
    assert np.abs(np.asarray(y) - np.asarray(y_eval))[..., 1:5].min() > 1e-3


def test_batch_renorm_before_warm_up_is_batch_norm(x64):
    x = _brn_batch()
    variables = _brn_variables(steps=WARMUP - 1)
    y, updated = jit_apply(_brn(), use_running_average=False, mutable=["batch_stats"])(variables, jnp.asarray(x))
    want, mu_b, var_b = _numpy_renorm(x, variables, warm=False)
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-12, atol=1e-12)
    renorm, _, _ = _numpy_renorm(x, variables, warm=True)
    assert np.abs(want - renorm).max() > 1.0  # the two regimes differ on this batch: the check can fail
    np.testing.assert_allclose(updated["batch_stats"]["mean"], MOMENTUM * MEAN + (1 - MOMENTUM) * mu_b, rtol=1e-12)
    np.testing.assert_allclose(updated["batch_stats"]["var"], MOMENTUM * VAR + (1 - MOMENTUM) * var_b, rtol=1e-12)
    assert int(updated["batch_stats"]["steps"]) == WARMUP


def test_batch_renorm_evaluation_uses_the_running_statistics(x64):
    x = _brn_batch()
    variables = _brn_variables(steps=3)
    y, updated = jit_apply(_brn(), use_running_average=True, mutable=["batch_stats"])(variables, jnp.asarray(x))
    p = variables["params"]
    np.testing.assert_allclose(np.asarray(y), (x - MEAN) / np.sqrt(VAR + EPS) * np.asarray(p["scale"])
                               + np.asarray(p["bias"]), rtol=1e-12, atol=1e-12)
    for name in ("mean", "var", "steps"):
        np.testing.assert_array_equal(updated["batch_stats"][name], variables["batch_stats"][name])


def test_batch_renorm_initialisation_and_immutable_statistics():
    x = jnp.asarray(_brn_batch(), jnp.float32)
    variables = jax.jit(functools.partial(_brn().init, use_running_average=False))(jax.random.key(0), x)
    stats = variables["batch_stats"]
    np.testing.assert_array_equal(stats["mean"], np.zeros(6))
    np.testing.assert_array_equal(stats["var"], np.ones(6))
    assert int(stats["steps"]) == 0
    # a training-mode pass without a mutable "batch_stats" normalises with the batch and moves nothing
    y = jit_apply(_brn(), use_running_average=False)(variables, x)
    y_mut, updated = jit_apply(_brn(), use_running_average=False, mutable=["batch_stats"])(variables, x)
    np.testing.assert_array_equal(y, y_mut)
    assert int(updated["batch_stats"]["steps"]) == 1
    flat = np.asarray(x, np.float64).reshape(-1, 6)
    np.testing.assert_allclose(y, (np.asarray(x) - flat.mean(0)) / np.sqrt(flat.var(0) + EPS), rtol=1e-4, atol=1e-5)


def test_batch_renorm_gradient_does_not_flow_through_r_and_d(x64):
    """With r and d constants, y = scale (x - mu_B) / sigma_B r + d + bias and (batch-norm backward)

        dL/dx = scale r / sigma_B (g - mean(g) - x0 mean(g x0)),   x0 = (x - mu_B) / sigma_B,  g = dL/dy,

    per feature over the batch. Had r and d been differentiated, the unclipped features would give
    y = scale (x - mu) / sigma + bias exactly, whose gradient scale g / sigma the central differences of the
    forward pass find; the stop-gradient one differs from it."""
    x = _brn_batch((32,))
    g = np.random.default_rng(2).standard_normal(x.shape)
    variables = _brn_variables(steps=WARMUP)

    def loss(inputs):
        return jnp.sum(jnp.asarray(g) * _brn().apply(variables, inputs, use_running_average=False))

    jitted = jax.jit(loss)
    grad = np.asarray(jax.grad(loss)(jnp.asarray(x)))
    mu_b, var_b = x.mean(0), x.var(0)
    sigma_b, sigma = np.sqrt(var_b + EPS), np.sqrt(VAR + EPS)
    r = np.clip(sigma_b / sigma, 1 / R_MAX, R_MAX)
    x0 = (x - mu_b) / sigma_b
    scale = np.asarray(variables["params"]["scale"])
    want = scale * r / sigma_b * (g - g.mean(0) - x0 * (g * x0).mean(0))
    np.testing.assert_allclose(grad, want, rtol=1e-10, atol=1e-12)

    # central differences of the forward pass (r and d recomputed at every point: what differentiating them
    # would give) on the first rows of the unclipped features 0 and 5
    rows, cols = 3, [0, 5]
    fd = central_differences(lambda head: jitted(jnp.asarray(x).at[:rows, cols].set(head)), x[:rows, cols])
    np.testing.assert_allclose(fd, (scale * g / sigma)[:rows, cols], rtol=1e-6)
    assert np.abs(grad[:rows, cols] - fd).min() > 1e-3


# --- CrossQ --------------------------------------------------------------------------------------------------


def test_crossq_joint_pass_equals_separate_passes_only_in_evaluation():
    net = CrossQNet(hidden=(32, 32), out_dim=2, warmup_steps=0)
    k = jax.random.split(jax.random.key(0), 4)
    obs, act = jax.random.normal(k[0], (16, 5)), jax.random.normal(k[1], (16, 3))
    obs2, act2 = 2.0 + 3.0 * jax.random.normal(k[2], (16, 5)), jax.random.normal(k[3], (16, 3)) - 1.0
    variables = jit_init(net, jax.random.key(1), obs, act)
    step = jit_apply(net, train=True, mutable=["batch_stats"])
    for _ in range(3):  # running statistics away from their initial (0, 1)
        _, updated = step(variables, obs, act)
        variables = {**variables, **updated}
    joint_obs, joint_act = jnp.concatenate([obs, obs2]), jnp.concatenate([act, act2])

    evaluate, train = jit_apply(net), jit_apply(net, train=True)
    joint = evaluate(variables, joint_obs, joint_act)
    separate = jnp.concatenate([evaluate(variables, obs, act), evaluate(variables, obs2, act2)])
    assert joint.shape == (32, 2)
    np.testing.assert_allclose(joint, separate, rtol=1e-5, atol=1e-5)

    joint_t = train(variables, joint_obs, joint_act)
    separate_t = jnp.concatenate([train(variables, obs, act), train(variables, obs2, act2)])
    assert float(jnp.abs(joint_t - separate_t).max()) > 1e-2  # batch statistics are shared in training


# --- HL-Gauss --------------------------------------------------------------------------------------------------


def test_hl_gauss_histogram_mean_mass_and_reference(x64):
    """Inside the support, the histogram's mean is y to far below a bin width w. The bin centre c(Y) of a
    point Y differs from Y by a sawtooth of period w, c(Y) - Y = sum_n w / (pi n) sin(2 pi n (Y - e_0) / w);
    for Y ~ N(y, sigma^2) each harmonic is damped by exp(-2 pi^2 n^2 sigma^2 / w^2), so with sigma = 0.75 w

        E c(Y) - y = w / pi exp(-2 pi^2 0.75^2) sin(2 pi (y - e_0) / w) + O(w exp(-8 pi^2 0.75^2)),

    the first term at most 4.8e-6 w, the rest ~1e-20 w. For y at least 6 sigma inside the support, truncating
    and renormalising moves the mean by less than P(|Y - y| > 6 sigma) (v_max - v_min) < 2e-8 = 2e-7 w. Hence
    |mean - y| < 5.2e-6 w, and |mean - y - first term| < 2e-7 w (observed ~6e-10 w)."""
    v_min, v_max, bins, ratio = -5.0, 5.0, 101, 0.75
    head = hl_gauss_head(bins, v_min, v_max, ratio)
    edges = np.linspace(v_min, v_max, bins + 1)
    centres, w = 0.5 * (edges[1:] + edges[:-1]), (v_max - v_min) / bins
    sigma = ratio * w
    rng = np.random.default_rng(0)
    ys = np.concatenate([rng.uniform(v_min + 6 * sigma, v_max - 6 * sigma, 40), [0.0, 0.05, 1.234, -3.3]])
    p = np.asarray(hl_gauss_histogram(jnp.asarray(ys), jnp.asarray(edges), sigma))
    assert p.shape == (len(ys), bins) and np.all(p >= 0)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-12)
    bias = p @ centres - ys
    assert np.abs(bias).max() < 5.2e-6 * w
    first_harmonic = w / np.pi * np.exp(-2 * np.pi**2 * ratio**2) * np.sin(2 * np.pi * (ys - v_min) / w)
    assert np.abs(bias - first_harmonic).max() < 2e-7 * w
    assert np.abs(bias).max() > 1e-6 * w  # the harmonic is there: the check above is not vacuous
    # an independent reference (scipy's normal cdf, renormalised by the mass inside the support), edges too
    for y in [*ys[:5], v_min, v_max, 4.99]:
        cdf = norm.cdf(edges, loc=y, scale=sigma)
        np.testing.assert_allclose(hl_gauss_histogram(jnp.asarray(y), jnp.asarray(edges), sigma),
                                   np.diff(cdf) / (cdf[-1] - cdf[0]), rtol=1e-9, atol=1e-14)
    # the head's loss uses the average histogram of the atoms, and its value is the softmax mean
    raw = jnp.asarray(rng.normal(size=(3, bins)))
    atoms = jnp.asarray(rng.uniform(-4, 4, (3, 2)))
    target = np.asarray(hl_gauss_histogram(atoms, jnp.asarray(edges), sigma)).mean(1)
    logp = np.asarray(jax.nn.log_softmax(raw))
    np.testing.assert_allclose(head.loss(raw, atoms), -(target * logp).sum(-1), rtol=1e-12)
    np.testing.assert_allclose(head.value(raw), np.exp(logp) @ centres, rtol=1e-12)
    np.testing.assert_allclose(head.atoms(raw)[:, 0], head.value(raw), rtol=1e-12)


def test_hl_gauss_loss_gradient_matches_finite_differences(x64):
    head = hl_gauss_head(21, -2.0, 2.0)
    rng = np.random.default_rng(3)
    raw = rng.normal(size=(2, 21))
    atoms = jnp.asarray(rng.uniform(-1.5, 1.5, (2, 3)))
    total = jax.jit(lambda r: head.loss(r, atoms).sum())
    grad = np.asarray(jax.grad(total)(jnp.asarray(raw)))
    np.testing.assert_allclose(grad, central_differences(total, raw), rtol=1e-7, atol=1e-9)
    # the closed form: softmax(raw) - p
    p = np.asarray(hl_gauss_histogram(atoms, jnp.linspace(-2.0, 2.0, 22), 0.75 * 4.0 / 21)).mean(1)
    np.testing.assert_allclose(grad, np.asarray(jax.nn.softmax(jnp.asarray(raw))) - p, rtol=1e-10, atol=1e-12)


def test_hl_gauss_value_gradient_goes_through_the_softmax(x64):
    """raw = W x + b: dQ/dx = W^T (softmax(raw) * (z - Q)), and central differences agree."""
    head = hl_gauss_head(11, -1.0, 1.0)
    rng = np.random.default_rng(4)
    W, b, x = rng.normal(size=(11, 4)), rng.normal(size=11), rng.normal(size=4)
    q = jax.jit(lambda v: head.value(jnp.asarray(W) @ v + jnp.asarray(b)))
    grad = np.asarray(jax.grad(q)(jnp.asarray(x)))
    np.testing.assert_allclose(grad, central_differences(q, x), rtol=1e-7, atol=1e-10)
    probs = np.asarray(jax.nn.softmax(jnp.asarray(W @ x + b)))
    z = np.linspace(-1, 1, 12)
    z = 0.5 * (z[1:] + z[:-1])
    np.testing.assert_allclose(grad, W.T @ (probs * (z - probs @ z)), rtol=1e-10)


# --- quantiles and mse ---------------------------------------------------------------------------------------


def _loop_quantile_huber(theta: np.ndarray, y: np.ndarray, taus: np.ndarray, kappa: float) -> np.ndarray:
    out = np.zeros(theta.shape[0])
    for b in range(theta.shape[0]):
        for i in range(theta.shape[1]):
            for j in range(y.shape[1]):
                u = y[b, j] - theta[b, i]
                if kappa == 0:
                    h = abs(u)
                elif abs(u) <= kappa:
                    h = 0.5 * u * u / kappa
                else:
                    h = (abs(u) - 0.5 * kappa)
                out[b] += abs(taus[i] - (1.0 if u < 0 else 0.0)) * h / y.shape[1]
    return out


@pytest.mark.parametrize("kappa", [1.0, 0.3, 0.0])
def test_quantile_huber_loss_matches_a_double_loop(x64, kappa):
    rng = np.random.default_rng(5)
    theta, y = rng.normal(size=(4, 7)), 1.5 * rng.normal(size=(4, 5))
    taus = (2 * np.arange(7) + 1) / 14
    got = quantile_huber_loss(jnp.asarray(theta), jnp.asarray(y), jnp.asarray(taus), kappa)
    np.testing.assert_allclose(got, _loop_quantile_huber(theta, y, taus, kappa), rtol=1e-12)
    head = quantile_head(7, kappa)
    np.testing.assert_allclose(head.loss(jnp.asarray(theta), jnp.asarray(y)),
                               _loop_quantile_huber(theta, y, taus, kappa), rtol=1e-12)


def test_quantile_head_converges_to_a_single_target_atom(x64):
    head = quantile_head(5, kappa=1.0)
    theta0 = jnp.asarray(np.random.default_rng(6).uniform(-2, 2, (1, 5)))
    target = jnp.full((1, 1), 0.7)
    grad = jax.grad(lambda t: head.loss(t, target).sum())
    theta = jax.lax.fori_loop(0, 400, lambda _, t: t - 1.0 * grad(t), theta0)
    np.testing.assert_allclose(theta, 0.7, atol=1e-9)
    np.testing.assert_allclose(head.value(theta), 0.7, atol=1e-9)
    np.testing.assert_array_equal(head.atoms(theta), theta)


def test_mse_head_and_make_head():
    raw = jnp.array([[1.0], [-2.0]])
    atoms = jnp.array([[0.0, 1.0], [3.0, 5.0]])
    head = mse_head()
    np.testing.assert_allclose(head.loss(raw, atoms), [0.5 * 0.5**2, 0.5 * 6.0**2])
    np.testing.assert_array_equal(head.value(raw), [1.0, -2.0])
    assert head.atoms(raw).shape == (2, 1)
    assert [make_head(n).out_dim for n in ("mse", "hl_gauss", "quantile")] == [1, 101, 100]
    assert make_head("quantile", num_quantiles=8).out_dim == 8
    with pytest.raises(ValueError, match="unknown value head"):
        make_head("c51")
    with pytest.raises(AssertionError):
        head.loss(raw[:, 0], atoms)


# --- SimbaV2 ---------------------------------------------------------------------------------------------------

SPHERE_LAYERS = {"sphere_embed", "sphere_block0_up", "sphere_block0_down", "sphere_block1_up",
                 "sphere_block1_down", "sphere_out"}


def _perturb(tree, seed: int, members: int | None = None):
    """Every leaf scaled by U(0.5, 2) and shifted by 0.1, elementwise (NumPy, float32); with ``members``,
    that many independent perturbations stacked on a leading axis (the layout of ensemble params)."""
    rng = np.random.default_rng(seed)

    def one(x):
        x = np.asarray(x)
        return (x * rng.uniform(0.5, 2.0, x.shape) + 0.1).astype(np.float32)

    if members is None:
        return jax.tree.map(one, tree)
    return jax.tree.map(lambda x: np.stack([one(x) for _ in range(members)]), tree)


@pytest.fixture(scope="module")
def simbav2():
    net = SimbaV2Net(hidden_dim=16, num_blocks=2, out_dim=3)
    return net, jit_init(net, jax.random.key(0), jnp.zeros((1, 5)), jnp.zeros((1, 2)))


def _column_norms(params) -> dict:
    return {name: np.linalg.norm(np.asarray(p["kernel"]), axis=-2) for name, p in params["params"].items()
            if name.startswith(SPHERE_PREFIX)}


def test_simbav2_project_weights_puts_every_sphere_column_on_the_sphere(simbav2):
    _, params = simbav2
    assert set(_column_norms(params)) == SPHERE_LAYERS
    for n in _column_norms(params).values():  # the initialisation satisfies the constraint already
        np.testing.assert_allclose(n, 1.0, atol=1e-5)
    moved = _perturb(params, 1)
    assert max(np.abs(n - 1).max() for n in _column_norms(moved).values()) > 0.1
    projected = project_weights(moved)
    for n in _column_norms(projected).values():
        np.testing.assert_allclose(n, 1.0, atol=1e-5)
    for name, layer in projected["params"].items():  # scalers and the output layer are untouched
        if not name.startswith(SPHERE_PREFIX):
            for leaf, before in zip(jax.tree.leaves(layer), jax.tree.leaves(moved["params"][name]), strict=True):
                np.testing.assert_array_equal(leaf, before)
    assert "head" in projected["params"] and "bias" in projected["params"]["head"]
    # the inner params work as well as the variables
    inner = project_weights(moved["params"])
    np.testing.assert_array_equal(inner["sphere_out"]["kernel"], projected["params"]["sphere_out"]["kernel"])

    # stacked ensemble params (members, in, out): directly, under jit and under vmap
    stacked = _perturb(params, 2, members=3)
    assert stacked["params"]["sphere_embed"]["kernel"].shape == (3, 8, 16)
    results = [project_weights(stacked), jax.jit(project_weights)(stacked), jax.vmap(project_weights)(stacked)]
    for result in results:
        norms = _column_norms(result)
        assert set(norms) == SPHERE_LAYERS
        for n in norms.values():
            assert n.shape[0] == 3
            np.testing.assert_allclose(n, 1.0, atol=1e-5)
        for a, b in zip(jax.tree.leaves(result), jax.tree.leaves(results[0]), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6)


def test_simbav2_hidden_features_are_unit_vectors(simbav2):
    net, params = simbav2
    k = jax.random.split(jax.random.key(4), 2)
    obs, act = 100.0 * jax.random.normal(k[0], (6, 5)), jax.random.normal(k[1], (6, 2))
    params = project_weights(_perturb(params, 5))
    out, state = jit_apply(net, mutable=["intermediates"])(params, obs, act)
    assert out.shape == (6, 3) and bool(jnp.all(jnp.isfinite(out)))
    hidden = state["intermediates"]["hidden"]
    assert len(hidden) == 3  # the embedding and one per block
    for h in hidden:
        assert h.shape == (6, 16)
        np.testing.assert_allclose(np.linalg.norm(np.asarray(h), axis=-1), 1.0, atol=1e-5)


# --- every architecture with every head: grad_a Q against central differences -------------------------------

ARCHITECTURES = {
    "crossq": lambda out: CrossQNet(hidden=(16, 16), out_dim=out, warmup_steps=0),
    "simba": lambda out: SimbaNet(hidden_dim=16, num_blocks=2, out_dim=out),
    "simbav2": lambda out: SimbaV2Net(hidden_dim=16, num_blocks=2, out_dim=out),
    "bro": lambda out: BroNet(hidden_dim=16, num_blocks=2, out_dim=out),
}
HEADS = {"mse": {}, "hl_gauss": {"num_bins": 21, "v_min": -3.0, "v_max": 3.0},
         "quantile": {"num_quantiles": 6}}


@pytest.mark.parametrize(("arch", "head_name"), list(itertools.product(ARCHITECTURES, HEADS)))
def test_action_gradient_of_the_value_matches_finite_differences(x64, arch, head_name):
    head = make_head(head_name, **HEADS[head_name])
    net = ARCHITECTURES[arch](head.out_dim)
    k = jax.random.split(jax.random.key(7), 3)
    obs, act = jax.random.normal(k[0], (3, 4), jnp.float64), jax.random.normal(k[1], (3, 2), jnp.float64)
    variables = jit_init(net, k[2], obs, act)
    if arch == "crossq":  # running statistics of a batch, then evaluation mode
        _, updated = jit_apply(net, train=True, mutable=["batch_stats"])(variables, 1.0 + obs, act)
        variables = {**variables, **updated}
    q = jax.jit(lambda a: head.value(net.apply(variables, obs, a)).sum())
    grad = np.asarray(jax.jit(jax.grad(q))(act))
    assert grad.shape == (3, 2) and np.abs(grad).max() > 1e-6
    np.testing.assert_allclose(grad, central_differences(q, np.asarray(act)), rtol=1e-6, atol=1e-9)
