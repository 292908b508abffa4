"""Split semantics: held-out phrasings and held-out combinations never appear in "train"."""

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401
from envs.tabletop import instructions

TASKS = tuple(instructions.TEMPLATES)


@pytest.mark.parametrize("task", TASKS)
def test_templates_and_combos_are_disjoint(task: str) -> None:
    train_t = set(instructions.templates(task, "train"))
    held_t = set(instructions.templates(task, "heldout_phrasing"))
    assert len(train_t) >= 3 and len(held_t) >= 2 and not train_t & held_t
    assert instructions.templates(task, "heldout_combo") == instructions.templates(task, "train")
    train_c = set(instructions.combos(task, "train"))
    held_c = set(instructions.combos(task, "heldout_combo"))
    assert held_c and not train_c & held_c
    assert train_c | held_c == set(instructions.all_combos(task))
    assert set(instructions.combos(task, "heldout_phrasing")) == train_c


@pytest.mark.parametrize("task", TASKS)
def test_sampled_instructions_respect_the_split(task: str) -> None:
    rng = np.random.default_rng(0)
    train_texts = {
        instructions.render(t, c)
        for t in instructions.templates(task, "train")
        for c in instructions.all_combos(task)
    }
    for _ in range(200):
        combo, text = instructions.sample(task, "train", rng)
        assert combo not in instructions.HELDOUT_COMBOS[task] and text in train_texts
        combo, text = instructions.sample(task, "heldout_phrasing", rng)
        assert combo not in instructions.HELDOUT_COMBOS[task] and text not in train_texts
        combo, text = instructions.sample(task, "heldout_combo", rng)
        assert combo in instructions.HELDOUT_COMBOS[task] and text in train_texts


@pytest.mark.parametrize("split", instructions.SPLITS)
def test_env_scene_matches_the_instruction(split: str) -> None:
    """The instructed object's colour in the scene is the colour the instruction names."""
    env = gym.make("vla/PlaceInBowl-v0", split=split, image_size=16, cameras=("front",))
    try:
        for seed in range(5):
            env.reset(seed=seed)
            u = env.unwrapped
            obj, tgt = u.combo
            assert obj in u.task_description and tgt in u.task_description
            rgba = u.model.geom_rgba[u.model.geom("cube0_geom").id][:3]
            np.testing.assert_allclose(rgba, instructions.COLORS[obj])
            assert (u.combo in instructions.HELDOUT_COMBOS["PlaceInBowl"]) == (split == "heldout_combo")
    finally:
        env.close()
