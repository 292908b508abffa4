"""The tabletop suite's scripted expert behind the Policy interface (privileged: ignores the images).

With `limits` (a bridge's `safety` section and joint names, e.g. conf/bridge/so101.yaml), every action
passes through the bridge's own SafetyLayer at the env's control period, armed at the episode's first
measured pose: the recorded demonstrations then move no faster, and accelerate no harder, than the
bridge lets a deployed policy move (`vla record expert_limits=so101`; docs/deploy.md).
"""

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from policies.base import Observation, Policy
from vla.bridge.safety import SafetyConfig, SafetyLayer


class ExpertPolicy(Policy):
    """Acts with `env.unwrapped.expert_action()`; the observation passed in is not used (but for the
    measured pose that arms the limits).

    The env must be the one being stepped: the expert reads its simulator state. Call `reset()`
    after `env.reset()` (the env also restarts its expert plan on reset).
    """

    n_action_steps = 1

    def __init__(self, env: gym.Env, limits: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        if not hasattr(env.unwrapped, "expert_action"):
            raise ValueError(
                f"env {env.unwrapped!r} has no scripted expert (no expert_action()); "
                "use a tabletop env such as vla/PickCube-v0"
            )
        self.env = env
        self.limits = None if not limits else limited_config(limits)
        self.dt = 1.0 / float(env.metadata["render_fps"])
        self._layer: SafetyLayer | None = None

    def reset(self) -> None:
        super().reset()
        self._layer = None  # re-armed at the next episode's first pose, at rest, as the bridge arms

    def predict_action_chunk(self, obs: Observation) -> np.ndarray:
        action = self.env.unwrapped.expert_action()
        if self.limits is None:
            return action[None]  # (1, 6)
        if self._layer is None:
            self._layer = SafetyLayer(self.limits, self.dt)
            refused = self._layer.arm(np.asarray(obs["observation.state"], dtype=np.float64), fresh=True)
            if refused is not None:
                raise ValueError(f"expert limits: cannot arm at the episode's first pose: {refused}")
        return self._layer.step(action)[None].astype(np.float32)

    @property
    def interventions(self) -> dict[str, int]:
        """The limits' counters this episode (rate_limited: ticks whose expert action was slowed)."""
        return dict(self._layer.counters) if self._layer is not None else {}


def limited_config(limits: Mapping[str, Any]) -> SafetyConfig:
    """A SafetyConfig from a bridge config's `joint_names` and `safety` keys (or a flat safety dict
    holding joint_names)."""
    flat = dict(limits.get("safety") or {}) if "safety" in limits else dict(limits)
    names: Sequence[str] = limits.get("joint_names") or flat.pop("joint_names", ())
    flat.pop("joint_names", None)
    return SafetyConfig(joint_names=tuple(names), **flat)
