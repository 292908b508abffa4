"""The interface every controller honours, as LeRobot's policies do.

An observation is one (unbatched) dict with LeRobot's keys:
    "observation.images.<camera>": (H, W, 3) uint8
    "observation.state":           (D_state,) float32
    "task":                        str, the language instruction
An action is (D_action,) float32 in the robot's units (absolute joint targets here).
"""

from abc import ABC, abstractmethod
from collections import deque
from typing import Any

import numpy as np

from vla.constants import OBS_STATE, TASK, image_key

Observation = dict[str, Any]


class Policy(ABC):
    """reset() at episode start; select_action(obs) each control step.

    The default select_action pops from a queue refilled by predict_action_chunk, executing
    `n_action_steps` actions of each chunk (LeRobot's pattern); policies may override it.
    """

    n_action_steps: int = 1
    fps: int | None = None  # control rate (Hz) of the data it was trained on; None: unknown (scripted)

    def __init__(self) -> None:
        self._queue: deque[np.ndarray] = deque()

    def reset(self) -> None:
        self._queue.clear()

    @abstractmethod
    def predict_action_chunk(self, obs: Observation) -> np.ndarray:
        """(T, D_action) actions starting at this observation."""

    def select_action(self, obs: Observation) -> np.ndarray:
        if not self._queue:
            chunk = self.predict_action_chunk(obs)
            self._queue.extend(chunk[: self.n_action_steps])
        return self._queue.popleft()


def observation_from_env(env_obs: dict[str, Any], task: str) -> Observation:
    """Turns a tabletop/LeRobot gym observation (`pixels` dict + `agent_pos`) into a policy observation."""
    obs: Observation = {image_key(cam): img for cam, img in env_obs["pixels"].items()}
    obs[OBS_STATE] = np.asarray(env_obs["agent_pos"], dtype=np.float32)
    obs[TASK] = task
    return obs
