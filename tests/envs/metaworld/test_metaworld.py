"""Meta-World behind our convention: every id resets and steps, instructions, seeds, camera, experts.

Real Meta-World envs, real MuJoCo physics and EGL rendering (small images to keep it fast).
"""

import gymnasium as gym
import numpy as np
import pytest

import envs
from envs.metaworld import (
    DIFFICULTY,
    HELDOUT_PARAPHRASES,
    MT10_TASKS,
    TASK_DIFFICULTY,
    TASK_INSTRUCTIONS,
    TASK_NAMES,
)
from envs.metaworld.env import _upside_down
from vla.apps.eval_report import _metaworld_groups, summarize

SIZE = 32


def test_task_names_sets_and_difficulty_groups_match_metaworld() -> None:
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS, MT10_V3

    assert sorted(TASK_NAMES) == sorted(ALL_V3_ENVIRONMENTS) and len(TASK_NAMES) == 50
    assert MT10_TASKS == tuple(MT10_V3)
    assert {g: len(t) for g, t in DIFFICULTY.items()} == {"easy": 28, "medium": 11, "hard": 6, "very_hard": 5}
    assert sorted(TASK_DIFFICULTY) == sorted(TASK_NAMES)  # a partition: every task in exactly one group
    assert sum(len(t) for t in DIFFICULTY.values()) == 50
    assert all(i in gym.registry for i in envs.metaworld.ALL_IDS) and len(envs.metaworld.ALL_IDS) == 52


def test_an_instruction_for_every_task_and_paraphrases_that_differ() -> None:
    assert sorted(TASK_INSTRUCTIONS) == sorted(TASK_NAMES)
    trained = set(TASK_INSTRUCTIONS.values())
    assert len(trained) == 50  # no two tasks share an instruction
    for task in TASK_NAMES:
        held = HELDOUT_PARAPHRASES[task]
        assert TASK_INSTRUCTIONS[task].strip() and len(held) == 2 and len(set(held)) == 2
        assert not trained & set(held), task  # a held-out phrasing is nobody's training instruction


@pytest.mark.parametrize("env_id", list(envs.metaworld.MT1_IDS))
def test_every_task_id_resets_and_steps(env_id: str) -> None:
    env = gym.make(env_id, image_size=SIZE)
    try:
        obs, info = env.reset(seed=0)
        assert (
            obs["pixels"]["corner2"].shape == (SIZE, SIZE, 3) and obs["pixels"]["corner2"].dtype == np.uint8
        )
        assert obs["pixels"]["corner2"].std() > 5  # a real picture, not a blank buffer
        assert obs["agent_pos"].shape == (4,) and obs["agent_pos"].dtype == np.float32
        task = envs.metaworld.MT1_IDS[env_id]
        assert info == {"is_success": False, "task_description": TASK_INSTRUCTIONS[task], "task": task}
        action = env.unwrapped.expert_action()
        assert action.shape == (4,) and action.dtype == np.float32 and np.all(np.abs(action) <= 1)
        obs, reward, _, truncated, info = env.step(action)
        assert env.observation_space.contains(obs) and np.isfinite(reward) and not truncated
        assert isinstance(info["is_success"], bool)
    finally:
        env.close()


def test_same_seed_same_observations_other_seeds_other_tasks_and_layouts() -> None:
    a, b = gym.make("metaworld/MT10", image_size=SIZE), gym.make("metaworld/MT10", image_size=SIZE)
    try:
        for seed in (3, 11):
            obs_a, info_a = a.reset(seed=seed)
            obs_b, info_b = b.reset(seed=seed)
            assert info_a == info_b
            np.testing.assert_array_equal(obs_a["pixels"]["corner2"], obs_b["pixels"]["corner2"])
            np.testing.assert_array_equal(obs_a["agent_pos"], obs_b["agent_pos"])
            step_a, step_b = a.step(a.unwrapped.expert_action()), b.step(b.unwrapped.expert_action())
            np.testing.assert_array_equal(step_a[0]["pixels"]["corner2"], step_b[0]["pixels"]["corner2"])
        again, _ = a.reset(seed=3)  # the same env, reset to an earlier seed
        first, _ = b.reset(seed=3)
        np.testing.assert_array_equal(again["pixels"]["corner2"], first["pixels"]["corner2"])
        tasks = {a.reset(seed=s)[1]["task"] for s in range(12)}
        assert len(tasks) >= 4 and tasks <= set(MT10_TASKS)  # the seed draws the task
        goals = []
        for seed in (0, 1):
            a.reset(seed=seed, options={"task": "reach-v3"})
            goals.append(a.unwrapped._raw[36:39].copy())  # Meta-World's goal position
        assert not np.allclose(*goals)  # the seed moves the goal
    finally:
        a.close()
        b.close()


def test_task_option_task_kwarg_and_splits() -> None:
    env = gym.make("metaworld/MT50", image_size=SIZE, split="heldout_phrasing")
    try:
        _, info = env.reset(seed=0, options={"task": "door-open-v3"})
        assert (
            info["task"] == "door-open-v3" and info["task_description"] in HELDOUT_PARAPHRASES["door-open-v3"]
        )
        with pytest.raises(ValueError, match="not one of this env's tasks"):
            env.reset(seed=0, options={"task": "fly-v3"})
    finally:
        env.close()
    fixed = gym.make("metaworld/MT10", task="push-v3", image_size=SIZE)
    try:
        assert {fixed.reset(seed=s)[1]["task"] for s in range(3)} == {"push-v3"}
    finally:
        fixed.close()
    with pytest.raises(ValueError, match="no held-out combinations"):
        gym.make("metaworld/reach-v3", split="heldout_combo")
    with pytest.raises(ValueError, match="not one of this env's tasks"):
        gym.make("metaworld/MT10", task="assembly-v3")


def test_bad_actions_are_refused() -> None:
    env = gym.make("metaworld/reach-v3", image_size=SIZE)
    try:
        env.reset(seed=0)
        for bad, match in [(np.zeros(6), r"shape \(4,\)"), ([0, 0, np.nan, 0], "NaN"), ("up", "4 numbers")]:
            with pytest.raises(ValueError, match=match):
                env.unwrapped.step(bad)
    finally:
        env.close()


def test_corner2_is_rendered_the_right_way_up() -> None:
    """Meta-World's corner2 camera looks with its image-up axis pointing down: we rotate it by 180 degrees."""
    env = gym.make("metaworld/pick-place-v3", image_size=64)
    try:
        obs, _ = env.reset(seed=0)
        u = env.unwrapped
        mw, cams, _ = u._task_env("pick-place-v3")
        assert _upside_down(mw.data, mw.model.camera("corner2").id)
        assert not _upside_down(mw.data, mw.model.camera("topview").id)
        raw = cams.render_one(mw.data, "corner2", 64)
        np.testing.assert_array_equal(obs["pixels"]["corner2"], raw[::-1, ::-1])
        # right way up: the hand (above the table) is drawn above the table's centre of mass of wood
        rows = np.arange(64)[:, None]
        red = (obs["pixels"]["corner2"][..., 0] > 120) & (obs["pixels"]["corner2"][..., 1] < 60)
        brown = (obs["pixels"]["corner2"][..., 0] > 80) & (obs["pixels"]["corner2"][..., 0] < 160)
        brown &= np.abs(obs["pixels"]["corner2"][..., 1].astype(int) - 70) < 30
        assert (rows * red).sum() / red.sum() < (rows * brown).sum() / brown.sum()  # arm above the table
    finally:
        env.close()


def test_the_expert_solves_reach_in_our_harness() -> None:
    env = gym.make("metaworld/reach-v3", image_size=SIZE)
    try:
        env.reset(seed=0)
        for _ in range(200):
            _, _, terminated, truncated, info = env.step(env.unwrapped.expert_action())
            if terminated or truncated:
                break
        assert terminated and info["is_success"]
    finally:
        env.close()


def test_eval_runs_each_task_of_mt10_alone_and_the_report_groups_by_difficulty() -> None:
    from vla.apps.eval import eval_tasks
    from vla.apps.eval_episodes import EpisodeResult

    tasks = eval_tasks(
        {"id": "metaworld/MT10", "kwargs": {"split": "train", "image_size": 64}}, {"max_steps": None}
    )
    assert [t.name for t in tasks] == list(MT10_TASKS)
    assert all(t.kwargs == {"image_size": 64, "task": t.name} and t.max_steps == 500 for t in tasks)
    episodes = [
        EpisodeResult(task, "train", seed, success=(task == "reach-v3" or seed == 0), length=10)
        for task in ("reach-v3", "push-v3", "pick-place-v3")
        for seed in range(4)
    ]
    text = "\n".join(_metaworld_groups(summarize(episodes)))
    assert "| easy | train | 1/28 | 100.0% (4/4) |" in text
    assert "| hard | train | 2/6 | 25.0% (2/8) |" in text
    assert "| all | train | 3/50 | 50.0% (6/12) |" in text
    assert "| this evaluation (train split, 3/50 tasks) | 50.0 |" in text
    assert "| SmolVLA (0.45B) (published) | 57.3 |" in text and "Evo-1 (0.77B)" in text
    other = [EpisodeResult("PickCube", "train", 0, success=True, length=3)]
    assert _metaworld_groups(summarize(other)) == []  # tabletop reports are unchanged
