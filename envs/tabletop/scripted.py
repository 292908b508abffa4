"""Scripted expert: privileged state -> waypoints (per-task plan) -> IK -> absolute joint targets.

Process-independent: `make_expert(task_name, privileged_state)` needs only the JSON dict from
`env.unwrapped.privileged_state()`, and `.act(joint_pos, privileged_state)` only the measured
joints, so the ROS bridge can run it in another process. The expert owns an arm-only MjModel for IK.

A plan is a list of `Waypoint`s, each a target for the grasp site (recomputed every step from the
live state, so the expert corrects for a cube that moved), a gripper command, and a rule for when
it is reached. The commanded site moves at most `speed` metres per plan step towards it.

Plans are written in steps of PLAN_HZ (10 Hz: speeds in metres per 0.1 s, waits in 0.1 s steps);
the expert of a `control_hz` env scales them, so an episode lasts as many seconds at any rate (3x
the steps at 30 Hz). At 10 Hz the scale is exactly 1: the frozen 10 Hz trajectories are unchanged.

Each task module writes its plan with the helpers here and registers it (`register_plan`), so this
module imports no task: a task imports it, never the other way round. A process without the env
imports envs.tabletop.expert, which imports every task and so knows every plan.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.tabletop.clock import DEFAULT_CONTROL_HZ, check_control_hz
from envs.tabletop.ik import ArmIK
from envs.tabletop.scene import CUBE_HALF

State = dict[str, Any]
OPEN, CLOSED = 0.03, 0.0  # gripper targets (m per finger): 6 cm gap open; closed squeezes a cube
SAFE_Z = 0.09  # grasp-site height for moving over the table (a carried cube clears bowls and cubes)
GRASP_Z = CUBE_HALF + 0.002  # pads centred on the cube, fingertips ~3 mm above the table
_YAW_STEP = 0.35  # rad per plan step (3.5 rad/s)
PLAN_HZ = (
    10  # the rate plans are written for: `speed`, `min_steps`, `max_steps` and _YAW_STEP count its steps
)


@dataclass
class Waypoint:
    name: str
    target: Callable[[State, np.ndarray], np.ndarray]  # (state, measured site pos) -> site target (3,)
    gripper: float
    tol: float = 0.012  # m: reached when the measured site is this close
    min_steps: int = 1  # plan steps (0.1 s each), scaled to the control rate like max_steps
    max_steps: int = 25  # give up waiting and go on (a blocked arm never stalls the plan)
    speed: float = 0.05  # m per plan step (0.5 m/s)
    # also wait until the measured gripper is "closed" (on a cube) or "open": a slow or rate-limited
    # gripper (a real arm behind the bridge's safety layer) must not be lifted before it holds
    wait_gripper: str | None = None


@dataclass
class Plan:
    waypoints: list[Waypoint]
    yaw: float  # hand yaw (rad) for the whole episode; see ik.down_rotation


def obj_pos(state: State, name: str) -> np.ndarray:
    return np.asarray(state["objects"][name]["pos"], dtype=float)


def wrap(angle: float) -> float:
    return float((angle + np.pi) % (2 * np.pi) - np.pi)


def natural_yaw(xy: np.ndarray) -> float:
    """Hand yaw at `xy` with the wrist roll at zero (the hand's x axis points back at the base)."""
    return float(np.arctan2(xy[1], xy[0]) + np.pi)


def nearest_yaw(candidate: float, period: float, xy: np.ndarray) -> float:
    """The yaw `candidate + k * period` closest to the natural yaw at `xy` (least wrist roll)."""
    ref = natural_yaw(xy)
    k = np.round(wrap(ref - candidate) / period)
    return float(candidate + k * period)


def grasp_yaw(state: State, name: str) -> float:
    """Yaw that closes the fingers on two opposite faces of cube `name` (faces repeat every pi/2)."""
    w, _, _, z = state["objects"][name]["quat"]
    cube_yaw = 2.0 * np.arctan2(z, w)  # cubes only turn about z while resting on the table
    # fingers close along the hand's y axis = (sin yaw, -cos yaw): aligned with a face normal when
    # yaw = cube_yaw + pi/2 (mod pi/2)
    return nearest_yaw(cube_yaw + np.pi / 2, np.pi / 2, obj_pos(state, name)[:2])


def above(name: str, z: float = SAFE_Z) -> Callable[[State, np.ndarray], np.ndarray]:
    return lambda st, ee: np.append(obj_pos(st, name)[:2], z)


def pick_waypoints(name: str) -> list[Waypoint]:
    """Open above cube `name`, descend, close, lift to the safe height."""
    return [
        Waypoint("above", above(name), OPEN),
        Waypoint("descend", above(name, GRASP_Z), OPEN, tol=0.006, speed=0.035),
        Waypoint(
            "close", above(name, GRASP_Z), CLOSED, tol=1.0, min_steps=3, max_steps=12, wait_gripper="closed"
        ),
        Waypoint("lift", lambda st, ee: np.append(ee[:2], SAFE_Z + 0.01), CLOSED, tol=0.015, speed=0.04),
    ]


def carry_waypoints(name: str, goal: Callable[[State], np.ndarray], hover_z: float) -> list[Waypoint]:
    """Carry the held cube `name` over `goal(state)` (where its centre should end, xyz) at `hover_z`,
    lower it there, release, and rise."""

    def move_cube(hover: bool) -> Callable[[State, np.ndarray], np.ndarray]:
        def target(st: State, ee: np.ndarray) -> np.ndarray:
            want = goal(st)
            if hover:
                want = np.append(want[:2], hover_z)
            # steer the site by the cube's own error, so a cube that slipped in the fingers lands right
            return ee + (want - obj_pos(st, name))

        return target

    return [
        Waypoint("carry", move_cube(hover=True), CLOSED, tol=0.012),
        Waypoint("lower", move_cube(hover=False), CLOSED, tol=0.005, speed=0.03),
        Waypoint("release", lambda st, ee: ee, OPEN, tol=1.0, min_steps=2, max_steps=12, wait_gripper="open"),
        Waypoint("retreat", lambda st, ee: np.append(ee[:2], SAFE_Z + 0.02), OPEN, tol=0.01, max_steps=100),
    ]


def push_waypoints(name: str, goal: Callable[[State], np.ndarray]) -> list[Waypoint]:
    """Closed fingers behind cube `name`, then push it along the line to `goal(state)` (xy)."""
    contact = CUBE_HALF + 0.011  # cube centre to pusher centre when touching (fingers 1 cm thick + gap)

    def direction(st: State) -> tuple[np.ndarray, float]:
        delta = goal(st)[:2] - obj_pos(st, name)[:2]
        dist = float(np.linalg.norm(delta))
        return delta / max(dist, 1e-6), dist

    def behind(z: float, gap: float) -> Callable[[State, np.ndarray], np.ndarray]:
        return lambda st, ee: np.append(obj_pos(st, name)[:2] - (contact + gap) * direction(st)[0], z)

    def push(st: State, ee: np.ndarray) -> np.ndarray:
        u, dist = direction(st)
        return np.append(obj_pos(st, name)[:2] + u * (min(dist, 0.03) - contact), GRASP_Z + 0.004)

    return [
        Waypoint("behind", behind(SAFE_Z, 0.025), CLOSED),
        Waypoint("down", behind(GRASP_Z + 0.004, 0.025), CLOSED, tol=0.008, speed=0.035),
        Waypoint("push", push, CLOSED, tol=0.0, max_steps=10**6, speed=0.02),
    ]


def push_yaw(state: State, name: str, goal_xy: np.ndarray) -> float:
    """Yaw putting the closing axis along the push, so the fingers' 3.2 cm wide faces push."""
    u = goal_xy - obj_pos(state, name)[:2]
    return nearest_yaw(float(np.arctan2(u[0], -u[1])), np.pi, obj_pos(state, name)[:2])


class ScriptedExpert:
    """`act(joint_pos, state) -> (6,)` follows `plan`, one waypoint after the other; called once per
    control step of a `control_hz` env."""

    def __init__(self, plan: Plan, control_hz: int = DEFAULT_CONTROL_HZ) -> None:
        self.control_hz = check_control_hz(control_hz)
        self.plan, self.ik = plan, ArmIK()
        self._per_step = PLAN_HZ / self.control_hz  # of a plan step's motion per control step: 1/3 at 30 Hz
        self.index, self.steps_in_phase = 0, 0
        self._cmd: np.ndarray | None = None  # commanded site position (3,)
        self._yaw_cmd = 0.0
        self._seed: np.ndarray | None = None  # last IK solution (5,): keeps solutions continuous

    @property
    def phase(self) -> str:
        return self.plan.waypoints[self.index].name

    def act(self, joint_pos: np.ndarray, state: State) -> np.ndarray:
        q = np.asarray(joint_pos, dtype=float)
        if q.shape != (6,) or not np.all(np.isfinite(q)):
            raise ValueError(f"joint_pos must be 6 finite joint positions (SO-101 order), got {q!r}")
        ee, rot = self.ik.fk(q)
        if self._cmd is None:
            self._cmd, self._seed = ee.copy(), q[:5].copy()
            self._yaw_cmd = float(np.arctan2(rot[1, 0], rot[0, 0]))
        wp = self.plan.waypoints[self.index]
        target = wp.target(state, ee)
        self.steps_in_phase += 1
        while self.index < len(self.plan.waypoints) - 1 and self._reached(wp, target, ee, q[5]):
            self.index, self.steps_in_phase = self.index + 1, 0
            wp = self.plan.waypoints[self.index]
            target = wp.target(state, ee)
        step = target - self._cmd
        norm = float(np.linalg.norm(step))
        speed, yaw_step = wp.speed * self._per_step, _YAW_STEP * self._per_step
        self._cmd = self._cmd + (step * (speed / norm) if norm > speed else step)
        self._yaw_cmd += float(np.clip(wrap(self.plan.yaw - self._yaw_cmd), -yaw_step, yaw_step))
        self._seed = self.ik.solve(self._seed, self._cmd, self._yaw_cmd)
        return np.append(self._seed, wp.gripper).astype(np.float32)  # (6,)

    def _reached(self, wp: Waypoint, target: np.ndarray, ee: np.ndarray, gripper: float) -> bool:
        if self.steps_in_phase < self._control_steps(wp.min_steps):
            return False
        if self.steps_in_phase >= self._control_steps(wp.max_steps):
            return True
        # a 3 cm cube stops the fingers at 15 mm; above that they are still closing
        if wp.wait_gripper == "closed" and gripper > CUBE_HALF + 0.003:
            return False
        if wp.wait_gripper == "open" and gripper < OPEN - 0.004:
            return False
        return float(np.linalg.norm(target - ee)) < wp.tol

    def _control_steps(self, plan_steps: int) -> int:
        """Control steps lasting as long as `plan_steps` plan steps (3x at 30 Hz; at least 1)."""
        return max(1, round(plan_steps / self._per_step))


PlanFn = Callable[[State], Plan]
PLANS: dict[str, PlanFn] = {}  # task name -> its plan; filled by the task modules as they are imported


def register_plan(task_name: str) -> Callable[[PlanFn], PlanFn]:
    """Decorator: `@register_plan(TouchCubeEnv.task_name)` on a task module's plan function."""

    def register(plan: PlanFn) -> PlanFn:
        if PLANS.get(task_name, plan) is not plan:
            raise ValueError(f"task {task_name!r} already has a plan ({PLANS[task_name].__module__})")
        PLANS[task_name] = plan
        return plan

    return register


def make_expert(
    task_name: str, privileged_state: State, control_hz: int = DEFAULT_CONTROL_HZ
) -> ScriptedExpert:
    """The scripted expert of `task_name` for the episode described by `privileged_state`, acting once
    per control step at `control_hz` (the env's rate; the bridge calls it at 10 Hz)."""
    if task_name not in PLANS:
        raise ValueError(
            f"no expert for task {task_name!r}; experts exist for {sorted(PLANS)} "
            "(import envs.tabletop.expert to register every task of the suite)"
        )
    return ScriptedExpert(PLANS[task_name](privileged_state), control_hz)
