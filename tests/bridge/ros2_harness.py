"""ROS 2's own client in the tests: tests/bridge/ros2_peer.py run by rclpy on Fast DDS in .venv-ros.

`make setup` creates .venv-ros from tests/bridge/ros2_requirements.txt (ROS 2's PyPI wheels). It is a
venv of its own because the wheels install a .pth that re-executes every interpreter of their venv
with LD_LIBRARY_PATH pointing into it, which the project's processes must not get, and because the
bridge has to be shown working on a machine without ROS. VLA_ROS2_PYTHON overrides the interpreter.
"""

import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.bridge.harness import ROOT, Proc

PEER = ROOT / "tests/bridge/ros2_peer.py"


def ros2_python() -> Path:
    path = Path(os.environ.get("VLA_ROS2_PYTHON", ROOT / ".venv-ros/bin/python"))
    if not path.exists():
        pytest.fail(f"no ROS 2 client interpreter at {path}: run `make setup` (creates .venv-ros)")
    return path


class Ros2Peer:
    """A running rclpy node: `send` JSON commands to it, read its JSON events (see ros2_peer.py)."""

    def __init__(self, role: str, domain: int, log: Path, **extra_env: str) -> None:
        drop = ("PYTHONPATH", "VIRTUAL_ENV", "CYCLONEDDS_URI")  # the project venv's, not the ROS venv's
        env = {k: v for k, v in os.environ.items() if k not in drop}
        # ROS 2's default middleware, named so that no other installed RMW could be picked
        env.update(ROS_DOMAIN_ID=str(domain), RMW_IMPLEMENTATION="rmw_fastrtps_cpp", PYTHONUNBUFFERED="1")
        env.update(extra_env)
        self.log = log
        self._err = open(log, "w")
        self.p = subprocess.Popen(
            [str(ros2_python()), str(PEER), role],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            text=True,
        )
        self.events: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.p.stdout:
            try:
                self.events.append(json.loads(line))
            except json.JSONDecodeError:  # rclpy's own output, if any
                continue

    def send(self, **cmd: object) -> None:
        self.p.stdin.write(json.dumps(cmd) + "\n")
        self.p.stdin.flush()

    def of(self, kind: str, since: float = -float("inf")) -> list[dict[str, Any]]:
        """Events of one kind received at or after monotonic time `since` (same clock as ours)."""
        return [e for e in list(self.events) if e["ev"] == kind and e["t"] >= since]

    def last(self, kind: str) -> dict[str, Any]:
        found = self.of(kind)
        return found[-1] if found else {}

    def wait_for(self, what, timeout: float, message: str) -> float:
        """Poll `what()` until true; returns the monotonic time it became true, else fails."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.p.poll() is not None:
                raise AssertionError(f"the rclpy node exited ({self.p.returncode}):\n{self.output()}")
            if what():
                return time.monotonic()
            time.sleep(0.02)
        raise AssertionError(f"timed out after {timeout} s waiting for {message}\n{self.output()}")

    def matched(self, topic: str) -> int:
        return int(self.last("matched").get("counts", {}).get(topic, 0))

    def stop(self) -> str:
        if self.p.poll() is None:
            try:
                self.p.stdin.close()  # the peer ends when its stdin closes
                self.p.wait(5)
            except (subprocess.TimeoutExpired, BrokenPipeError):
                self.p.kill()
                self.p.wait(5)
        self._err.close()
        return self.output()

    def output(self) -> str:
        kinds: dict[str, int] = {}
        for e in list(self.events):
            kinds[e["ev"]] = kinds.get(e["ev"], 0) + 1
        return f"rclpy events {kinds}; last matched {self.last('matched')}\n{self.log.read_text()[-3000:]}"


def start_deploy(domain: int, tmp: Path, policy: str, *overrides: str, **policy_kwargs: object) -> Proc:
    """`vla deploy` with a test policy, tests/bridge/ros2_deploy.py (fault_policies' plus `probe`)."""
    args = ["-m", "tests.bridge.ros2_deploy", policy, json.dumps(policy_kwargs), "status_period_s=0.1"]
    return Proc([*args, *overrides], domain, tmp / "deploy.log")
