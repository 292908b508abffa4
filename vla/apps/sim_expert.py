"""Sim-only policy: the tabletop scripted expert, planning from the privileged state that `vla sim-robot`
publishes on /vla/sim/privileged_state (a real robot has no such topic). Used to test the bridge end to end.
"""

import time

import numpy as np

from policies.base import Observation, Policy
from vla.constants import OBS_STATE


class SimExpertPolicy(Policy):
    """Calls the expert at its own rate (it counts 10 Hz steps); each chunk repeats its latest target."""

    def __init__(self, horizon: int = 8, expert_hz: float = 10.0) -> None:
        super().__init__()
        # Import now, not in the first inference: an import holds the GIL and would stall the control loop.
        from envs.tabletop.expert import make_expert

        self._make_expert = make_expert
        if horizon < 1 or expert_hz <= 0:
            raise ValueError(f"horizon={horizon} must be >= 1 and expert_hz={expert_hz} > 0")
        self.horizon, self.expert_period = horizon, 1.0 / expert_hz
        self._expert = None
        self._target: np.ndarray | None = None
        self._last = -np.inf

    def reset(self) -> None:
        super().reset()
        self._expert, self._target, self._last = None, None, -np.inf

    def predict_action_chunk(self, obs: Observation) -> np.ndarray:
        state = obs.get("privileged_state")
        if state is None:
            raise ValueError(
                "no privileged state in the observation: run `vla sim-robot publish_privileged_state=true` "
                "and `vla deploy use_privileged_state=true` (sim only)"
            )
        now = time.monotonic()
        if self._expert is None:
            self._expert = self._make_expert(state["task"], state)
        if self._target is None or now - self._last >= self.expert_period:
            self._target = np.asarray(self._expert.act(obs[OBS_STATE], state), dtype=np.float32)  # (D,)
            self._last = now
        return np.tile(self._target, (self.horizon, 1))  # (T, D)
