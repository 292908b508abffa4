"""ExpertPolicy behind the Policy interface, built through the registry, in a real env."""

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401
from policies.base import observation_from_env
from policies.expert.policy import ExpertPolicy
from policies.registry import make_policy


def test_registry_expert_solves_pick_cube() -> None:
    env = gym.make("vla/PickCube-v0", image_size=32, cameras=("front", "wrist"))
    try:
        policy = make_policy("expert", env=env)
        assert isinstance(policy, ExpertPolicy)
        for seed in range(3):
            obs, info = env.reset(seed=seed)
            policy.reset()
            terminated = truncated = False
            while not (terminated or truncated):
                action = policy.select_action(observation_from_env(obs, env.unwrapped.task_description))
                assert action.shape == (6,) and action.dtype == np.float32
                obs, _, terminated, truncated, info = env.step(action)
            assert info["is_success"]
        assert policy.predict_action_chunk({}).shape == (1, 6)
    finally:
        env.close()


def test_expert_policy_rejects_an_env_without_expert() -> None:
    env = gym.make("CartPole-v1")
    with pytest.raises(ValueError, match="no scripted expert"):
        ExpertPolicy(env)
