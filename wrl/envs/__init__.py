"""Environments: ids, wrappers, vectorisation, and small exact test envs."""

from wrl.envs.make import EnvSpec, env_factory, env_spec, import_env_modules, make_env
from wrl.envs.vector import VecEnv, VecStep, episode_seed

__all__ = ["EnvSpec", "VecEnv", "VecStep", "env_factory", "env_spec", "episode_seed", "import_env_modules",
           "make_env"]
