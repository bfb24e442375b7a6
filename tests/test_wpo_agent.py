"""The WPO agent on the training stack: dual ascent in hard mode, target copies, action box handling."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wrl.agents import config_class, make_agent
from wrl.errors import ConfigError
from wrl.replay import Batch


def tiny(**kw):
    return dataclasses.replace(config_class("wpo")(), actor_hidden=(16,), critic_hidden=(16,), **kw)


def batch(n=32):
    rng = np.random.default_rng(0)
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    return Batch(f32(rng.normal(size=(n, 3))), f32(rng.uniform(-1, 1, (n, 1))), f32(rng.normal(size=n)),
                 jnp.full(n, 0.9), f32(rng.normal(size=(n, 3))))


def run_updates(cfg, steps):
    agent = make_agent("wpo", cfg, 3, 1)
    state = agent.init(jax.random.key(0))
    update = jax.jit(agent.update)
    b = batch()
    for i in range(steps):
        state, metrics = update(state, b, jax.random.key(i))
    return state, metrics


@pytest.mark.slow
@pytest.mark.parametrize("eps,direction", [(1e-9, 1), (10.0, -1)])
def test_hard_kl_weight_rises_above_epsilon_and_falls_below(eps, direction):
    _, m = run_updates(tiny(kl_mode="hard", actor_lr=1e-2, kl_epsilon_mean=eps, kl_epsilon_std=eps), 30)
    assert float(m["policy/kl_mean"]) > 0
    assert direction * (float(m["policy/alpha_mean"]) - 1.0) > 0.05
    assert direction * (float(m["policy/alpha_std"]) - 100.0) > 0.05


@pytest.mark.slow
def test_soft_kl_weights_stay_fixed_and_targets_copy_periodically():
    state, m = run_updates(tiny(target_period=5), 7)
    assert float(m["policy/alpha_mean"]) == pytest.approx(1.0) and float(m["policy/alpha_std"]) == pytest.approx(100.0)
    # 7 updates, period 5: the target holds the parameters of update 5, not the latest
    diff = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))), state.actor, state.target_actor)
    assert max(jax.tree.leaves(diff)) > 0
    state5, _ = run_updates(tiny(target_period=5), 5)
    same = jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), state5.actor, state.target_actor)
    assert all(jax.tree.leaves(same))


def test_acting_clips_to_the_box_and_mean_is_bounded():
    cfg = tiny(init_std=5.0)
    agent = make_agent("wpo", cfg, 3, 1)
    state = agent.init(jax.random.key(0))
    obs = jnp.ones((512, 3))
    a = agent.act(state, obs, jax.random.key(1), False)
    assert float(jnp.max(jnp.abs(a))) <= 1.0 and float(jnp.mean(jnp.abs(a) == 1.0)) > 0.5  # std 5: most clip
    assert float(jnp.max(jnp.abs(agent.act(state, obs, jax.random.key(1), True)))) <= 1.0


def test_min_std_must_be_below_init_std():
    with pytest.raises(ConfigError, match="--min-std"):
        make_agent("wpo", tiny(min_std=1.0, init_std=0.5), 3, 1)


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["gaussian", "mixture"])
def test_policy_climbs_a_learned_linear_critic(policy):
    """Terminal transitions with reward r = a: the critic learns Q ~ a and WPO moves every action upwards."""
    cfg = tiny(policy=policy, num_components=3, fisher_samples=32, init_std=0.3, kl_mode="off", actor_lr=1e-3)
    agent = make_agent("wpo", cfg, 3, 1)
    state = agent.init(jax.random.key(0))
    b = batch(64)
    b = b._replace(reward=b.action[:, 0], discount=jnp.zeros(64))  # terminal: the target is r = a
    update = jax.jit(agent.update)
    act = jax.jit(lambda s, o: agent.act(s, o, jax.random.key(0), deterministic=True))
    before = float(jnp.mean(act(state, b.obs)))
    for i in range(300):
        state, metrics = update(state, b, jax.random.key(i))
    after = float(jnp.mean(act(state, b.obs)))
    assert np.isfinite(float(metrics["losses/policy_loss"]))
    assert abs(before) < 0.1 and after > before + 0.3, (before, after)


def test_acme_preset_is_the_published_configuration_with_the_factor_n():
    """`--preset acme`: Acme's WPO settings; its KL weights divided by its N = 20 (Acme sums the loss over the
    samples, wrl averages); explicit options still win."""
    import math

    from wrl.agents import presets
    from wrl.lab.cli import configs_from_argv

    acme = presets("wpo")["acme"]
    assert acme.agent["num_samples"] == 20 and acme.train["n_step"] == 5 and acme.train["update_every"] == 8
    cfg, agent_cfg = configs_from_argv(["--algo", "wpo", "--preset", "acme", "--critic-lr", "3e-4"])
    assert agent_cfg.critic_hidden == (512, 512, 256) and agent_cfg.critic == "layernorm" and agent_cfg.actor_layer_norm
    assert agent_cfg.target_update == "periodic" and agent_cfg.target_period == 100 and agent_cfg.num_critics == 1
    assert agent_cfg.kl_alpha_mean * 20 == pytest.approx(math.log(1 + math.exp(0.0)))
    assert agent_cfg.kl_alpha_std * 20 == pytest.approx(1e4)
    assert agent_cfg.actor_lr == 1e-4 and agent_cfg.critic_lr == 3e-4  # the explicit option wins
    assert cfg.batch_size == 256 and cfg.n_step == 5 and cfg.update_every == 8
    assert agent_cfg.action_box == "clip"  # Acme's critic clips, in the velocity and the bootstrap; no pull


def test_wpo_defaults_are_n_step_5_with_a_layernorm_critic_and_the_old_ones_one_option_away():
    """WPO's defaults since the comparison in docs/wpo-history.md: n-step 5 and a LayerNorm critic, through
    `wrl train` and the trainer's config; SAC keeps n-step 1 and its plain MLP; the previous defaults are
    `--n-step 1 --critic mlp`."""
    from wrl.lab.cli import configs_from_argv
    from wrl.training.options import default_train_config

    cfg, agent_cfg = configs_from_argv(["--algo", "wpo"])
    assert cfg.n_step == 5 and agent_cfg.critic == "layernorm" and not agent_cfg.actor_layer_norm
    assert default_train_config("wpo").n_step == 5 and config_class("wpo")().critic == "layernorm"
    cfg, agent_cfg = configs_from_argv(["--algo", "sac"])
    assert cfg.n_step == 1 and agent_cfg.critic == "mlp"
    cfg, agent_cfg = configs_from_argv(["--algo", "wpo", "--n-step", "1", "--critic", "mlp"])
    assert cfg.n_step == 1 and agent_cfg.critic == "mlp"


def test_wpo_n_step_default_is_one_on_the_ergodic_objective_whichever_layer_sets_it(tmp_path):
    """WPO's n-step default is 5 on the discounted objective and 1 on the average one
    (docs/benchmarks/lqr_average_wpo.md), whether `--objective average` comes from the command line or a
    `--config` file; an explicit `--n-step` and a preset's n-step win; `wrl train --help` says so."""
    from wrl.agents import ALGOS
    from wrl.lab.cli import build_parser, configs_from_argv
    from wrl.training.options import default_train_config

    def n_step(*options):
        return configs_from_argv(options)[0].n_step

    config = tmp_path / "average.toml"
    config.write_text('objective = "average"\n')
    assert n_step("--algo", "wpo") == 5
    assert n_step("--algo", "wpo", "--objective", "average") == 1
    assert n_step("--algo", "wpo", "--config", str(config)) == 1
    assert n_step("--algo", "wpo", "--config", str(config), "--objective", "discounted") == 5
    assert n_step("--algo", "wpo", "--objective", "average", "--n-step", "5") == 5
    assert n_step("--algo", "wpo", "--objective", "average", "--preset", "acme") == 5  # Acme's n-step 5
    assert default_train_config("wpo", objective="average").n_step == 1
    assert default_train_config("wpo", objective="average", n_step=3).n_step == 3
    assert n_step("--algo", "sac", "--objective", "average") == 1 == n_step("--algo", "sac")
    # one rule, for every algorithm: an n-step default holds on the discounted objective only
    assert all(default_train_config(a, objective="average").n_step == 1 for a in ALGOS)
    help_text = build_parser("wpo")._subparsers._group_actions[0].choices["train"].format_help()
    assert "(default: 5; 1 with --objective average)" in " ".join(help_text.split())


@pytest.mark.slow
def test_executed_bootstrap_evaluates_the_target_critic_at_the_clipped_target_action():
    """--action-box clip bootstraps at clip(a'): a target policy whose samples all lie beyond the box's corner
    (unbounded mean 10 or 3, std ~1e-13) gives the TD target of the corner itself (mean exactly 1): the same
    critic loss. With a wide target policy (mean 0, std about 3, many samples off the box) `executed-bootstrap`
    (the pull's bounded mean, tanh(0) = 0) gives clip's critic loss exactly, and `pull`, which bootstraps at the
    raw samples where the critic extrapolates, another."""

    def critic_loss(action_box, mean, raw_std=-30.0):
        cfg = tiny(action_box=action_box, min_std=0.0)
        agent = make_agent("wpo", cfg, 3, 1)
        state = agent.init(jax.random.key(0))
        head = state.target_actor["params"]["Dense_1"]
        head = {"kernel": jnp.zeros_like(head["kernel"]), "bias": jnp.array([mean, raw_std])}  # mean, raw std
        target = {"params": {**state.target_actor["params"], "Dense_1": head}}
        _, metrics = jax.jit(agent.update)(state.replace(target_actor=target), batch(), jax.random.key(1))
        return float(metrics["losses/critic_loss"])

    corner = critic_loss("clip", 1.0)
    assert critic_loss("clip", 10.0) == pytest.approx(corner, rel=1e-6)
    assert critic_loss("clip", 3.0) == pytest.approx(corner, rel=1e-6)
    wide = critic_loss("clip", 0.0, 3.0)
    assert critic_loss("executed-bootstrap", 0.0, 3.0) == wide
    assert abs(critic_loss("pull", 0.0, 3.0) - wide) > 1e-3 * wide


@pytest.mark.slow
def test_std_shrinks_at_the_box_edge_with_the_box_pull_and_runs_away_with_the_raw_extrapolated_gradient():
    """The return rises (convexly) to the corner of the box; the critic only ever sees executed, clipped actions.
    With the critic's raw gradient at unclipped samples (`--action-box pull --box-pull 0`) the std grows
    (the critic's outward extrapolation gets steeper further out, and d_sigma = E[eps grad_a Q] > 0); with the
    box pull (a default) and with the velocity of the executed action Q(s, clip(a)) (`--action-box
    executed-velocity --box-pull 0`) it shrinks towards the deterministic corner. The critic is the plain MLP
    (`--critic mlp`): the default LayerNorm critic does not fit these values (up to 600) in 1000
    updates (the next test), and this test is about the velocity off the box."""
    from wrl.lab.bench.box_edge import run_variant, wpo_config

    nets = ["--actor-hidden", "128", "128", "--critic-hidden", "128", "128", "--critic", "mlp"]
    assert wpo_config([]).box_pull == 1.0 and wpo_config([]).action_box == "pull"  # the defaults
    grows = run_variant(wpo_config([*nets, "--box-pull", "0"]), "edge-convex", [0, 1], 1000, 6, 100.0)["per_seed"]
    assert all(p["final_std"] > 0.8 for p in grows), grows  # init 0.7: running away
    for options in ([], ["--action-box", "executed-velocity", "--box-pull", "0"]):
        shrinks = run_variant(wpo_config([*nets, *options]), "edge-convex", [0, 1], 1000, 6, 100.0)["per_seed"]
        assert all(p["final_std"] < 0.68 and p["max_std"] < 0.72 for p in shrinks), (options, shrinks)
        assert all(p["mean_abs"] > 0.95 for p in shrinks)  # the means sit at the optimal corner


@pytest.mark.slow
def test_the_default_layernorm_critic_reaches_the_corner_without_a_runaway_at_a_scale_it_fits():
    """At the defaults (LayerNorm critic, box pull) on the same bandit with rewards ten times smaller (values up
    to 60): the means reach the corner and the std stays bounded. (With rewards up to 600 the LayerNorm critic has
    not fitted them after 1000 updates and the means have hardly moved, docs/wpo-history.md: its features are
    normalised, so only the output layer carries the scale, and Adam moves a weight by about the learning rate
    per update.)"""
    from wrl.lab.bench.box_edge import run_variant, wpo_config

    nets = ["--actor-hidden", "128", "128", "--critic-hidden", "128", "128"]
    assert wpo_config([]).critic == "layernorm"  # the defaults
    fits = run_variant(wpo_config(nets), "edge-convex", [0], 1000, 6, 10.0)["per_seed"]
    assert all(p["mean_abs"] > 0.95 and p["max_std"] < 0.72 for p in fits), fits


@pytest.mark.slow
def test_tanh_link_acts_with_tanh_of_the_sample_and_bootstraps_at_the_executed_action():
    """--action-box tanh: the environment receives tanh(u) of the policy's latent sample u (the deterministic
    action tanh(mean), the mean free), and the TD bootstrap evaluates the target critic at tanh(u'): a target
    policy with latent mean 3 (std ~1e-13) gives the TD target of the clip-link policy (--action-box clip, whose
    mean is unbounded) whose action is tanh(3) itself, not that of an action elsewhere."""

    def with_head(cfg, mean):
        agent = make_agent("wpo", cfg, 3, 1)
        state = agent.init(jax.random.key(0))
        head = state.actor["params"]["Dense_1"]
        head = {"kernel": jnp.zeros_like(head["kernel"]), "bias": jnp.array([mean, -30.0])}  # mean, raw std
        params = {"params": {**state.actor["params"], "Dense_1": head}}
        return agent, state.replace(actor=params, target_actor=params)

    agent, state = with_head(tiny(action_box="tanh", min_std=0.0), 3.0)
    obs = batch().obs
    np.testing.assert_allclose(agent.act(state, obs, jax.random.key(2), True), np.tanh(3.0), rtol=1e-6)
    agent, state = with_head(tiny(action_box="tanh"), 3.0)  # std 1e-3: the samples spread around tanh(3)
    a = agent.act(state, obs, jax.random.key(2), False)
    assert float(jnp.max(jnp.abs(a))) < 1.0 and float(jnp.std(a)) > 0

    def critic_loss(cfg, mean):
        agent, state = with_head(cfg, mean)
        _, metrics = jax.jit(agent.update)(state, batch(), jax.random.key(1))
        return float(metrics["losses/critic_loss"]), metrics

    loss, metrics = critic_loss(tiny(action_box="tanh", min_std=0.0), 3.0)
    same, _ = critic_loss(tiny(action_box="clip", min_std=0.0), float(np.tanh(3.0)))
    assert loss == pytest.approx(same, rel=1e-5)
    # the bootstrap action matters: the other corner's target is another loss
    assert abs(critic_loss(tiny(action_box="clip", min_std=0.0), -1.0)[0] - same) > 1e-2 * same
    assert float(metrics["policy/out_of_box"]) == 0.0
    assert float(metrics["policy/mean_abs"]) == pytest.approx(np.tanh(3.0), rel=1e-5)


@pytest.mark.slow
def test_tanh_link_reaches_the_corner_of_the_box_edge_bandit_without_a_runaway():
    """On the bandit whose return rises convexly to the box's corner (where the raw extrapolated gradient runs
    the std away: the test above), the tanh link's velocity fades as the latent sample saturates: the latent std
    does not grow, the executed deterministic action reaches the corner and the stochastic policy's regret is
    small (0.012-0.038 after 1000 updates; the box pull's is 0.145 after 2000, docs/benchmarks/box_edge_tanh.md).
    The plain MLP critic, as in the test above."""
    from wrl.lab.bench.box_edge import run_variant, wpo_config

    cfg = wpo_config(["--actor-hidden", "128", "128", "--critic-hidden", "128", "128", "--critic", "mlp",
                      "--action-box", "tanh"])
    per_seed = run_variant(cfg, "edge-convex", [0, 1], 1000, 6, 100.0)["per_seed"]
    assert all(p["final_std"] < 0.7 and p["max_std"] < 0.72 for p in per_seed), per_seed
    assert all(p["mean_abs"] > 0.95 and p["regret"] < 0.06 for p in per_seed), per_seed


# Every combination of the five fields that --action-box replaced that a recorded config or a suite used, and the
# choice (and weight) it reads as today; a field left out had its default then.
OLD_BOX_SETTINGS = [
    ({"bounded_mean": True, "bootstrap_actions": "raw", "off_box": "extrapolate", "action_link": "clip",
      "box_pull": 1.0}, "pull", 1.0),  # the defaults
    ({"off_box": "extrapolate", "box_pull": 0.0}, "pull", 0.0),  # wpo-no-pull (records without later fields)
    ({"bounded_mean": True, "off_box": "executed", "box_pull": 1.0}, "executed-velocity", 1.0),  # wpo-executed-pull
    ({"off_box": "executed", "box_pull": 0.0}, "executed-velocity", 0.0),  # box-edge's `executed`
    ({"bootstrap_actions": "executed", "box_pull": 1.0}, "executed-bootstrap", 1.0),  # wpo-n5-executed
    ({"bounded_mean": False, "bootstrap_actions": "executed", "off_box": "executed", "box_pull": 0.0}, "clip",
     1.0),  # the acme preset; clip ignores the weight, which records its default
    ({"bounded_mean": True, "bootstrap_actions": "raw", "off_box": "extrapolate", "action_link": "tanh",
      "box_pull": 1.0}, "tanh", 1.0),  # wpo-tanh
    ({"action_link": "tanh", "bounded_mean": False, "box_pull": 0.5}, "tanh", 1.0),
]


@pytest.mark.parametrize("old,choice,weight", OLD_BOX_SETTINGS)
def test_a_recorded_config_with_the_old_action_box_fields_reads_as_its_action_box(old, choice, weight):
    """`WPOConfig.upgrade` (through `wrl.config.from_dict`, which reads run directories, groups and checkpoints,
    and `recorded_differences`, which checks recorded results) maps each old combination onto one choice."""
    from wrl import config as C

    cls = config_class("wpo")
    record = {**C.to_dict(cls()), "num_samples": 7, **old}
    del record["action_box"]
    cfg = C.from_dict(cls, record)
    assert (cfg.action_box, cfg.box_pull, cfg.num_samples) == (choice, weight, 7)
    assert C.upgrade(cls, C.to_dict(cfg)) == C.to_dict(cfg)  # today's records are left as they are


def test_a_group_of_an_older_wrl_resumes_with_its_action_box(tmp_path):
    """`wrl train --resume` of a group reads its group.json through the same upgrade (a single run's checkpoint
    meta too: both go through `wrl.config.from_dict`)."""
    import json

    from wrl import config as C
    from wrl.training.config import TrainConfig
    from wrl.training.trainer import load_group_config

    agent = {k: v for k, v in C.to_dict(config_class("wpo")()).items() if k != "action_box"}
    agent.update(bounded_mean=False, bootstrap_actions="executed", off_box="executed", box_pull=0.0)
    (tmp_path / "group.json").write_text(json.dumps({"config": C.to_dict(TrainConfig(algo="wpo")),
                                                     "agent_config": agent, "seeds": [0, 1]}))
    cfg, agent_cfg, seeds = load_group_config(tmp_path)
    assert (cfg.algo, agent_cfg.action_box, seeds) == ("wpo", "clip", [0, 1])


@pytest.mark.parametrize("old", [
    {"bounded_mean": False},  # an unbounded mean with the pull
    {"bounded_mean": False, "bootstrap_actions": "executed", "off_box": "executed", "box_pull": 1.0},  # clip + pull
    {"bounded_mean": True, "bootstrap_actions": "executed", "off_box": "executed", "box_pull": 0.0},
    {"action_link": "tanh", "off_box": "executed"},  # refused by make_agent then
    {"action_link": "clip", "action_box": "pull"},
])
def test_an_old_action_box_combination_without_a_choice_is_one_clear_error(old):
    from wrl import config as C

    cls = config_class("wpo")
    record = {k: v for k, v in C.to_dict(cls()).items() if k != "action_box"}
    with pytest.raises(ConfigError, match=r"action_box|--action-box"):
        C.from_dict(cls, {**record, **old})


def test_every_action_box_choice_is_an_option_and_the_old_options_are_gone(capsys):
    """One option replaced five: each choice (with any weight) is a valid agent config, where some combinations of
    the old fields were a ConfigError; the old options are no longer parsed."""
    from wrl.agents.wpo import ACTION_BOXES
    from wrl.lab.cli import configs_from_argv

    for choice in ACTION_BOXES:
        _, agent_cfg = configs_from_argv(["--algo", "wpo", "--action-box", choice, "--box-pull", "0.5"])
        assert (agent_cfg.action_box, agent_cfg.box_pull) == (choice, 0.5)
        make_agent("wpo", agent_cfg, 3, 1)
    for old in ("--off-box", "--bootstrap-actions", "--action-link", "--bounded-mean", "--no-bounded-mean"):
        with pytest.raises(SystemExit):
            configs_from_argv(["--algo", "wpo", old, *([] if "bounded" in old else ["executed"])])
        assert "unrecognized arguments" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("choice", ["pull", "clip", "tanh", "executed-velocity", "executed-bootstrap"])
def test_every_action_box_choice_updates(choice):
    _, metrics = run_updates(tiny(action_box=choice, box_pull=0.5), 2)
    assert all(np.isfinite(float(v)) for v in metrics.values())


H_QUAD = jnp.array([[2.0, 0.5], [0.5, 1.0]])  # Q(s, a) = -(a - a*(s))^T H (a - a*(s)) / 2, a*(s) = tanh(s C)
C_QUAD = jnp.array([[0.8, -0.3], [0.2, 0.5], [-0.6, 0.4]])


def quadratic_q(obs, a):
    diff = a - jnp.tanh(obs @ C_QUAD)
    return -0.5 * jnp.einsum("bi,ij,bj->b", diff, H_QUAD, diff)


def expected_velocity(obs, a, cfg):
    """The velocity at (N, B, D) samples, by hand: grad_a Q = -H (a - a*), pulled back into the box by
    w rms(grad_a Q) (a - clip(a)), or under the tanh link (1 - tanh(u)^2) (grad_a Q)(tanh(u))."""
    if cfg.action_box == "tanh":
        t = jnp.tanh(a)
        return (1 - t**2) * (-(t - jnp.tanh(obs @ C_QUAD)) @ H_QUAD)
    v = -(a - jnp.tanh(obs @ C_QUAD)) @ H_QUAD
    return v - cfg.box_pull * jnp.sqrt(jnp.mean(v**2)) * (a - jnp.clip(a, -1, 1))


@pytest.mark.parametrize("options", [{"box_pull": 0.0}, {}, {"action_box": "tanh"}],
                         ids=["raw", "box-pull", "tanh-link"])
def test_actor_gradient_of_the_update_is_the_closed_form_natural_pullback(options, monkeypatch):
    """The actor gradient of the function `update` differentiates (`actor_loss`), against a fixed quadratic critic,
    is the closed-form pull-back of the Gaussian natural gradient through the policy network: with the adaptor the
    mean moves by d_mu = E[v] and the std by d_sigma = E[((a - mu)/sigma) v] (v = grad_a Q after the box
    transforms), so grad_theta L = -(dmu/dtheta)^T d_mu / B - (dsigma/dtheta)^T d_sigma / B."""
    from wrl.agents import wpo
    from wrl.distributions import DiagGaussian
    from wrl.projections.kl import init_kl_duals

    cfg = tiny(kl_mode="off", num_samples=16, **options)
    b, d = 5, 2
    agent = make_agent("wpo", cfg, 3, d)
    state = agent.init(jax.random.key(0))
    # move the network off its near-zero initial head so that means and stds differ per state
    leaves, tree = jax.tree.flatten(state.actor)
    keys = jax.random.split(jax.random.key(1), len(leaves))
    params = jax.tree.unflatten(tree, [x + 0.3 * jax.random.normal(k, x.shape)
                                       for x, k in zip(leaves, keys, strict=True)])
    obs = jax.random.normal(jax.random.key(2), (b, 3))
    key = jax.random.key(3)
    _, policy = wpo.make_policy(cfg, d)

    def loss(p):
        return wpo.actor_loss(p, key, obs, policy=policy, q_fn=quadratic_q, anchor=policy(params, obs),
                              duals=init_kl_duals(cfg, d), cfg=cfg)[0]

    grads = jax.jit(jax.grad(loss))(params)

    dist = policy(params, obs)
    eps = jax.random.normal(key, (cfg.num_samples, b, d))  # the same draws: a = mu + sigma eps
    a = dist.mean + dist.std * eps
    v = expected_velocity(obs, a, cfg)
    d_mu, d_sigma = jnp.mean(v, axis=0), jnp.mean(eps * v, axis=0)
    assert float(jnp.min(dist.std)) < 0.8 and float(jnp.max(dist.std)) > 1.2  # sigma^2 != 1: the adaptor shows
    _, pullback = jax.vjp(lambda p: policy(p, obs), params)
    expected = pullback(DiagGaussian(mean=-d_mu / b, std=-d_sigma / b))[0]
    flat = lambda t: np.concatenate([np.ravel(x) for x in jax.tree.leaves(t)])  # noqa: E731
    np.testing.assert_allclose(flat(grads), flat(expected), rtol=2e-4, atol=2e-6)

    # and `update` differentiates exactly this function
    calls, actor_loss = [], wpo.actor_loss

    def spy(*args, **kwargs):
        calls.append(kwargs["cfg"])
        return actor_loss(*args, **kwargs)

    monkeypatch.setattr(wpo, "actor_loss", spy)
    two_dim = batch()._replace(action=jnp.tile(batch().action, (1, d)))
    agent.update(state, two_dim, jax.random.key(4))
    assert calls == [cfg]
