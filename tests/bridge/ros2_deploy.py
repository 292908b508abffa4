"""`vla deploy` with a test policy, for the rclpy interoperation tests (tests/bridge/test_ros2_fastdds.py).

    python -m tests.bridge.ros2_deploy <name> '<json kwargs>' [deploy overrides...]

The policies of tests/bridge/fault_policies.py plus `probe`: a sine policy that also prints what it
was given (the sha256 of each camera image and the instruction), so a test can check every byte that
an rclpy node sent reached the policy.
"""

import hashlib
import sys

import numpy as np

from policies.base import Observation
from tests.bridge import fault_policies
from vla.constants import TASK, image_key


class ProbePolicy(fault_policies.SinePolicy):
    """SinePolicy that prints `PROBE <camera> <sha256> <shape>` and `PROBE task <text>` on each change."""

    def __init__(self, cameras: tuple[str, ...] = ("front", "wrist"), **kw) -> None:
        super().__init__(**kw)
        self.cameras = list(cameras)
        self._seen: dict[str, str] = {}

    def predict_action_chunk(self, obs: Observation) -> np.ndarray:
        seen = {"task": str(obs.get(TASK, ""))}
        for cam in self.cameras:
            img = np.ascontiguousarray(obs[image_key(cam)])  # (H, W, 3) uint8
            seen[cam] = f"{hashlib.sha256(img.tobytes()).hexdigest()} {tuple(img.shape)} {img.dtype}"
        for key, value in seen.items():
            if self._seen.get(key) != value:
                print(f"PROBE {key} {value}", flush=True)
        self._seen = seen
        return super().predict_action_chunk(obs)


fault_policies.POLICIES["probe"] = ProbePolicy

if __name__ == "__main__":
    fault_policies.main(sys.argv[1:])
