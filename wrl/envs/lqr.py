"""Ergodic LQR as a Gymnasium environment whose exact optimum is known (``wrl/LQR-v0``).

    s' = A s + B a + w,  w ~ N(0, W),   reward = -(s^T Qc s + a^T R a),

a continuing task: it never terminates (episodes end by the TimeLimit, which is a truncation, so agents
bootstrap), and the optimal long-run average reward is -J* with J* = tr(P* W) from the discrete Riccati
equation (:func:`wrl.exact.lqr.lqr_optimum`); with an entropy bonus tau H the optimum is N(-K* s, Sigma*)
with Sigma* = (tau/2)(R + B^T P* B)^{-1}.

Systems (``gym.make("wrl/LQR-v0", system=...)``):

- ``"default"``: 2-D state (position, velocity), 1-D action, stable A (spectral radius 0.954);
- ``"scalar"``: s' = 0.9 s + a + w, cost s^2 + a^2, w ~ N(0, 1);
- ``"double_integrator"``: discretised double integrator (dt = 0.1, open-loop unstable);
- ``"random"``: :func:`wrl.exact.lqr.random_stable_system` with ``state_dim``, ``action_dim``, ``system_seed``
  (spectral radius 0.9, random positive definite Qc, R, W);
- or explicit matrices ``A, B, Qc, R, W`` (they override the named system).

Actions are clipped to the Box [-action_bound, action_bound]^m. By default action_bound is 6 standard
deviations of the optimal action under its stationary law (rounded up to 0.1), so clipping changes the
optimal average cost by less than ~1e-8 relative. The first state is drawn from the stationary law of the
optimal policy. If |s|_inf exceeds ``state_limit`` (default 100 optimal stationary standard deviations, a
run-away policy on an unstable system) the episode is truncated, never terminated.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from wrl.errors import ConfigError, EnvError
from wrl.exact.lqr import LQROptimum, LQRSystem, lqr_optimum, named_system

__all__ = ["ENV_ID", "LQREnv", "make_system", "register_envs"]

ENV_ID = "wrl/LQR-v0"


def make_system(
    system: str = "default",
    state_dim: int = 3,
    action_dim: int = 1,
    system_seed: int = 0,
    A: Any = None,
    B: Any = None,
    Qc: Any = None,
    R: Any = None,
    W: Any = None,
) -> LQRSystem:
    """The named system of :func:`wrl.exact.lqr.named_system`; bad input raises EnvError."""
    try:
        return named_system(system, state_dim, action_dim, system_seed, A=A, B=B, Qc=Qc, R=R, W=W)
    except ConfigError as e:
        raise EnvError(str(e)) from None


class LQREnv(gym.Env):
    """Continuing linear-quadratic regulator; reward = -(s^T Qc s + a^T R a). See the module docstring."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}  # noqa: RUF012 (Gymnasium convention)

    def __init__(
        self,
        system: str = "default",
        state_dim: int = 3,
        action_dim: int = 1,
        system_seed: int = 0,
        A: Any = None,
        B: Any = None,
        Qc: Any = None,
        R: Any = None,
        W: Any = None,
        action_bound: float | None = None,
        state_limit: float | None = None,
        render_mode: str | None = None,
    ):
        self.system = make_system(system, state_dim, action_dim, system_seed, A, B, Qc, R, W)
        try:
            self.optimum: LQROptimum = lqr_optimum(self.system)
        except Exception as e:  # pragma: no cover - Riccati failure means an unstabilisable system
            raise EnvError(f"LQR system has no Riccati solution ({e}); (A, B) must be stabilisable") from None
        P = self.optimum
        if not np.all(np.isfinite(P.P)):
            raise EnvError("LQR system has no finite Riccati solution; (A, B) must be stabilisable")
        n, m = self.system.n, self.system.m
        act_std = np.sqrt(np.maximum(np.diag(P.K @ P.X @ P.K.T), 0.0))
        if action_bound is None:
            action_bound = max(math.ceil(60.0 * float(np.max(act_std))) / 10.0, 0.1)
        if action_bound <= 0:
            raise EnvError(f"action_bound must be > 0, got {action_bound}")
        self._state_std = np.sqrt(np.diag(P.X))
        self.state_limit = float(100.0 * np.max(self._state_std) if state_limit is None else state_limit)
        self.action_bound = float(action_bound)
        self.action_space = gym.spaces.Box(-self.action_bound, self.action_bound, shape=(m,), dtype=np.float32)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(n,), dtype=np.float32)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise EnvError(f"render_mode {render_mode!r} is not supported by {ENV_ID}; use rgb_array or none")
        self.render_mode = render_mode
        self._A = np.asarray(self.system.A)
        self._B = np.asarray(self.system.B)
        self._Qc = np.asarray(self.system.Qc)
        self._R = np.asarray(self.system.R)
        self._W_chol = np.linalg.cholesky(np.asarray(self.system.W))
        self._X_chol = np.linalg.cholesky(P.X + 1e-300 * np.eye(n))
        self._s = np.zeros(n)

    # ------------------------------------------------------------------ exact answers
    @property
    def optimal_average_cost(self) -> float:
        """J* = tr(P* W), the minimal long-run average cost."""
        return self.optimum.J

    @property
    def optimal_average_reward(self) -> float:
        """-J*, the best long-run average reward (per step)."""
        return -self.optimum.J

    @property
    def optimal_gain(self) -> np.ndarray:
        """K* (m, n): the optimal action is a = -K* s."""
        return self.optimum.K

    def optimal_action(self, obs: np.ndarray) -> np.ndarray:
        """a* = -K* s, clipped to the action box."""
        a = -self.optimum.K @ np.asarray(obs, dtype=np.float64)
        return np.clip(a, -self.action_bound, self.action_bound).astype(np.float32)

    def entropic_optimum(self, tau: float) -> LQROptimum:
        """Optimum of the entropy-regularised objective (cost J - tau H): K*, Sigma* = (tau/2) G*^{-1}, J_tau*."""
        return lqr_optimum(self.system, tau)

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._s = self._X_chol @ self.np_random.standard_normal(self.system.n)
        return self._s.astype(np.float32), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        a = np.clip(np.asarray(action, dtype=np.float64).reshape(self.system.m), -self.action_bound,
                    self.action_bound)
        s = self._s
        cost = float(s @ self._Qc @ s + a @ self._R @ a)
        w = self._W_chol @ self.np_random.standard_normal(self.system.n)
        self._s = self._A @ s + self._B @ a + w
        truncated = bool(not np.all(np.abs(self._s) <= self.state_limit))
        return self._s.astype(np.float32), -cost, False, truncated, {"cost": cost}

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        size = 128
        img = np.full((size, size, 3), 255, dtype=np.uint8)
        img[size // 2, :, :] = 200
        img[:, size // 2, :] = 200
        scale = (size / 2 - 4) / (4.0 * max(float(np.max(self._state_std)), 1e-12))
        x = self._s[0]
        y = self._s[1] if self.system.n > 1 else 0.0
        px = int(np.clip(size / 2 + scale * x, 2, size - 3))
        py = int(np.clip(size / 2 - scale * y, 2, size - 3))
        img[py - 2:py + 3, px - 2:px + 3] = (200, 30, 30)
        return img


def register_envs() -> None:
    """Register ``wrl/LQR-v0`` with Gymnasium; idempotent (a second call, or a re-import, changes nothing and
    does not warn). Runs when this module is imported.

    Gymnasium 1.x has no plugin entry points (``load_plugin_envs`` was removed in 1.0), so a fresh process must
    import this module before ``gym.make("wrl/LQR-v0")``, or name it in the id:
    ``gym.make("wrl.envs.lqr:wrl/LQR-v0")`` imports it first.
    """
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point="wrl.envs.lqr:LQREnv", max_episode_steps=200)


register_envs()
