"""vla/SlideCube-v0: push the instructed cube in the instructed direction (skill: push by direction).

## Description
Two cubes lie on the table. The instruction ("push the red cube to the left") names a cube and a
direction in the robot's frame: left (+y), right (-y), away from the robot (+x), toward the
robot (-x). The other cube is a distractor.

## Action Space
`Box(low, high, (6,), float32)`: absolute joint targets in SO-101 order; radians, the gripper in
metres of finger opening. Limits, clipping and errors as in envs/tabletop/base.py. One action per
step at `control_hz` (default 10 Hz; 30 matches the SO-101 and LeRobot's datasets).

## Observation Space
`{"pixels": {camera: (S, S, 3) uint8}, "agent_pos": (6,) float32}` (see envs/tabletop/base.py).

## Rewards
Sparse: 1.0 on the step that succeeds, else 0.0.

## Starting State
Home pose with noise; the instructed cube placed so that 10 cm of travel in the instructed
direction stays in reach, the distractor off that path; yaws and colours random per seed.

## Episode End
Terminates on success: the instructed cube has moved >= 7 cm along the instructed direction and
rests on the table. Truncated after 6 s: 60 steps at 10 Hz, 180 at 30 Hz.
"""

from typing import Any

import numpy as np

from envs.tabletop import layout, scripted
from envs.tabletop.base import TabletopEnv
from envs.tabletop.instructions import DIRECTIONS
from envs.tabletop.pick_cube import distractor_colors
from envs.tabletop.push_cube import push_path_ok
from envs.tabletop.scene import CUBE_HALF

TRAVEL = 0.10  # the expert pushes this far
SUCCESS_TRAVEL = 0.07


class SlideCubeEnv(TabletopEnv):
    task_name = "SlideCube"
    n_cubes = 2

    def _setup_episode(self, combo: tuple[str, ...], rng: np.random.Generator) -> None:
        self._dir = np.array(DIRECTIONS[combo[1]][0])

        def ok(p: np.ndarray) -> bool:
            goal = p[0] + TRAVEL * self._dir
            # the cube may end nearer the base than objects start: the pusher still reaches it there
            return layout.reachable(goal, r_min=0.09, max_angle=1.2) and push_path_ok(p[0], goal, p[1:])

        points = layout.sample_layout(rng, self.n_cubes, min_dist=0.07, check=ok)
        colors = [combo[0], *distractor_colors(rng, combo, 1)]
        for i, (xy, color) in enumerate(zip(points, colors, strict=True)):
            self._place_cube(i, xy, rng.uniform(-0.8, 0.8), color)
        self._start = points[0].copy()

    def _is_success(self) -> bool:
        cube = self.data.body("cube0").xpos
        return bool((cube[:2] - self._start) @ self._dir >= SUCCESS_TRAVEL and cube[2] < CUBE_HALF + 0.005)

    def _task_state(self) -> dict[str, Any]:
        goal = self._start + TRAVEL * self._dir
        return {"object": "cube0", "direction": self._dir.tolist(), "goal": [*goal.tolist(), CUBE_HALF]}


@scripted.register_plan(SlideCubeEnv.task_name)
def expert_plan(state: dict[str, Any]) -> scripted.Plan:
    name = state["object"]
    goal_xy = np.asarray(state["goal"], dtype=float)[:2]
    waypoints = scripted.push_waypoints(name, lambda st: np.asarray(st["goal"], dtype=float))
    return scripted.Plan(waypoints, scripted.push_yaw(state, name, goal_xy))
