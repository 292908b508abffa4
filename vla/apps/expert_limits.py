"""The scripted expert within a bridge's limits (`vla record expert_limits=so101`).

Every action of the wrapped policy passes through the bridge's own SafetyLayer at the env's control
period, armed at the episode's first measured pose at rest, with the same ramp: the recorded
demonstrations then move no faster, and accelerate no harder, than `vla deploy` lets a deployed policy
move (docs/deploy.md, "Demonstrations the bridge will not slow"). Here, in the apps, because policies
do not import the bridge.
"""

import sys
from pathlib import Path
from typing import Any

import numpy as np

from policies.base import Observation, Policy
from vla.bridge.safety import SafetyConfig, SafetyLayer
from vla.config import CONF_DIR
from vla.constants import OBS_STATE


class LimitedPolicy(Policy):
    """`policy`'s actions, one per tick, through a SafetyLayer of `limits` at period `dt`."""

    n_action_steps = 1

    def __init__(self, policy: Policy, limits: SafetyConfig, dt: float) -> None:
        super().__init__()
        self.policy, self.limits, self.dt = policy, limits, dt
        self._layer: SafetyLayer | None = None

    def reset(self) -> None:
        super().reset()
        self.policy.reset()
        self._layer = None  # re-armed at the next episode's first pose, at rest, as the bridge arms

    def predict_action_chunk(self, obs: Observation) -> np.ndarray:
        action = self.policy.select_action(obs)
        if self._layer is None:
            self._layer = SafetyLayer(self.limits, self.dt)
            refused = self._layer.arm(np.asarray(obs[OBS_STATE], dtype=np.float64), fresh=True)
            if refused is not None:
                raise ValueError(f"expert limits: cannot arm at the episode's first pose: {refused}")
        return self._layer.step(action)[None].astype(np.float32)  # (1, D)

    @property
    def interventions(self) -> dict[str, int]:
        """The limits' counters this episode (rate_limited: ticks whose action was slowed)."""
        return dict(self._layer.counters) if self._layer is not None else {}


def bridge_limits(name: str) -> dict[str, Any]:
    """`joint_names` and `safety` of conf/bridge/<name>.yaml (or a yaml file path): the limits
    `expert_limits=<name>` puts on the scripted expert (SafetyConfig.from_bridge reads them)."""
    from omegaconf import OmegaConf

    path = Path(name) if name.endswith((".yaml", ".yml")) else Path(CONF_DIR) / "bridge" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (Path(CONF_DIR) / "bridge").glob("*.yaml"))
        sys.exit(f"vla record: expert_limits={name}: no {path}; use one of {known} or a yaml file's path")
    cfg = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    if not isinstance(cfg, dict) or "safety" not in cfg or "joint_names" not in cfg:
        sys.exit(f"vla record: expert_limits={name}: {path} has no joint_names and safety sections")
    return {"joint_names": cfg["joint_names"], "safety": cfg["safety"]}
