"""vla/TouchCube-v0: touch the cube of the instructed colour with the gripper (skill: reach).

## Description
Three cubes of different colours lie on the table; the instruction ("touch the green cube")
names one. Touching a distractor does not count.

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
Terminates on success: a finger is in contact with the instructed cube. Truncated after 4 s: 40
steps at 10 Hz, 120 at 30 Hz.
"""

from typing import Any

from envs.tabletop import scripted
from envs.tabletop.pick_cube import PickCubeEnv
from envs.tabletop.scene import CUBE_HALF


class TouchCubeEnv(PickCubeEnv):
    """PickCube's scene (three cubes, the instructed one is cube0); success is a touch, not a lift."""

    task_name = "TouchCube"

    def _is_success(self) -> bool:
        return self._finger_touches("cube0")


@scripted.register_plan(TouchCubeEnv.task_name)
def expert_plan(state: dict[str, Any]) -> scripted.Plan:
    name = state["object"]
    # fingertips 14 mm below the site: aim them 6 mm into the cube's top face (contact stops them)
    press_z = 2 * CUBE_HALF + 0.014 - 0.006
    waypoints = [
        scripted.Waypoint("above", scripted.above(name), scripted.CLOSED),
        scripted.Waypoint(
            "press", scripted.above(name, press_z), scripted.CLOSED, tol=0.0, max_steps=10**6, speed=0.03
        ),
    ]
    return scripted.Plan(waypoints, scripted.grasp_yaw(state, name))
