"""vla/StackCube-v0: stack the instructed cube on the cube of the instructed colour (skill: stack).

## Description
Three cubes lie on the table. The instruction ("stack the red cube on the blue cube") names the
cube to move and the cube to put it on; the third cube is a distractor.

## Action Space
`Box(low, high, (6,), float32)`: absolute joint targets in SO-101 order; radians, the gripper in
metres of finger opening. Limits, clipping and errors as in envs/tabletop/base.py. One action per
step at `control_hz` (default 10 Hz; 30 matches the SO-101 and LeRobot's datasets).

## Observation Space
`{"pixels": {camera: (S, S, 3) uint8}, "agent_pos": (6,) float32}` (see envs/tabletop/base.py).

## Rewards
Sparse: 1.0 on the step that succeeds, else 0.0.

## Starting State
Home pose with noise; three 3 cm cubes >= 7 cm apart at random reachable positions and yaws.

## Episode End
Terminates on success: the instructed cube rests on the base cube (centres within 1.5 cm
horizontally, one cube height above it, the base cube on the table) and no finger touches it.
Truncated after 8 s: 80 steps at 10 Hz, 240 at 30 Hz.
"""

from typing import Any

import numpy as np

from envs.tabletop import layout, scripted
from envs.tabletop.base import TabletopEnv
from envs.tabletop.pick_cube import distractor_colors
from envs.tabletop.scene import CUBE_HALF

CARRY_Z = 0.09  # carried cube centre: its bottom clears the base cube's top by 4.5 cm
DROP_GAP = 0.004  # released this far above the base cube's top face


class StackCubeEnv(TabletopEnv):
    task_name = "StackCube"
    n_cubes = 3

    def _setup_episode(self, combo: tuple[str, ...], rng: np.random.Generator) -> None:
        colors = [*combo, *distractor_colors(rng, combo, 1)]
        points = layout.sample_layout(rng, self.n_cubes, min_dist=0.075)
        for i, (xy, color) in enumerate(zip(points, colors, strict=True)):
            self._place_cube(i, xy, rng.uniform(-0.8, 0.8), color)

    def _is_success(self) -> bool:
        top, base = self.data.body("cube0").xpos, self.data.body("cube1").xpos
        aligned = np.linalg.norm(top[:2] - base[:2]) <= 0.015
        on_top = abs(top[2] - base[2] - 2 * CUBE_HALF) <= 0.005 and base[2] < CUBE_HALF + 0.005
        return bool(aligned and on_top and not self._finger_touches("cube0"))

    def _task_state(self) -> dict[str, Any]:
        goal = self.data.body("cube1").xpos + np.array([0.0, 0.0, 2 * CUBE_HALF + DROP_GAP])
        return {"object": "cube0", "target": "cube1", "goal": goal.tolist()}


@scripted.register_plan(StackCubeEnv.task_name)
def expert_plan(state: dict[str, Any]) -> scripted.Plan:
    name = state["object"]
    waypoints = scripted.pick_waypoints(name) + scripted.carry_waypoints(
        name, lambda st: np.asarray(st["goal"], dtype=float), hover_z=CARRY_Z
    )
    return scripted.Plan(waypoints, scripted.grasp_yaw(state, name))
