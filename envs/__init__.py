"""Gymnasium environments: the language-conditioned MuJoCo tabletop suite, and Meta-World (envs/metaworld/).

`import envs` registers the ids (string entry points, so nothing heavy is imported until
`gym.make`). envs knows nothing of vla/ or policies/.
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering on CPU unless the user chose otherwise
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])

from collections.abc import Mapping
from typing import Any

import gymnasium as gym

from envs import metaworld
from envs.tabletop import clock

# id -> (entry point, time limit in seconds). Explicit, greppable. The envs truncate themselves after
# round(seconds * control_hz) steps (50 and 150 for 5 s at 10 and 30 Hz): a TimeLimit of the
# registration counts a fixed number of steps, which could not follow the env's control_hz.
_TASKS = {
    "vla/TouchCube-v0": ("envs.tabletop.touch_cube:TouchCubeEnv", 4.0),
    "vla/PickCube-v0": ("envs.tabletop.pick_cube:PickCubeEnv", 5.0),
    "vla/PushCube-v0": ("envs.tabletop.push_cube:PushCubeEnv", 8.0),
    "vla/SlideCube-v0": ("envs.tabletop.slide_cube:SlideCubeEnv", 6.0),
    "vla/PlaceInBowl-v0": ("envs.tabletop.place_in_bowl:PlaceInBowlEnv", 8.0),
    "vla/StackCube-v0": ("envs.tabletop.stack_cube:StackCubeEnv", 8.0),
}
TASK_IDS: tuple[str, ...] = tuple(_TASKS)
TASK_TIME_LIMITS_S: dict[str, float] = {task_id: seconds for task_id, (_, seconds) in _TASKS.items()}
# step limits at the default 10 Hz; max_episode_steps() gives them at any control_hz
TASK_MAX_STEPS: dict[str, int] = {
    task_id: clock.episode_steps(seconds, clock.DEFAULT_CONTROL_HZ)
    for task_id, seconds in TASK_TIME_LIMITS_S.items()
}
MULTITASK_ID = "vla/MultiTask-v0"
ALL_IDS: tuple[str, ...] = (*TASK_IDS, MULTITASK_ID)

for _id, (_entry, _seconds) in {
    **_TASKS,
    MULTITASK_ID: ("envs.tabletop.multitask:MultiTaskEnv", 8.0),
}.items():
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=_entry, kwargs={"time_limit_s": _seconds})


def max_episode_steps(env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> int | None:
    """The step at which `gym.make(env_id, **env_kwargs)` truncates an episode; None: it never does.

    A tabletop id: its `time_limit_s` (registered, or from env_kwargs) at the kwargs' `control_hz`
    (vla/PickCube-v0: 50 at 10 Hz, 150 with {"control_hz": 30}). Any other id: its registered
    `max_episode_steps`.
    """
    spec = gym.spec(env_id)
    kwargs = {**spec.kwargs, **(env_kwargs or {})}
    if kwargs.get("time_limit_s") is None:
        return spec.max_episode_steps
    control_hz = clock.check_control_hz(kwargs.get("control_hz", clock.DEFAULT_CONTROL_HZ))
    return clock.episode_steps(kwargs["time_limit_s"], control_hz)


metaworld.register()  # metaworld/<task>-v3, metaworld/MT10, metaworld/MT50 (envs/metaworld/)
