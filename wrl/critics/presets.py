"""The published configurations of the frontier critics, as presets every actor-critic agent accepts.

``wrl train --algo ALGO --preset crossq`` (or ``simba``, ``simbav2``, ``bro``) sets the critic, its width and the
training settings the paper trains it with; options given explicitly win. Settings that only some agents have
(the actor delay of SAC and TD3) apply where the agent has them. What the presets leave out, and why, is said in
each help line.
"""

from __future__ import annotations

from wrl.config import Preset

CRITIC_PRESETS: dict[str, Preset] = {
    "crossq": Preset(
        help="CrossQ (Bhatt et al., ICLR 2024): Batch Renormalization in a (2048, 2048) critic on [s, a] (after each "
             "activation and on the input), no target network, (s, a) and (s', a') in one pass; Adam beta1 0.5, "
             "learning rates 1e-3, one actor update per 3 critic updates, UTD 1, batch 256, 5000 random steps "
             "(Batch Renormalization in the actor, which SBX adds, is not used)",
        agent={"critic": "crossq", "critic_hidden": (2048, 2048), "critic_loss": "mse", "num_critics": 2,
               "renorm_momentum": 0.99, "renorm_warmup": 100_000, "actor_hidden": (256, 256), "actor_lr": 1e-3,
               "critic_lr": 1e-3, "adam_b1": 0.5, "policy_delay": 3},
        train={"batch_size": 256, "utd": 1, "update_every": 1, "learning_starts": 5_000, "n_step": 1},
    ),
    "simba": Preset(
        help="SimBa (Lee et al., 2024): running observation normalisation, a critic of 2 pre-LayerNorm residual "
             "blocks of width 512 (4x inverted bottleneck), learning rates 1e-4, batch 256, UTD 2 (the paper's actor, "
             "a 1-block SimBa of width 128, is an MLP of (256, 256) here; AdamW's weight decay is not used)",
        agent={"critic": "simba", "critic_hidden": (512, 512), "critic_loss": "mse", "actor_lr": 1e-4,
               "critic_lr": 1e-4},
        train={"normalize_obs": True, "batch_size": 256, "utd": 2, "update_every": 1},
    ),
    "simbav2": Preset(
        help="SimbaV2 (Lee et al., 2025): hyperspherical critic of 2 blocks of width 512 with weights projected onto "
             "the sphere after every update, a categorical critic of 101 bins on [-5, 5] (trained with the HL-Gauss "
             "loss), observation normalisation and reward normalisation by the running return scale (G_max 5), "
             "learning rates 1e-4 decaying linearly to 5e-5, batch 256, UTD 2 (DMC: add --action-repeat 2; the "
             "paper's SimbaV2 actor is an MLP of (256, 256) here)",
        agent={"critic": "simbav2", "critic_hidden": (512, 512), "critic_loss": "hl_gauss", "critic_bins": 101,
               "critic_v_min": -5.0, "critic_v_max": 5.0, "actor_lr": 1e-4, "critic_lr": 1e-4,
               "lr_schedule": "linear", "lr_final_fraction": 0.5},
        train={"normalize_obs": True, "normalize_reward": True, "reward_norm_g_max": 5.0, "batch_size": 256,
               "utd": 2, "update_every": 1},
    ),
    "bro": Preset(
        help="BRO (Nauman et al., 2024): BroNet critic of 2 residual blocks of width 512 with LayerNorm, 100 "
             "quantiles with the quantile Huber loss, UTD 10, resets at 15k, 50k, 250k, 500k and 750k steps, "
             "batch 128, learning rates 3e-4 (the optimistic dual actor and AdamW's weight decay are not used)",
        agent={"critic": "bro", "critic_hidden": (512, 512), "critic_loss": "quantile", "critic_quantiles": 100,
               "actor_lr": 3e-4, "critic_lr": 3e-4},
        train={"batch_size": 128, "utd": 10, "update_every": 1,
               "reset_at": (15_000, 50_000, 250_000, 500_000, 750_000)},
    ),
}
