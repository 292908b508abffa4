"""ExpertPolicy behind the Policy interface, built through the registry, in a real env."""

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401
from policies.base import observation_from_env
from policies.expert.policy import ExpertPolicy, limited_config
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


def test_the_expert_within_a_bridges_limits_records_demos_the_bridge_would_not_slow(tmp_path) -> None:
    """`vla record expert_limits=so101`: real PickCube episodes recorded through the bridge's own
    SafetyLayer. The recorded actions obey so101's velocity and acceleration limits (the free expert's
    do not), the expert still succeeds, and each episode says how often the limits slowed it."""
    from vla.apps.record import bridge_limits, record_dataset
    from vla.bridge.safety import check_stream
    from vla.constants import ACTION
    from vla.data import meta
    from vla.data.stats import read_vectors

    limits = bridge_limits("so101")
    cfg = limited_config(limits)
    kwargs = {"layout": "slots", "cameras": ["front"], "image_size": 32}
    streams = {}
    for name, policy_kwargs in (("free", {}), ("limited", {"limits": limits})):
        root = tmp_path / name
        result = record_dataset("vla/PickCube-v0", root, 2, "train", 200000, env_kwargs=kwargs,
                                policy_kwargs=policy_kwargs, progress=False)  # fmt: skip
        assert result.successes == result.attempts == 2
        actions = read_vectors(root, [ACTION])[ACTION]  # (N, 6) in frame order: episode 0, then 1
        episodes = meta.read_sidecar(root)  # meta/vla_episodes.jsonl
        first = int(episodes[0]["length"])
        streams[name] = [actions[:first], actions[first:]]
        assert all(("rate_limited_steps" in e) == (name == "limited") for e in episodes)
    tol = 1e-4  # actions are stored as float32
    assert all(check_stream(a, cfg, 0.1, tol) == [] for a in streams["limited"])
    assert all(check_stream(a, cfg, 0.1, tol) != [] for a in streams["free"])
    assert all(len(a) > len(f) for a, f in zip(streams["limited"], streams["free"], strict=True))  # slower
    with pytest.raises(SystemExit, match=r"expert_limits=nope: no .*nope.yaml; use one of \[.*'so101'"):
        bridge_limits("nope")
