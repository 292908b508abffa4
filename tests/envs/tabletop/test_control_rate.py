"""control_hz: the physics step stays 5 ms, steps and step limits follow the rate, episodes last as many
seconds (real MuJoCo physics, the real scripted experts)."""

import gymnasium as gym
import numpy as np
import pytest

import envs
from envs.tabletop import clock
from envs.tabletop.scripted import Plan, ScriptedExpert

LIMITS_10HZ = {
    "vla/TouchCube-v0": 40, "vla/PickCube-v0": 50, "vla/PushCube-v0": 80, "vla/SlideCube-v0": 60,
    "vla/PlaceInBowl-v0": 80, "vla/StackCube-v0": 80, "vla/MultiTask-v0": 80,
}  # fmt: skip


def _make(env_id: str, **kwargs: object) -> gym.Env:
    return gym.make(env_id, image_size=16, cameras=("front",), **kwargs)


def test_physics_steps_per_control_step() -> None:
    assert [clock.physics_steps(10, k) for k in range(50)] == [20] * 50
    at_30 = [clock.physics_steps(30, k) for k in range(300)]
    assert at_30[:6] == [7, 6, 7, 7, 6, 7]
    # the simulated clock stays within half a physics step (2.5 ms) of k / 30 s, exact every 3 steps
    elapsed_s = np.cumsum(at_30) * clock.TIMESTEP
    ideal_s = np.arange(1, 301) / 30
    assert np.abs(elapsed_s - ideal_s).max() <= clock.TIMESTEP / 2 + 1e-12
    assert elapsed_s[2::3] == pytest.approx(ideal_s[2::3], abs=1e-12)
    assert sum(clock.physics_steps(25, k) for k in range(25)) == 200  # 200 / 25: 8 each


@pytest.mark.parametrize("control_hz", [10, 30])
def test_simulated_time_advances_one_control_period_per_step(control_hz: int) -> None:
    env = _make("vla/PickCube-v0", control_hz=control_hz)
    try:
        obs, _ = env.reset(seed=0)
        sim = env.unwrapped
        assert sim.model.opt.timestep == 0.005 and sim.control_hz == control_hz
        times = []
        for _ in range(2 * control_hz):  # 2 s
            obs, *_ = env.step(obs["agent_pos"])
            times.append(sim.data.time)
        assert times[-1] == pytest.approx(2.0, abs=1e-9)
        periods = np.diff([0.0, *times])
        assert periods.mean() == pytest.approx(1 / control_hz, abs=1e-9)
        assert np.abs(periods - 1 / control_hz).max() <= clock.TIMESTEP  # 30 Hz: 35 and 30 ms
    finally:
        env.close()


@pytest.mark.parametrize("env_id", envs.ALL_IDS)
def test_step_limits_scale_with_control_hz(env_id: str) -> None:
    assert envs.max_episode_steps(env_id) == LIMITS_10HZ[env_id]
    assert envs.max_episode_steps(env_id, {"control_hz": 10}) == LIMITS_10HZ[env_id]
    assert envs.max_episode_steps(env_id, {"control_hz": 30}) == 3 * LIMITS_10HZ[env_id]
    assert envs.max_episode_steps(env_id, {"control_hz": 30, "time_limit_s": 2.0}) == 60
    assert envs.max_episode_steps(env_id, {"time_limit_s": None}) is None
    assert envs.TASK_MAX_STEPS.get(env_id, LIMITS_10HZ[env_id]) == LIMITS_10HZ[env_id]


@pytest.mark.parametrize(("env_id", "control_hz"), [("vla/PickCube-v0", 10), ("vla/PickCube-v0", 30),
                                                    ("vla/MultiTask-v0", 30)])  # fmt: skip
def test_env_truncates_itself_at_its_limit(env_id: str, control_hz: int) -> None:
    """Holding still never succeeds: the episode ends truncated at exactly the scaled limit (5 s / 8 s)."""
    limit = envs.max_episode_steps(env_id, {"control_hz": control_hz})
    env = _make(env_id, control_hz=control_hz)
    try:
        assert env.unwrapped.max_episode_steps == limit
        for _ in range(2):  # the count restarts on reset
            obs, _ = env.reset(seed=3, options={"task": "PickCube"} if "Multi" in env_id else None)
            flags = []
            for _ in range(limit):
                obs, _, terminated, truncated, _ = env.step(obs["agent_pos"])
                flags.append((terminated, truncated))
            assert flags[:-1] == [(False, False)] * (limit - 1) and flags[-1] == (False, True)
            if env_id == "vla/PickCube-v0":
                assert env.unwrapped.data.time == pytest.approx(5.0, abs=1e-9)  # 5 s at either rate
    finally:
        env.close()


def test_time_limit_s_none_never_truncates() -> None:
    env = _make("vla/TouchCube-v0", time_limit_s=None)
    try:
        obs, _ = env.reset(seed=0)
        assert env.unwrapped.max_episode_steps is None
        assert not any(env.step(obs["agent_pos"])[3] for _ in range(45))  # past the registered 40
    finally:
        env.close()


@pytest.mark.parametrize("env_id", ["vla/PickCube-v0", "vla/MultiTask-v0"])
def test_render_fps_follows_control_hz(env_id: str) -> None:
    for control_hz in (10, 30):
        env = _make(env_id, control_hz=control_hz)
        try:
            assert env.metadata["render_fps"] == control_hz == env.unwrapped.control_hz
        finally:
            env.close()
    default = _make(env_id)
    try:
        assert default.metadata["render_fps"] == 10
    finally:
        default.close()


@pytest.mark.parametrize("bad", [0, -10, 12.5, 201, "30", True, None])
@pytest.mark.parametrize("env_id", ["vla/StackCube-v0", "vla/MultiTask-v0"])
def test_bad_control_hz_raises_clear_error(env_id: str, bad: object) -> None:
    with pytest.raises(
        ValueError, match=rf"control_hz={bad!r} is not a valid control rate: .* from 1 to 200"
    ):
        _make(env_id, control_hz=bad)


def test_bad_control_hz_and_time_limit_errors_outside_the_env() -> None:
    with pytest.raises(ValueError, match=r"control_hz=0 is not a valid control rate"):
        envs.max_episode_steps("vla/PickCube-v0", {"control_hz": 0})
    with pytest.raises(ValueError, match=r"control_hz=7.5 is not a valid control rate"):
        ScriptedExpert(Plan([], yaw=0.0), control_hz=7.5)
    with pytest.raises(ValueError, match=r"time_limit_s=0 must be a positive number of seconds"):
        _make("vla/PickCube-v0", time_limit_s=0)
    assert clock.check_control_hz(30.0) == 30 and clock.check_control_hz(np.int64(25)) == 25


def _expert_episode_s(env: gym.Env, seed: int) -> tuple[bool, float]:
    env.reset(seed=seed)
    steps, done = 0, False
    while not done:
        _, _, terminated, truncated, info = env.step(env.unwrapped.expert_action())
        steps, done = steps + 1, terminated or truncated
    return bool(info["is_success"]), steps / env.unwrapped.control_hz


@pytest.mark.parametrize("env_id", envs.TASK_IDS)
def test_expert_episodes_last_as_many_seconds_at_30_hz(env_id: str) -> None:
    """The expert's motion per step scales: ~3x the steps at 30 Hz, about the same seconds."""
    at_10, at_30 = _make(env_id), _make(env_id, control_hz=30)
    try:
        for seed in range(2):
            won_10, s_10 = _expert_episode_s(at_10, seed)
            won_30, s_30 = _expert_episode_s(at_30, seed)
            assert won_10 and won_30
            # 30 Hz checks its waypoints 3x as often, so it may finish a little sooner
            assert 0.75 * s_10 - 0.05 <= s_30 <= 1.1 * s_10 + 0.05, (seed, s_10, s_30)
    finally:
        at_10.close()
        at_30.close()
