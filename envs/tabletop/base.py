"""Shared Gymnasium env of the tabletop suite; each task (one per file) adds layout and success.

A task subclass sets `task_name`, the object counts, and implements `_setup_episode(combo, rng)`
(colours and positions), `_is_success()` and `_task_state()` (what the expert needs).

Common to every task:

- Action Space: `Box(low, high, (6,), float32)`, absolute joint position targets in SO-101 order
  (shoulder_pan, shoulder_lift, elbow_flex, wrist_flex, wrist_roll, gripper); radians, except the
  gripper: the opening of each finger in metres. low = (-2.0, -1.8, -0.4, -2.0, -2.8, 0.0),
  high = (2.0, 1.8, 2.8, 2.0, 2.8, 0.035). Finite values outside the box are clipped; a wrong
  shape or NaN/inf raises ValueError. One action per control step at `control_hz` (default 10 Hz;
  30 matches the SO-101 and LeRobot's datasets); the physics runs 5 ms steps at every rate (20 per
  control step at 10 Hz; 7, 6, 7 in turn at 30 Hz: envs/tabletop/clock.py).
- Observation Space: `Dict(pixels=Dict(<camera>: Box(0, 255, (S, S, 3), uint8)),
  agent_pos=Box(-inf, inf, (6,), float32))`: RGB images of the requested cameras ("front": the
  table seen from the front right, "wrist": on the hand, looking along the fingers) and the
  measured joint positions in action order. The instruction is `env.unwrapped.task_description`
  and `info["task_description"]`; `info["is_success"]` says whether the task is done.
- Rendering: `render_mode="rgb_array"` renders `render_camera` (default "front"; any camera of the
  scene, e.g. "wrist") at `render_size` px; `vla eval` films its videos with it (`eval.camera`).
- Rewards: sparse, 1.0 on the step that succeeds, else 0.0.
- Starting State: arm at a home pose (+-0.03 rad noise per arm joint), fingers open; objects at
  random reachable positions (0.12-0.235 m from the base), cube yaws +-0.8 rad, colours random.
- Episode End: terminated on success; truncated once `time_limit_s` seconds of simulated time have
  passed, i.e. after round(time_limit_s * control_hz) steps (each id registers its own limit in
  envs/__init__.py: 5 s is 50 steps at 10 Hz, 150 at 30 Hz); `time_limit_s=None`: never.
"""

import os
from typing import Any, ClassVar

os.environ.setdefault("MUJOCO_GL", "egl")  # before mujoco's first import: headless rendering on CPU

import gymnasium as gym
import mujoco
import numpy as np

from envs.tabletop import clock, describe, instructions, scene
from envs.tabletop.rendering import Cameras
from envs.tabletop.scripted import make_expert

_HOME_NOISE = 0.03  # rad, uniform per arm joint at reset


class TabletopEnv(gym.Env):
    """Base class; see a task file (e.g. pick_cube.py) for the documented spaces and rewards."""

    # render_fps: the class's default rate; an instance's metadata says its own control_hz
    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["rgb_array"],
        "render_fps": clock.DEFAULT_CONTROL_HZ,
    }
    task_name: ClassVar[str] = ""
    n_cubes: ClassVar[int] = 3
    n_bowls: ClassVar[int] = 0
    n_zones: ClassVar[int] = 0

    def __init__(
        self,
        split: str = "train",
        image_size: int = 96,
        cameras: tuple[str, ...] | list[str] = ("front", "wrist"),
        shadows: bool = False,
        multisample: bool = False,
        render_mode: str | None = None,
        render_size: int = 256,
        render_camera: str = "front",
        control_hz: int = clock.DEFAULT_CONTROL_HZ,
        time_limit_s: float | None = None,
    ) -> None:
        instructions.check_split(split)
        self.control_hz = clock.check_control_hz(control_hz)
        # the env truncates itself: a registered TimeLimit counts fixed steps, which cannot follow control_hz
        self.max_episode_steps = (
            None if time_limit_s is None else clock.episode_steps(time_limit_s, self.control_hz)
        )
        self.metadata = {**self.metadata, "render_fps": self.control_hz}  # the fps recordings and videos get
        self._elapsed_steps = 0
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode={render_mode!r} is not supported; use None or 'rgb_array'")
        if not cameras:
            raise ValueError("cameras is empty; pass e.g. cameras=('front',) or ('front', 'wrist')")
        self.split, self.render_mode, self.render_size = split, render_mode, render_size
        self.model = scene.build_model(self.n_cubes, self.n_bowls, self.n_zones)
        scene_cameras = [self.model.camera(i).name for i in range(self.model.ncam)]
        if render_camera not in scene_cameras:
            raise ValueError(
                f"render_camera={render_camera!r} is not a camera of this scene; use one of {scene_cameras}"
            )
        self.render_camera = render_camera
        self.data = mujoco.MjData(self.model)
        self.cameras = Cameras(self.model, tuple(cameras), image_size, shadows, multisample)
        self._arm_qpos = np.array([self.model.joint(j).qposadr[0] for j in (*scene.JOINTS, "gripper_mirror")])
        pixels = {
            cam: gym.spaces.Box(0, 255, (image_size, image_size, 3), dtype=np.uint8)
            for cam in self.cameras.cameras
        }
        self.observation_space = gym.spaces.Dict(
            {
                "pixels": gym.spaces.Dict(pixels),
                # joint limits are soft in MuJoCo: measured positions may pass them slightly, never by 0.5
                "agent_pos": gym.spaces.Box(scene.JOINT_LOW - 0.5, scene.JOINT_HIGH + 0.5, dtype=np.float32),
            }
        )
        self.action_space = gym.spaces.Box(scene.JOINT_LOW, scene.JOINT_HIGH, dtype=np.float32)
        self.task_description = ""
        self.combo: tuple[str, ...] = ()
        self._expert = None

    # ---- task hooks -------------------------------------------------------------------------
    def _setup_episode(self, combo: tuple[str, ...], rng: np.random.Generator) -> None:
        raise NotImplementedError

    def _is_success(self) -> bool:
        raise NotImplementedError

    def _task_state(self) -> dict[str, Any]:
        """Task-specific privileged fields: "object" (body name), "goal" (xyz) and what a plan needs."""
        raise NotImplementedError

    # ---- Gymnasium API ----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        mujoco.mj_resetData(self.model, self.data)
        rng = self.np_random
        self.combo, self.task_description = instructions.sample(self.task_name, self.split, rng)
        home = scene.HOME_QPOS.astype(float).copy()
        home[:5] += rng.uniform(-_HOME_NOISE, _HOME_NOISE, 5)
        self.data.qpos[self._arm_qpos] = np.append(home, home[5])
        self.data.ctrl[:] = np.append(home, home[5])
        self._park_mocaps()
        self._setup_episode(self.combo, rng)
        mujoco.mj_forward(self.model, self.data)
        self._expert = None
        self._elapsed_steps = 0
        return self._obs(), self._info(False)

    def step(self, action: np.ndarray) -> tuple[dict, float, bool, bool, dict]:
        action = self._check_action(action)
        self.data.ctrl[:] = np.append(action, action[5])  # the mirror finger follows the gripper command
        for _ in range(clock.physics_steps(self.control_hz, self._elapsed_steps)):
            mujoco.mj_step(self.model, self.data)
        self._elapsed_steps += 1
        success = bool(self._is_success())
        # as gymnasium's TimeLimit: truncated from the limit's step on, success or not
        truncated = self.max_episode_steps is not None and self._elapsed_steps >= self.max_episode_steps
        return self._obs(), float(success), success, truncated, self._info(success)

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            return None
        return self.cameras.render_one(self.data, self.render_camera, self.render_size)  # (S, S, 3) uint8

    def close(self) -> None:
        self.cameras.close()

    # ---- expert access ----------------------------------------------------------------------
    def privileged_state(self) -> dict[str, Any]:
        """JSON-serialisable simulator state the scripted expert plans from (no images)."""
        objects = {}
        for i in range(self.n_cubes):
            body = self.data.body(f"cube{i}")
            objects[f"cube{i}"] = {"pos": body.xpos.tolist(), "quat": body.xquat.tolist()}
        for name in [f"bowl{i}" for i in range(self.n_bowls)] + [f"zone{i}" for i in range(self.n_zones)]:
            objects[name] = {"pos": self.data.body(name).xpos.tolist()}
        state = {"task": self.task_name, "instruction": self.task_description, "objects": objects}
        state.update(self._task_state())
        return state

    def describe_scene(self, camera: str = "front", size: int | None = None) -> dict[str, Any]:
        """What `camera` sees at `size` px (default: the observations' size), from the exact state: objects
        with colour names, pixel positions and visibility, the held cube (envs/tabletop/describe.py)."""
        return describe.describe(self, self.cameras.renderer(size), camera)

    def expert_action(self) -> np.ndarray:
        """The scripted expert's action (6,) float32 for the current state."""
        state = self.privileged_state()
        if self._expert is None:
            self._expert = make_expert(self.task_name, state, self.control_hz)
        return self._expert.act(self.joint_pos(), state)

    def joint_pos(self) -> np.ndarray:
        return self.data.qpos[self._arm_qpos[:6]].astype(np.float32)  # (6,)

    # ---- helpers ----------------------------------------------------------------------------
    def _check_action(self, action: Any) -> np.ndarray:
        try:
            action = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"action {action!r} is not numeric; pass a (6,) float array") from err
        if action.shape != (len(scene.JOINTS),):
            raise ValueError(
                f"action has shape {action.shape}; expected (6,) absolute joint targets in the order "
                f"{scene.JOINTS} (batch of envs? step each env with one action)"
            )
        if not np.all(np.isfinite(action)):
            bad = [scene.JOINTS[i] for i in np.flatnonzero(~np.isfinite(action))]
            raise ValueError(f"action has non-finite values (NaN/inf) for joints {bad}: {action.tolist()}")
        return np.clip(action, scene.JOINT_LOW, scene.JOINT_HIGH)  # finite but out of range: clipped

    def _obs(self) -> dict[str, Any]:
        return {"pixels": self.cameras.render(self.data), "agent_pos": self.joint_pos()}

    def _info(self, success: bool) -> dict[str, Any]:
        return {"is_success": success, "task_description": self.task_description}

    def _park_mocaps(self) -> None:
        for i in range(self.model.nmocap):
            self.data.mocap_pos[i] = scene.PARK + np.array([0.0, 0.2 * i, 0.0])

    def _place_cube(self, i: int, xy: np.ndarray, yaw: float, color: str) -> None:
        adr = self.model.joint(f"cube{i}_joint").qposadr[0]
        self.data.qpos[adr : adr + 3] = (xy[0], xy[1], scene.CUBE_HALF)
        self.data.qpos[adr + 3 : adr + 7] = (np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2))
        scene.set_body_rgb(self.model, f"cube{i}", scene.COLORS[color])

    def _place_mocap(self, body: str, xy: np.ndarray, color: str) -> None:
        mocap = self.model.body(body).mocapid[0]
        self.data.mocap_pos[mocap] = (xy[0], xy[1], 0.0)
        scene.set_body_rgb(self.model, body, scene.COLORS[color])

    def _finger_touches(self, body: str) -> bool:
        """Whether either finger is in contact with `body`."""
        fingers = [self.model.body("finger_left").id, self.model.body("finger_right").id]
        target = self.model.body(body).id
        b1 = self.model.geom_bodyid[self.data.contact.geom1]  # (ncon,)
        b2 = self.model.geom_bodyid[self.data.contact.geom2]  # (ncon,)
        hits = ((b1 == target) & np.isin(b2, fingers)) | ((b2 == target) & np.isin(b1, fingers))
        return bool(hits.any())
