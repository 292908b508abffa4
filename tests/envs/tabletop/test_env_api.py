"""Determinism, bad input, and the observation contract of the tabletop envs (real MuJoCo + rendering)."""

import json

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers the ids)
from envs.tabletop.pick_cube import SLOTS
from envs.tabletop.scene import JOINT_HIGH, JOINT_LOW


@pytest.fixture(scope="module")
def env():
    env = gym.make("vla/StackCube-v0", image_size=32, cameras=("front", "wrist"))
    yield env
    env.close()


def _rollout(env: gym.Env, seed: int, steps: int = 5) -> list[dict]:
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for _ in range(steps):
        obs, *_ = env.step(env.unwrapped.expert_action())
        out.append(obs)
    return out


def test_same_seed_same_observations(env: gym.Env) -> None:
    a, b = _rollout(env, seed=7), _rollout(env, seed=7)
    for oa, ob in zip(a, b, strict=True):
        np.testing.assert_array_equal(oa["agent_pos"], ob["agent_pos"])
        for cam in oa["pixels"]:
            np.testing.assert_array_equal(oa["pixels"][cam], ob["pixels"][cam])


def test_different_seeds_differ(env: gym.Env) -> None:
    descriptions, images = set(), []
    for seed in range(6):
        obs, _ = env.reset(seed=seed)
        descriptions.add(env.unwrapped.task_description)
        images.append(obs["pixels"]["front"])
    assert len(descriptions) > 1
    assert not np.array_equal(images[0], images[1])


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (np.zeros(5, np.float32), "shape"),
        (np.zeros((1, 6), np.float32), "shape"),
        (np.array([0, 0, np.nan, 0, 0, 0], np.float32), "elbow_flex"),
        (np.array([0, 0, 0, 0, 0, np.inf], np.float32), "non-finite"),
        ("open the gripper", "not numeric"),
    ],
)
def test_bad_action_raises_clear_error(env: gym.Env, action: object, message: str) -> None:
    env.reset(seed=0)
    before = env.unwrapped.data.qpos.copy()
    with pytest.raises(ValueError, match=message):
        env.step(action)
    np.testing.assert_array_equal(env.unwrapped.data.qpos, before)  # nothing was simulated


def test_out_of_range_action_is_clipped_to_the_joint_limits(env: gym.Env) -> None:
    env.reset(seed=0)
    env.step(np.full(6, 100.0, np.float32))
    np.testing.assert_allclose(env.unwrapped.data.ctrl[:6], JOINT_HIGH, rtol=1e-6)
    assert np.all(env.unwrapped.data.ctrl[:6] >= JOINT_LOW)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"split": "test"}, "unknown split"),
        ({"cameras": ("top",)}, "unknown camera"),
        ({"cameras": ()}, "cameras is empty"),
        ({"render_mode": "depth_array"}, "render_mode"),
        ({"image_size": 4}, "image_size"),
        ({"layout": "grid"}, "layout='grid' is unknown"),
        ({"layout": "slots", "jitter": 0.05}, "jitter=0.05"),
    ],
)
def test_bad_kwargs_raise_clear_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        gym.make("vla/PickCube-v0", **kwargs)


def test_slot_layout_puts_the_cubes_in_the_three_slots_in_shuffled_colours() -> None:
    env = gym.make("vla/TouchCube-v0", image_size=16, cameras=("front",), layout="slots", jitter=0.01)
    try:
        target_slots = set()
        for seed in range(12):
            env.reset(seed=seed)
            state = env.unwrapped.privileged_state()
            xy = np.array([state["objects"][f"cube{i}"]["pos"][:2] for i in range(3)])  # (3, 2)
            nearest = np.linalg.norm(xy[:, None] - SLOTS[None], axis=-1).argmin(1)  # (3,)
            assert sorted(nearest) == [0, 1, 2]  # one cube per slot
            assert np.abs(xy - SLOTS[nearest]).max() <= 0.01 + 1e-6  # within the jitter
            target_slots.add(int(nearest[0]))  # cube0 is the instructed one
        assert target_slots == {0, 1, 2}  # the named cube is not always in the same slot
    finally:
        env.close()


def test_privileged_state_is_json(env: gym.Env) -> None:
    env.reset(seed=3)
    state = env.unwrapped.privileged_state()
    assert json.loads(json.dumps(state)) == state
    assert state["task"] == "StackCube" and state["instruction"] == env.unwrapped.task_description
    assert set(state["objects"]) == {"cube0", "cube1", "cube2"}


def test_one_camera_and_no_render_mode() -> None:
    env = gym.make("vla/TouchCube-v0", image_size=40, cameras=["wrist"])
    try:
        obs, _ = env.reset(seed=1)
        assert list(obs["pixels"]) == ["wrist"] and obs["pixels"]["wrist"].shape == (40, 40, 3)
        assert env.render() is None
    finally:
        env.close()


def test_multitask_samples_every_task_and_honours_options() -> None:
    env = gym.make("vla/MultiTask-v0", image_size=32, cameras=("front",))
    try:
        seen = set()
        for seed in range(40):
            env.reset(seed=seed)
            seen.add(env.unwrapped.task_name)
        assert seen == set(env.unwrapped.tasks) and len(seen) >= 6
        env.reset(seed=0, options={"task": "PushCube"})
        assert env.unwrapped.task_name == "PushCube"
        assert "zone" in env.unwrapped.privileged_state()["target"]
        with pytest.raises(ValueError, match="not one of"):
            env.reset(seed=0, options={"task": "FoldLaundry"})
    finally:
        env.close()
