"""Meta-World (the `metaworld` package) with language instructions, behind the suite's observation convention.

Ids: `metaworld/<task>` for each of the 50 v3 tasks (MT1, e.g. `metaworld/reach-v3`), `metaworld/MT10`
and `metaworld/MT50` (a task per reset, drawn from the seed; `task=` fixes one). Importing this package
does not import `metaworld` or MuJoCo: `gym.make` does (envs/metaworld/env.py). docs/envs.md, "Meta-World".
"""

from collections.abc import Mapping
from typing import Any

import gymnasium as gym

from envs.metaworld.tasks import (
    DIFFICULTY,
    HELDOUT_PARAPHRASES,
    MT10_TASKS,
    MT50_TASKS,
    PUBLISHED_MT50,
    SPLITS,
    TASK_DIFFICULTY,
    TASK_INSTRUCTIONS,
    TASK_NAMES,
)

ENTRY_POINT = "envs.metaworld.env:MetaWorldEnv"
MAX_EPISODE_STEPS = 500  # Meta-World's max_path_length; LeRobot evaluates Meta-World over 500 steps
MT1_IDS: dict[str, str] = {f"metaworld/{task}": task for task in TASK_NAMES}  # id -> task
MT10_ID, MT50_ID = "metaworld/MT10", "metaworld/MT50"
MULTI_IDS: dict[str, tuple[str, ...]] = {MT10_ID: MT10_TASKS, MT50_ID: MT50_TASKS}
ALL_IDS: tuple[str, ...] = (*MT1_IDS, *MULTI_IDS)

__all__ = [
    "ALL_IDS", "DIFFICULTY", "HELDOUT_PARAPHRASES", "MT1_IDS", "MT10_ID", "MT10_TASKS", "MT50_ID",
    "MT50_TASKS", "MULTI_IDS", "PUBLISHED_MT50", "SPLITS", "TASK_DIFFICULTY", "TASK_INSTRUCTIONS",
    "TASK_NAMES", "eval_task_names", "is_metaworld", "register",
]  # fmt: skip


def register() -> None:
    """Registers every id (idempotent). String entry point: nothing heavy is imported here."""
    for env_id, kwargs in [
        *((i, {"task": t}) for i, t in MT1_IDS.items()),
        *((i, {"tasks": list(ts)}) for i, ts in MULTI_IDS.items()),
    ]:
        if env_id not in gym.registry:
            gym.register(
                id=env_id, entry_point=ENTRY_POINT, kwargs=kwargs, max_episode_steps=MAX_EPISODE_STEPS
            )


def is_metaworld(env_id: str) -> bool:
    return env_id in MT1_IDS or env_id in MULTI_IDS


def eval_task_names(env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> list[str]:
    """The tasks `gym.make(env_id, **env_kwargs)` can run, each evaluated on its own (with `task=<name>`)."""
    kwargs = {**gym.spec(env_id).kwargs, **(env_kwargs or {})}
    if kwargs.get("task"):
        return [kwargs["task"]]
    return list(kwargs.get("tasks") or [])
