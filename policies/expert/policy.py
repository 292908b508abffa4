"""The tabletop suite's scripted expert behind the Policy interface (privileged: ignores the images)."""

import gymnasium as gym
import numpy as np

from policies.base import Observation, Policy


class ExpertPolicy(Policy):
    """Acts with `env.unwrapped.expert_action()`; the observation passed in is not used.

    The env must be the one being stepped: the expert reads its simulator state. Call `reset()`
    after `env.reset()` (the env also restarts its expert plan on reset).
    """

    n_action_steps = 1

    def __init__(self, env: gym.Env) -> None:
        super().__init__()
        if not hasattr(env.unwrapped, "expert_action"):
            raise ValueError(
                f"env {env.unwrapped!r} has no scripted expert (no expert_action()); "
                "use a tabletop env such as vla/PickCube-v0"
            )
        self.env = env

    def predict_action_chunk(self, obs: Observation) -> np.ndarray:
        return self.env.unwrapped.expert_action()[None]  # (1, 6)
