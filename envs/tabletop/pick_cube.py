"""vla/PickCube-v0: pick up the cube of the instructed colour (skill: pick).

## Description
Three cubes of different colours lie on the table; the instruction ("pick up the red cube")
names one. The others are distractors.

## Action Space
`Box(low, high, (6,), float32)`: absolute joint targets in SO-101 order; radians, the gripper in
metres of finger opening. Limits, clipping and errors as in envs/tabletop/base.py. 10 Hz.

## Observation Space
`{"pixels": {camera: (S, S, 3) uint8}, "agent_pos": (6,) float32}` (see envs/tabletop/base.py).

## Rewards
Sparse: 1.0 on the step that succeeds, else 0.0.

## Starting State
Home pose with noise; three 3 cm cubes >= 7 cm apart at random reachable positions and yaws; the
instructed colour is drawn from the split's combinations, the distractors' colours from the rest.

## Episode End
Terminates on success: the instructed cube's centre is >= 7 cm above the table (lifted 5.5 cm).
Truncated after 50 steps (5 s).
"""

from typing import Any

import numpy as np

from envs.tabletop import expert, layout
from envs.tabletop.base import TabletopEnv
from envs.tabletop.instructions import COLOR_NAMES

LIFT_Z = 0.07


def distractor_colors(rng: np.random.Generator, exclude: tuple[str, ...], n: int) -> list[str]:
    """`n` distinct colours not in `exclude`, in random order."""
    pool = [c for c in COLOR_NAMES if c not in exclude]
    return [pool[i] for i in rng.permutation(len(pool))[:n]]


class PickCubeEnv(TabletopEnv):
    task_name = "PickCube"
    n_cubes = 3

    def _setup_episode(self, combo: tuple[str, ...], rng: np.random.Generator) -> None:
        colors = [combo[0], *distractor_colors(rng, combo, self.n_cubes - 1)]
        points = layout.sample_layout(rng, self.n_cubes, min_dist=0.07)
        for i, (xy, color) in enumerate(zip(points, colors, strict=True)):
            self._place_cube(i, xy, rng.uniform(-0.8, 0.8), color)

    def _is_success(self) -> bool:
        return bool(self.data.body("cube0").xpos[2] >= LIFT_Z)

    def _task_state(self) -> dict[str, Any]:
        return {"object": "cube0"}


def expert_plan(state: dict[str, Any]) -> expert.Plan:
    name = state["object"]
    return expert.Plan(expert.pick_waypoints(name), expert.grasp_yaw(state, name))
