"""Gymnasium environments: the language-conditioned MuJoCo tabletop suite.

`import envs` registers the ids (string entry points, so nothing heavy is imported until
`gym.make`). envs knows nothing of vla/ or policies/.
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering on CPU unless the user chose otherwise
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])

import gymnasium as gym

# id -> (entry point, max episode steps at 10 Hz). Explicit, greppable.
_TASKS = {
    "vla/TouchCube-v0": ("envs.tabletop.touch_cube:TouchCubeEnv", 40),
    "vla/PickCube-v0": ("envs.tabletop.pick_cube:PickCubeEnv", 50),
    "vla/PushCube-v0": ("envs.tabletop.push_cube:PushCubeEnv", 80),
    "vla/SlideCube-v0": ("envs.tabletop.slide_cube:SlideCubeEnv", 60),
    "vla/PlaceInBowl-v0": ("envs.tabletop.place_in_bowl:PlaceInBowlEnv", 80),
    "vla/StackCube-v0": ("envs.tabletop.stack_cube:StackCubeEnv", 80),
}
TASK_IDS: tuple[str, ...] = tuple(_TASKS)
TASK_MAX_STEPS: dict[str, int] = {task_id: steps for task_id, (_, steps) in _TASKS.items()}
MULTITASK_ID = "vla/MultiTask-v0"
ALL_IDS: tuple[str, ...] = (*TASK_IDS, MULTITASK_ID)

for _id, (_entry, _steps) in {**_TASKS, MULTITASK_ID: ("envs.tabletop.multitask:MultiTaskEnv", 80)}.items():
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=_entry, max_episode_steps=_steps)
