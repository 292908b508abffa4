"""metaworld/<task>-v3, metaworld/MT10, metaworld/MT50: Meta-World behind the suite's observation convention.

## Description
Meta-World's Sawyer tasks (the `metaworld` package, v3 tasks), with a language instruction per task
(envs/metaworld/tasks.py) and Meta-World's scripted expert (`metaworld.policies`) as
`expert_action()`. One Meta-World env per task is built on first use; a multi-task env (`tasks`)
draws its task on each reset from the reset's seed, or takes `options={"task": "reach-v3"}`, or is
fixed to one task with the `task` keyword.

## Action Space
`Box(-1, 1, (4,), float32)`: end-effector displacement (x, y, z; 1 = 1 cm per step) and gripper effort
(-1 open, +1 close), Meta-World's own. Finite values outside [-1, 1] are clipped; a wrong shape or
NaN/inf raises `ValueError`.

## Observation Space
`{"pixels": {camera: (S, S, 3) uint8}, "agent_pos": (4,) float32}`: the hand position (m) and the
gripper opening (Meta-World's observation[:4], as LeRobot's Meta-World env). `task_description`
holds the instruction; `info` has `is_success`, `task_description` and `task`.

## Rewards
Meta-World's dense v2 reward (0-10).

## Starting State
Object and goal positions are drawn from the reset's seed (Meta-World's seeded random reset vector):
the same seed gives the same observations.

## Episode End
Terminated on success (`info["success"]`, Meta-World's criterion); truncated after 500 steps by the
registration's TimeLimit (Meta-World's `max_path_length`, LeRobot's evaluation length).

## Cameras
Meta-World's cameras: corner, corner2, corner3, topview, behindGripper, gripperPOV. `corner2` is moved
where LeRobot's Meta-World env puts it (the SmolVLA protocol's view). A camera whose image-up axis
points down in the world (the corner cameras of Meta-World's scene) is rotated by 180 degrees, so every
image is the right way up.
"""

import os
import warnings
from typing import Any, ClassVar

import gymnasium as gym
import mujoco
import numpy as np

from envs.metaworld.tasks import SPLITS, TASK_NAMES, instruction
from envs.tabletop.rendering import Cameras

CAMERAS = ("corner", "corner2", "corner3", "topview", "behindGripper", "gripperPOV")
CORNER2_POS = (0.75, 0.075, 0.7)  # LeRobot's lerobot/envs/metaworld.py moves corner2 here
FPS = 80  # 2.5 ms physics steps x frame_skip 5: Meta-World's own metadata["render_fps"]
MAX_STEPS = 500  # Meta-World's max_path_length
_WELD = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 5.0)


def _patch_mocap_welds() -> None:
    """metaworld 3.0.0 writes 11 numbers into each weld's eq_data; MuJoCo >= 3.3 has more (12 in 3.17),
    so its envs fail to construct. Writes the same 11, leaving the rest at the model's values."""
    from metaworld.sawyer_xyz_env import SawyerMocapBase

    def reset_mocap_welds(self: Any) -> None:
        if self.model.nmocap > 0 and self.model.eq_data is not None:
            for i in range(self.model.eq_data.shape[0]):
                if self.model.eq_type[i] == mujoco.mjtEq.mjEQ_WELD:
                    self.model.eq_data[i, : len(_WELD)] = _WELD

    SawyerMocapBase.reset_mocap_welds = reset_mocap_welds


def _build(task: str) -> Any:
    """A Meta-World v3 env of `task`: goal observable (as MT10/MT50 and the experts need), seeded resets."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS

    _patch_mocap_welds()
    env = ALL_V3_ENVIRONMENTS[task]()
    if env._partially_observable:
        env._partially_observable = False  # the goal in observation[36:39] (what Task data sets for MT)
        del env.sawyer_observation_space  # a cached_property that depends on it
    env._set_task_called = True
    env._freeze_rand_vec = False  # a new object/goal layout per reset ...
    env.seeded_rand_vec = True  # ... drawn from env.seed()
    env.max_path_length = 10**9  # our TimeLimit truncates; Meta-World raises past its own limit
    env.model.camera("corner2").pos[:] = CORNER2_POS
    return env


def _upside_down(data: mujoco.MjData, camera: int) -> bool:
    """True when the camera's image-up axis (its y axis) points down in the world."""
    return bool(data.cam_xmat[camera].reshape(3, 3)[2, 1] < 0)


class MetaWorldEnv(gym.Env):
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": FPS}

    def __init__(
        self,
        task: str | None = None,
        tasks: tuple[str, ...] | list[str] | None = None,
        split: str = "train",
        image_size: int = 128,
        cameras: tuple[str, ...] | list[str] = ("corner2",),
        render_mode: str | None = None,
        render_size: int = 256,
        render_camera: str | None = None,
        shadows: bool = False,
        multisample: bool = False,
    ) -> None:
        if task is None and not tasks:
            raise ValueError(f"give task= (one of {TASK_NAMES}) or tasks=")
        self.tasks = tuple(tasks) if tasks else (task,)
        if task is not None:
            if task not in self.tasks:
                raise ValueError(f"task={task!r} is not one of this env's tasks {self.tasks}")
            self.tasks = (task,)  # a multi-task id fixed to one task (how vla eval runs each task)
        unknown = [t for t in self.tasks if t not in TASK_NAMES]
        if not self.tasks or unknown:
            raise ValueError(f"unknown Meta-World task(s) {unknown or self.tasks}; known: {TASK_NAMES}")
        if split not in SPLITS:
            raise ValueError(
                f"split={split!r}: Meta-World has the splits {SPLITS} (one object per task: no held-out "
                "combinations); evaluate with eval=metaworld_mt50 or eval.splits=[train,heldout_phrasing]"
            )
        cameras = tuple(cameras)
        bad = [c for c in cameras if c not in CAMERAS]
        if not cameras or bad:
            raise ValueError(f"cameras={list(cameras)}: choose from {CAMERAS}")
        # "front" (vla eval's default camera) means the first observed camera
        render_camera = cameras[0] if render_camera in (None, "front") else render_camera
        if render_camera not in CAMERAS:
            raise ValueError(f"render_camera={render_camera!r}: choose from {CAMERAS}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode={render_mode!r}: only None or 'rgb_array'")
        self.split, self.image_size, self.cameras = split, int(image_size), cameras
        self.render_mode, self.render_size, self.render_camera = render_mode, int(render_size), render_camera
        self._shadows, self._multisample = bool(shadows), bool(multisample)
        self.observation_space = gym.spaces.Dict(
            {
                "pixels": gym.spaces.Dict(
                    {
                        c: gym.spaces.Box(0, 255, (self.image_size, self.image_size, 3), np.uint8)
                        for c in cameras
                    }
                ),
                "agent_pos": gym.spaces.Box(-np.inf, np.inf, (4,), np.float32),
            }
        )
        self.action_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
        self._envs: dict[str, tuple[Any, Cameras, Any]] = {}  # task -> (Meta-World env, renderer, expert)
        self.task_name = self.tasks[0]
        self.task_description = ""
        self._raw: np.ndarray | None = None  # Meta-World's last (39,) observation: what the expert reads

    def _task_env(self, task: str) -> tuple[Any, Cameras, Any]:
        if task not in self._envs:
            from metaworld.policies import ENV_POLICY_MAP

            env = _build(task)
            cams = Cameras(env.model, CAMERAS, self.image_size, self._shadows, self._multisample)
            self._envs[task] = (env, cams, ENV_POLICY_MAP[task]())
        return self._envs[task]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        task = (options or {}).get("task")
        if task is None:
            task = (
                self.tasks[int(self.np_random.integers(len(self.tasks)))]
                if len(self.tasks) > 1
                else self.tasks[0]
            )
        elif task not in self.tasks:
            raise ValueError(f"options['task']={task!r} is not one of this env's tasks {self.tasks}")
        self.task_name = task
        env, _, _ = self._task_env(task)
        env.seed(int(self.np_random.integers(2**31 - 1)))
        self._raw, _ = env.reset()
        self.task_description = instruction(task, self.split, float(self.np_random.random()))
        return self._observation(), self._info(False)

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        try:
            a = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"action must be 4 numbers (dx, dy, dz, gripper), got {action!r}") from exc
        if a.shape != (4,):
            raise ValueError(f"action must have shape (4,) (dx, dy, dz, gripper), got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"action has NaN/inf: {a.tolist()} (dx, dy, dz, gripper)")
        if self._raw is None:
            raise RuntimeError("call reset() before step()")
        env, _, _ = self._task_env(self.task_name)
        self._raw, reward, _, _, info = env.step(np.clip(a, -1.0, 1.0))
        success = bool(info.get("success", False))
        return self._observation(), float(reward), success, False, self._info(success)

    def expert_action(self) -> np.ndarray:
        """Meta-World's scripted policy for the current task, from its privileged (39,) observation."""
        _, _, expert = self._task_env(self.task_name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Constant(s) may be too high": it clips, so do we
            return np.clip(expert.get_action(self._raw), -1.0, 1.0).astype(np.float32)

    def render_camera_image(self, camera: str, size: int) -> np.ndarray:
        """(size, size, 3) uint8 image of a camera, the right way up."""
        env, cams, _ = self._task_env(self.task_name)
        img = cams.render_one(env.data, camera, size)
        return (
            np.ascontiguousarray(img[::-1, ::-1])
            if _upside_down(env.data, env.model.camera(camera).id)
            else img
        )

    def _observation(self) -> dict[str, Any]:
        assert self._raw is not None
        return {
            "pixels": {c: self.render_camera_image(c, self.image_size) for c in self.cameras},
            "agent_pos": np.asarray(self._raw[:4], dtype=np.float32),
        }

    def _info(self, success: bool) -> dict[str, Any]:
        return {"is_success": success, "task_description": self.task_description, "task": self.task_name}

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array" or self._raw is None:
            return None
        return self.render_camera_image(self.render_camera, self.render_size)

    def close(self) -> None:
        for env, cams, _ in self._envs.values():
            cams.close()
            env.close()
        self._envs.clear()
