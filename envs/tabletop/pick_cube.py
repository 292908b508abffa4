"""vla/PickCube-v0: pick up the cube of the instructed colour (skill: pick).

## Description
Three cubes of different colours lie on the table; the instruction ("pick up the red cube")
names one. The others are distractors.

## Action Space
`Box(low, high, (6,), float32)`: absolute joint targets in SO-101 order; radians, the gripper in
metres of finger opening. Limits, clipping and errors as in envs/tabletop/base.py. One action per
step at `control_hz` (default 10 Hz; 30 matches the SO-101 and LeRobot's datasets).

## Observation Space
`{"pixels": {camera: (S, S, 3) uint8}, "agent_pos": (6,) float32}` (see envs/tabletop/base.py).

## Rewards
Sparse: 1.0 on the step that succeeds, else 0.0.

## Starting State
Home pose with noise; three 3 cm cubes >= 7 cm apart at random reachable positions and yaws; the
instructed colour is drawn from the split's combinations, the distractors' colours from the rest.
`layout="slots"`: the cubes stand instead in three fixed slots (left, middle, right; 18 cm from the
base) moved by up to `jitter` metres each way, the colours shuffled across the slots. Finding a cube is
then a three-way choice the language decides (the `make demo` task).

## Episode End
Terminates on success: the instructed cube's centre is >= 7 cm above the table (lifted 5.5 cm).
Truncated after 5 s: 50 steps at 10 Hz, 150 at 30 Hz.
"""

from typing import Any

import numpy as np

from envs.tabletop import layout, scripted
from envs.tabletop.base import TabletopEnv
from envs.tabletop.instructions import COLOR_NAMES

LIFT_Z = 0.07
SLOT_RADIUS, SLOT_ANGLES = 0.18, (0.6, 0.0, -0.6)  # m, rad (left, middle, right seen from the base)
SLOTS = SLOT_RADIUS * np.stack([np.cos(SLOT_ANGLES), np.sin(SLOT_ANGLES)], axis=1)  # (3, 2) xy, m
LAYOUTS = ("random", "slots")


def distractor_colors(rng: np.random.Generator, exclude: tuple[str, ...], n: int) -> list[str]:
    """`n` distinct colours not in `exclude`, in random order."""
    pool = [c for c in COLOR_NAMES if c not in exclude]
    return [pool[i] for i in rng.permutation(len(pool))[:n]]


def slot_layout(rng: np.random.Generator, jitter: float) -> np.ndarray:
    """(3, 2) the three slots in random order, each moved by up to `jitter` m in x and y."""
    return SLOTS[rng.permutation(len(SLOTS))] + rng.uniform(-jitter, jitter, SLOTS.shape)


class PickCubeEnv(TabletopEnv):
    task_name = "PickCube"
    n_cubes = 3

    def __init__(self, *args: Any, layout: str = "random", jitter: float = 0.01, **kwargs: Any) -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"layout={layout!r} is unknown; use one of {LAYOUTS}")
        if not 0.0 <= jitter <= 0.02:  # slots are 10.6 cm apart: 2 cm each way keeps cubes >= 5 cm apart
            raise ValueError(f"jitter={jitter} m is out of range; use 0 to 0.02")
        super().__init__(*args, **kwargs)
        self.layout, self.jitter = layout, jitter

    def _setup_episode(self, combo: tuple[str, ...], rng: np.random.Generator) -> None:
        colors = [combo[0], *distractor_colors(rng, combo, self.n_cubes - 1)]
        if self.layout == "slots":
            points = slot_layout(rng, self.jitter)
        else:
            points = layout.sample_layout(rng, self.n_cubes, min_dist=0.07)
        for i, (xy, color) in enumerate(zip(points, colors, strict=True)):
            self._place_cube(i, xy, rng.uniform(-0.8, 0.8), color)

    def _is_success(self) -> bool:
        return bool(self.data.body("cube0").xpos[2] >= LIFT_Z)

    def _task_state(self) -> dict[str, Any]:
        return {"object": "cube0"}


@scripted.register_plan(PickCubeEnv.task_name)
def expert_plan(state: dict[str, Any]) -> scripted.Plan:
    name = state["object"]
    return scripted.Plan(scripted.pick_waypoints(name), scripted.grasp_yaw(state, name))
