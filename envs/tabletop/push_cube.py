"""vla/PushCube-v0: push the instructed cube onto the zone of the instructed colour (skill: push).

## Description
Two cubes and three flat coloured zones (circles of 5 cm radius) are on the table. The
instruction ("push the red cube onto the blue zone") names one cube and one zone; the other cube
and zones are distractors. The cube must be pushed: it starts 8-15 cm from its zone.

## Action Space
`Box(low, high, (6,), float32)`: absolute joint targets in SO-101 order; radians, the gripper in
metres of finger opening. Limits, clipping and errors as in envs/tabletop/base.py. One action per
step at `control_hz` (default 10 Hz; 30 matches the SO-101 and LeRobot's datasets).

## Observation Space
`{"pixels": {camera: (S, S, 3) uint8}, "agent_pos": (6,) float32}` (see envs/tabletop/base.py).

## Rewards
Sparse: 1.0 on the step that succeeds, else 0.0.

## Starting State
Home pose with noise; zones >= 11 cm apart, cubes off every zone, the distractor cube off the
pushing path; positions, yaws and colours random per seed.

## Episode End
Terminates on success: the instructed cube's centre is within 4 cm of its zone's centre, the cube
resting on the table. Truncated after 8 s: 80 steps at 10 Hz, 240 at 30 Hz.
"""

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from envs.tabletop import layout, scripted
from envs.tabletop.base import TabletopEnv
from envs.tabletop.pick_cube import distractor_colors
from envs.tabletop.scene import CUBE_HALF, ZONE_RADIUS

SUCCESS_RADIUS = ZONE_RADIUS - 0.01
PUSHER_BACKOFF = 0.055  # cube centre to the point the pusher comes down at


def push_path_ok(cube: np.ndarray, goal: np.ndarray, others: np.ndarray) -> bool:
    """The pusher can come down behind `cube` and push it to `goal` without hitting `others` (k, 2)."""
    u = (goal - cube) / np.linalg.norm(goal - cube)
    start = cube - PUSHER_BACKOFF * u
    r = float(np.hypot(*start))
    return 0.09 <= r <= 0.25 and layout.segment_clear(start, goal, others, clearance=0.065)


class PushCubeEnv(TabletopEnv):
    task_name = "PushCube"
    n_cubes = 2
    n_zones = 3

    def _setup_episode(self, combo: tuple[str, ...], rng: np.random.Generator) -> None:
        points = self._sample_points(rng)  # cube0, cube1, zone0, zone1, zone2
        cube_colors = [combo[0], *distractor_colors(rng, combo, 1)]
        zone_colors = [combo[1], *distractor_colors(rng, (combo[1],), 2)]
        for i in range(self.n_cubes):
            self._place_cube(i, points[i], rng.uniform(-0.8, 0.8), cube_colors[i])
        for i in range(self.n_zones):
            self._place_mocap(f"zone{i}", points[2 + i], zone_colors[i])

    @staticmethod
    def _sample_points(rng: np.random.Generator, tries: int = 200) -> np.ndarray:
        """Zones first, then the cube 8-15 cm from its zone, then the distractor cube off the path."""
        for _ in range(tries):
            zones = layout.sample_layout(rng, 3, min_dist=2 * ZONE_RADIUS + 0.01)  # (3, 2)
            cube = _first(partial(_cube_ok, zones=zones), partial(_near, rng, zones[0]))
            if cube is None:
                continue
            other = _first(partial(_distractor_ok, cube=cube, zones=zones), partial(layout.sample_point, rng))
            if other is not None:
                return np.stack([cube, other, *zones])  # (5, 2)
        raise RuntimeError(f"no PushCube layout found in {tries} tries")

    def _is_success(self) -> bool:
        cube = self.data.body("cube0").xpos
        zone = self.data.body("zone0").xpos
        return bool(np.linalg.norm(cube[:2] - zone[:2]) <= SUCCESS_RADIUS and cube[2] < CUBE_HALF + 0.005)

    def _task_state(self) -> dict[str, Any]:
        return {"object": "cube0", "target": "zone0", "goal": self.data.body("zone0").xpos.tolist()}


@scripted.register_plan(PushCubeEnv.task_name)
def expert_plan(state: dict[str, Any]) -> scripted.Plan:
    name = state["object"]
    goal_xy = np.asarray(state["goal"], dtype=float)[:2]
    waypoints = scripted.push_waypoints(name, lambda st: np.asarray(st["goal"], dtype=float))
    return scripted.Plan(waypoints, scripted.push_yaw(state, name, goal_xy))


def _near(rng: np.random.Generator, zone: np.ndarray) -> np.ndarray:
    angle, dist = rng.uniform(-np.pi, np.pi), rng.uniform(0.08, 0.15)
    return zone + dist * np.array([np.cos(angle), np.sin(angle)])


def _cube_ok(cube: np.ndarray, zones: np.ndarray) -> bool:
    off_zones = np.linalg.norm(zones - cube, axis=1).min() >= ZONE_RADIUS + 0.025
    return layout.reachable(cube) and off_zones


def _distractor_ok(p: np.ndarray, cube: np.ndarray, zones: np.ndarray) -> bool:
    off_zones = np.linalg.norm(zones - p, axis=1).min() >= ZONE_RADIUS + 0.025
    return off_zones and np.linalg.norm(p - cube) >= 0.07 and push_path_ok(cube, zones[0], p[None])


def _first(ok: Callable[[np.ndarray], bool], draw: Callable[[], np.ndarray]) -> np.ndarray | None:
    """The first of up to 50 draws that passes `ok`, or None."""
    for _ in range(50):
        p = draw()
        if ok(p):
            return p
    return None
