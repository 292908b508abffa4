"""Test harness: the sim robot and the deploy runner as separate processes, and an observer on DDS.

Each test gets its own ROS domain id, so tests can run side by side without cross-talk. Processes
are started with `python -m` from the repository root, so no sys.path changes are needed.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from vla.bridge import dds
from vla.constants import SO101_JOINTS

ROOT = Path(__file__).resolve().parents[2]
JOINTS = list(SO101_JOINTS)
_used: set[int] = set()


def fresh_domain() -> int:
    """A domain id no other test in this session used; spread by pid across concurrent sessions."""
    base = 20 + (os.getpid() * 7) % 180
    for i in range(200):
        d = 20 + (base + i) % 210
        if d not in _used:
            _used.add(d)
            return d
    raise RuntimeError("no free ROS domain id left")


def default_sigint() -> None:
    """For a child that a test sends SIGINT (Ctrl-C) to: a terminal's foreground job has SIGINT at its
    default, but a test run started in the background by a script (`make test &`) ignores it, and a child
    inherits an ignored signal across exec, so it would never see the test's SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Proc:
    """A child process with its output captured to a file (read it in assertion messages)."""

    def __init__(self, args: list[str], domain: int, log: Path) -> None:
        env = dict(os.environ, ROS_DOMAIN_ID=str(domain), PYTHONUNBUFFERED="1")
        self.log = log
        self._file = open(log, "w")
        self.p = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=env,
            stdout=self._file,
            stderr=subprocess.STDOUT,
            preexec_fn=default_sigint,
        )

    def signal(self, sig: int) -> None:
        self.p.send_signal(sig)

    def stop(self) -> str:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGCONT)
            self.p.terminate()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        self._file.close()
        return self.output()

    def output(self) -> str:
        return self.log.read_text()[-4000:]


def start_sim(domain: int, tmp: Path, *overrides: str) -> Proc:
    args = ["-m", "vla.cli", "sim-robot", "camera_rate_hz=0", f"hydra.run.dir={tmp}/sim", *overrides]
    return Proc(args, domain, tmp / "sim.log")


def start_deploy(domain: int, tmp: Path, policy: str, *overrides: str, **policy_kwargs: object) -> Proc:
    """`vla deploy` with a test policy from tests/bridge/fault_policies.py (or a registered one)."""
    args = [
        "-m",
        "tests.bridge.fault_policies",
        policy,
        json.dumps(policy_kwargs),
        "status_period_s=0.05",
        *overrides,
    ]
    return Proc(args, domain, tmp / "deploy.log")


class Observer:
    """Records, in a background thread, what crosses the wire: measured joints, commands, status."""

    def __init__(self, domain: int) -> None:
        self.node = dds.Node(domain)
        q = dds.QosSpec()
        self._js = self.node.reader("/joint_states", dds.JointState, q)
        self._cmd = self.node.reader("/forward_position_controller/commands", dds.Float64MultiArray, q)
        self._traj = self.node.reader("/joint_trajectory_controller/joint_trajectory", dds.JointTrajectory, q)
        self._status = self.node.reader("/vla/status", dds.String, q)
        self._sim = self.node.reader("/vla/sim/status", dds.String, q)
        self.estop_writer = self.node.writer("/vla/estop", dds.Bool, q)
        self.fault_writer = self.node.writer("/vla/sim/fault", dds.String, q)
        self.joints: list[tuple[float, np.ndarray]] = []  # (monotonic, (6,))
        self.velocities: list[tuple[float, np.ndarray]] = []  # (monotonic, (6,)): MuJoCo's measured qvel
        self.commands: list[tuple[float, np.ndarray]] = []
        self.status: list[tuple[float, dict]] = []
        self.sim: list[tuple[float, dict]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            now = time.monotonic()
            # only the robot's own joints (a test may publish bad names on the same topic)
            states = [m for m in self._js.take() if list(m.name) == JOINTS]
            self.joints += [(now, np.array(m.position)) for m in states]
            self.velocities += [(now, np.array(m.velocity)) for m in states if len(m.velocity) == len(JOINTS)]
            self.commands += [(now, np.array(m.data)) for m in self._cmd.take()]
            self.commands += [(now, np.array(m.points[0].positions)) for m in self._traj.take()]
            self.status += [(now, json.loads(m.data)) for m in self._status.take()]
            self.sim += [(now, json.loads(m.data)) for m in self._sim.take()]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1)

    def wait_for(self, what, timeout: float, message: str = "") -> float:
        """Poll `what()` until true; returns the monotonic time it became true, else fails."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if what():
                return time.monotonic()
            time.sleep(0.01)
        raise AssertionError(f"timed out after {timeout} s waiting for {message or what}")

    def matched_writer(self, ros_topic: str, msg_type: type, readers: int = 2, timeout: float = 10.0):
        """A writer on `ros_topic`, returned once `readers` readers matched it (this observer's own
        included): samples written before discovery completes would be silently lost (VOLATILE)."""
        writer = self.node.writer(ros_topic, msg_type)
        self.wait_for(lambda: dds.publication_matched(writer) >= readers, timeout, f"readers of {ros_topic}")
        return writer

    def estop(self, engage: bool) -> None:
        self.estop_writer.write(dds.Bool(engage))

    def inject(self, **fault: object) -> None:
        self.fault_writer.write(dds.String(json.dumps(fault)))

    def last_status(self) -> dict:
        return self.status[-1][1] if self.status else {}

    def counter(self, name: str) -> int:
        return int(self.last_status().get("counters", {}).get(name, 0))

    def joints_between(self, t0: float, t1: float) -> np.ndarray:
        return np.array([q for t, q in self.joints if t0 <= t <= t1])  # (N, 6)

    def commands_between(self, t0: float, t1: float) -> np.ndarray:
        return np.array([q for t, q in self.commands if t0 <= t <= t1])  # (N, 6)

    def moving(self, window: float = 0.2, eps: float = 1e-3) -> bool:
        now = time.monotonic()
        q = self.joints_between(now - window, now)
        return len(q) > 2 and float(np.abs(q[-1] - q[0]).max()) > eps


def wall_to_monotonic(wall: float) -> float:
    return wall - (time.time() - time.monotonic())


def settled_after(times: np.ndarray, values: np.ndarray, eps: float = 1e-9) -> float:
    """The first time after which `values` (N, D) never change again by more than eps."""
    diffs = np.abs(np.diff(values, axis=0)).max(axis=1)  # (N-1,)
    moving = np.flatnonzero(diffs > eps)
    return float(times[moving[-1] + 1]) if len(moving) else float(times[0])


def series(samples: list[tuple[float, np.ndarray]], t0: float = -np.inf, t1: float = np.inf):
    """(times (N,), values (N, D)) of the samples received within [t0, t1]."""
    picked = [(t, q) for t, q in list(samples) if t0 <= t <= t1]
    if not picked:
        return np.zeros(0), np.zeros((0, 6))
    return np.array([t for t, _ in picked]), np.array([q for _, q in picked])


def stall_time(proc: Proc) -> float:
    """Monotonic time at which a StallPolicy reported its stall (parsed from the deploy log)."""
    for line in proc.log.read_text().splitlines():
        if line.startswith("STALL"):
            return wall_to_monotonic(float(line.split()[-1]))
    raise AssertionError(f"the policy never stalled:\n{proc.output()}")
