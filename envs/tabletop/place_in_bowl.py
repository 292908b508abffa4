"""vla/PlaceInBowl-v0: put the instructed cube into the bowl of the instructed colour (skill: pick and place).

## Description
Two cubes and two bowls are on the table. The instruction ("put the red cube in the blue bowl")
names one cube and one bowl; the others are distractors.

## Action Space
`Box(low, high, (6,), float32)`: absolute joint targets in SO-101 order; radians, the gripper in
metres of finger opening. Limits, clipping and errors as in envs/tabletop/base.py. One action per
step at `control_hz` (default 10 Hz; 30 matches the SO-101 and LeRobot's datasets).

## Observation Space
`{"pixels": {camera: (S, S, 3) uint8}, "agent_pos": (6,) float32}` (see envs/tabletop/base.py).

## Rewards
Sparse: 1.0 on the step that succeeds, else 0.0.

## Starting State
Home pose with noise; bowls (4.8 cm inner radius, 3 cm walls) >= 13 cm apart, cubes >= 10.5 cm
from every bowl centre; positions, yaws and colours random per seed.

## Episode End
Terminates on success: the instructed cube lies inside the instructed bowl (centre within 3.8 cm
of the bowl's axis, below the rim) and no finger touches it. Truncated after 8 s: 80 steps at
10 Hz, 240 at 30 Hz.
"""

from typing import Any

import numpy as np

from envs.tabletop import layout, scripted
from envs.tabletop.base import TabletopEnv
from envs.tabletop.pick_cube import distractor_colors
from envs.tabletop.scene import BOWL_RADIUS, BOWL_WALL

RELEASE_Z = 0.032  # cube centre height when released: its bottom is 1.7 cm down inside the bowl
CARRY_Z = 0.085  # cube centre height while carried: its bottom clears the 3 cm walls


class PlaceInBowlEnv(TabletopEnv):
    task_name = "PlaceInBowl"
    n_cubes = 2
    n_bowls = 2

    def _setup_episode(self, combo: tuple[str, ...], rng: np.random.Generator) -> None:
        points = layout.sample_layout(
            rng, 4, min_dist=0.07, check=self._layout_ok
        )  # cube0, cube1, bowl0, bowl1
        cube_colors = [combo[0], *distractor_colors(rng, combo, 1)]
        bowl_colors = [combo[1], *distractor_colors(rng, (combo[1],), 1)]
        for i in range(self.n_cubes):
            self._place_cube(i, points[i], rng.uniform(-0.8, 0.8), cube_colors[i])
        for i in range(self.n_bowls):
            self._place_mocap(f"bowl{i}", points[2 + i], bowl_colors[i])

    @staticmethod
    def _layout_ok(p: np.ndarray) -> bool:
        cube_bowl = np.linalg.norm(p[:2, None] - p[None, 2:], axis=-1)  # (2, 2)
        return bool(np.linalg.norm(p[2] - p[3]) >= 0.13 and cube_bowl.min() >= 0.105)

    def _is_success(self) -> bool:
        cube = self.data.body("cube0").xpos
        bowl = self.data.body("bowl0").xpos
        inside = np.linalg.norm(cube[:2] - bowl[:2]) <= BOWL_RADIUS - 0.01 and cube[2] < BOWL_WALL
        return bool(inside and not self._finger_touches("cube0"))

    def _task_state(self) -> dict[str, Any]:
        return {
            "object": "cube0",
            "target": "bowl0",
            "goal": (self.data.body("bowl0").xpos + np.array([0.0, 0.0, RELEASE_Z])).tolist(),
        }


@scripted.register_plan(PlaceInBowlEnv.task_name)
def expert_plan(state: dict[str, Any]) -> scripted.Plan:
    name = state["object"]
    waypoints = scripted.pick_waypoints(name) + scripted.carry_waypoints(
        name, lambda st: np.asarray(st["goal"], dtype=float), hover_z=CARRY_Z
    )
    return scripted.Plan(waypoints, scripted.grasp_yaw(state, name))
