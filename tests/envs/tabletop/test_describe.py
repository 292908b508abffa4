"""The scene description (envs/tabletop/describe.py) against what the front camera's image shows.

Checked on rendered images, not on the description's own arithmetic: the pixel it gives for each cube
shows that cube's colour, and the cubes' left-to-right order in it is the order of their colour blobs
in the image. Real MuJoCo physics and EGL rendering.
"""

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401
from envs.tabletop.scene import COLORS

SIZE = 96


def chroma(rgb: np.ndarray) -> np.ndarray:
    """Colour without brightness (r, g, b) / (r + g + b): shading changes brightness, not this."""
    rgb = np.asarray(rgb, dtype=float)
    return rgb / np.maximum(rgb.sum(axis=-1, keepdims=True), 1e-6)


def colour_mask(image: np.ndarray, colour: str) -> np.ndarray:
    """(H, W) saturated pixels (not the grey arm, the beige table) whose nearest colour is `colour`."""
    names = list(COLORS)
    palette = chroma(np.array([COLORS[n] for n in names]))  # (6, 3)
    nearest = np.abs(chroma(image)[..., None, :] - palette).sum(axis=-1).argmin(axis=-1)  # (H, W)
    saturated = image.max(axis=-1).astype(int) - image.min(axis=-1) > 60
    return saturated & (nearest == names.index(colour))


@pytest.mark.parametrize("env_id", ["vla/PickCube-v0", "vla/StackCube-v0"])
def test_pixels_and_left_to_right_order_match_the_rendered_image(env_id: str) -> None:
    env = gym.make(env_id, image_size=SIZE, cameras=("front",))
    for seed in range(6):
        obs, _ = env.reset(seed=seed)
        image, scene = obs["pixels"]["front"], env.unwrapped.describe_scene("front")
        assert scene["image_size"] == SIZE and scene["held"] is None
        blobs = {}
        for cube in scene["cubes"]:
            u, v = np.floor(cube["pixel"]).astype(int)
            assert colour_mask(image, cube["colour"])[v, u], (seed, cube)  # the cube is where it is said
            _, cols = np.nonzero(colour_mask(image, cube["colour"]))
            assert 10 < len(cols) < 200 and cube["visible"] == 1.0  # one cube's blob, nothing in front
            blobs[cube["colour"]] = cols.mean()
        by_image = sorted(blobs, key=blobs.get)
        by_scene = [c["colour"] for c in sorted(scene["cubes"], key=lambda c: c["pixel"][0])]
        assert by_image == by_scene, seed
    env.close()


def test_colours_follow_the_instruction_and_bowls_are_described() -> None:
    env = gym.make("vla/PlaceInBowl-v0", image_size=SIZE, cameras=("front",))
    env.reset(seed=3)
    scene = env.unwrapped.describe_scene()
    cube_colour, bowl_colour = env.unwrapped.combo
    assert scene["object"] == "cube0" and scene["target"] == "bowl0"
    assert scene["cubes"][0]["colour"] == cube_colour and scene["bowls"][0]["colour"] == bowl_colour
    assert cube_colour in scene["instruction"] and len(scene["bowls"]) == 2 and scene["zones"] == []
    bowl = env.unwrapped.data.body("bowl1").xpos
    assert scene["bowls"][1]["pos"] == pytest.approx(bowl.tolist())
    env.close()


def test_held_cube_and_visibility_along_an_expert_pick() -> None:
    """Held only once the cube hangs in the gripper; the arm coming down hides part of it."""
    env = gym.make("vla/PickCube-v0", image_size=SIZE, cameras=("front",))
    env.reset(seed=3)
    unwrapped = env.unwrapped
    held, visible = [], []
    done = False
    while not done:
        scene = unwrapped.describe_scene()
        held.append(scene["held"])
        visible.append(scene["cubes"][0]["visible"])
        *_, terminated, truncated, _ = env.step(unwrapped.expert_action())
        done = terminated or truncated
    assert terminated and unwrapped.describe_scene()["held"] == "cube0"  # lifted 7 cm: in the gripper
    assert held[0] is None and set(held) <= {None, "unclear", "cube0"}
    assert visible[0] == 1.0 and 0.3 < min(visible) < 0.95  # fingers in front of it, never all of it
    env.close()


def test_a_cube_out_of_view_is_not_visible() -> None:
    env = gym.make("vla/TouchCube-v0", image_size=SIZE, cameras=("front",))
    env.reset(seed=0)
    unwrapped = env.unwrapped
    adr = unwrapped.model.joint("cube2_joint").qposadr[0]
    unwrapped.data.qpos[adr : adr + 3] = (-1.0, 1.5, 0.015)  # behind the camera's view
    import mujoco

    mujoco.mj_forward(unwrapped.model, unwrapped.data)
    visible = {c["name"]: c["visible"] for c in unwrapped.describe_scene()["cubes"]}
    assert visible == {"cube0": 1.0, "cube1": 1.0, "cube2": 0.0}
    env.close()


def test_multitask_describes_its_current_task() -> None:
    env = gym.make("vla/MultiTask-v0", image_size=SIZE, cameras=("front",))
    env.reset(seed=0, options={"task": "PushCube"})
    scene = env.unwrapped.describe_scene()
    assert scene["task"] == "PushCube" and len(scene["zones"]) == 3 and scene["target"] == "zone0"
    env.close()
