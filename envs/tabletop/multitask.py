"""vla/MultiTask-v0: each reset samples one task of the suite (uniformly, from the env's seed).

## Description
Wraps one env per task (built on first use) and delegates to the sampled one, so the spaces,
instruction and expert are that task's. `reset(options={"task": "PickCube"})` picks a task. Every
keyword argument (`control_hz`, `time_limit_s`, `split`, ...) goes to each task env.

## Action Space
As every tabletop task: `Box(low, high, (6,), float32)` absolute joint targets (envs/tabletop/base.py),
one per control step at `control_hz` (default 10 Hz; 30 matches the SO-101).

## Observation Space
As every tabletop task: `{"pixels": {camera: (S, S, 3) uint8}, "agent_pos": (6,) float32}`.

## Rewards
The sampled task's: sparse, 1.0 on success.

## Starting State
The sampled task's; `env.unwrapped.task_name` says which task it is.

## Episode End
The sampled task's success; truncated after 8 s, the longest task's limit (80 steps at 10 Hz, 240
at 30 Hz). The per-task limits are not applied here: evaluation code that wants them reads
`envs.max_episode_steps(task_id, env_kwargs)`.
"""

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from envs.tabletop.base import TabletopEnv
from envs.tabletop.clock import DEFAULT_CONTROL_HZ
from envs.tabletop.pick_cube import PickCubeEnv
from envs.tabletop.place_in_bowl import PlaceInBowlEnv
from envs.tabletop.push_cube import PushCubeEnv
from envs.tabletop.slide_cube import SlideCubeEnv
from envs.tabletop.stack_cube import StackCubeEnv
from envs.tabletop.touch_cube import TouchCubeEnv

TASKS: dict[str, type[TabletopEnv]] = {
    cls.task_name: cls
    for cls in (TouchCubeEnv, PickCubeEnv, PushCubeEnv, SlideCubeEnv, PlaceInBowlEnv, StackCubeEnv)
}


class MultiTaskEnv(gym.Env):
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": DEFAULT_CONTROL_HZ}

    def __init__(self, tasks: tuple[str, ...] | list[str] | None = None, **kwargs: Any) -> None:
        self.tasks = tuple(tasks or TASKS)
        unknown = [t for t in self.tasks if t not in TASKS]
        if unknown:
            raise ValueError(f"unknown task(s) {unknown}; the suite has {sorted(TASKS)}")
        self._kwargs = kwargs
        self.render_mode = kwargs.get("render_mode")
        self._envs: dict[str, TabletopEnv] = {}
        self._current = self._env(self.tasks[0])
        self.observation_space = self._current.observation_space
        self.action_space = self._current.action_space
        self.metadata = self._current.metadata  # render_fps: the task envs' control_hz

    def _env(self, task: str) -> TabletopEnv:
        if task not in self._envs:
            self._envs[task] = TASKS[task](**self._kwargs)
        return self._envs[task]

    @property
    def task_name(self) -> str:
        return self._current.task_name

    @property
    def task_description(self) -> str:
        return self._current.task_description

    @property
    def control_hz(self) -> int:
        return self._current.control_hz

    @property
    def max_episode_steps(self) -> int | None:
        return self._current.max_episode_steps

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        task = (options or {}).get("task") or self.tasks[int(self.np_random.integers(len(self.tasks)))]
        if task not in self.tasks:
            raise ValueError(f"options['task']={task!r} is not one of this env's tasks {self.tasks}")
        self._current = self._env(task)
        obs, info = self._current.reset(seed=int(self.np_random.integers(2**31)))
        return obs, info

    def step(self, action: np.ndarray) -> tuple[dict, float, bool, bool, dict]:
        return self._current.step(action)

    def render(self) -> np.ndarray | None:
        return self._current.render()

    def close(self) -> None:
        for env in self._envs.values():
            env.close()

    def privileged_state(self) -> dict[str, Any]:
        return self._current.privileged_state()

    def expert_action(self) -> np.ndarray:
        return self._current.expert_action()

    def describe_scene(self, camera: str = "front", size: int | None = None) -> dict[str, Any]:
        return self._current.describe_scene(camera, size)

    def joint_pos(self) -> np.ndarray:
        return self._current.joint_pos()
