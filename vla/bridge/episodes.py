"""Seeded episodes through the bridge, driven over the wire as an operator would drive them.

A `vla sim-robot` process (`SimProcess`) serves the env; a deploy runner (vla/bridge/runner.py) runs the
policy; `Wire` talks to both over DDS only, on their topics. `play_episode` runs one seeded episode:

1. e-stop the runner (/vla/estop true) and wait until it is silent (it brakes, then publishes nothing);
2. /vla/sim/reset {"seed", "split", "id"}: the sim resets the env as env.reset(seed) does in `vla eval`
   (resent until /vla/sim/status shows the id: a repeated id is ignored by the sim);
3. wait until the runner's /vla/status holds the episode's instruction and a fresh joint state, then
   re-arm it (/vla/estop false): it starts from the measured pose, resets the policy, asks for a chunk;
4. watch /vla/sim/status until the latched success, the time limit (simulated seconds from the re-arm)
   or a safety trip (a fault: the episode fails, the trip is counted).

The runner's counters over the episode are the difference of its cumulative /vla/status counters
taken while it is silent before and after (braking at the end included).
"""

import json
import math
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from vla.bridge import dds

OWN_FAULTS = ("fault_estop",)  # the e-stops between episodes are the evaluation's own, not trips
_POLL_S = 0.01
_RESEND_S = 1.0  # a reset not shown in /vla/sim/status by then is sent again (discovery may still be on)


@dataclass
class BridgeEpisode:
    seed: int
    split: str
    instruction: str = ""
    success: bool = False
    length: int = 0  # control periods from the re-arm to the success, or to the time limit
    time_s: float = 0.0  # simulated seconds from the re-arm to the success (or the end)
    fault: str | None = None  # why the safety layer stopped it, when it did
    counters: dict[str, int] = field(default_factory=dict)  # the runner's, over the episode
    sim_counters: dict[str, int] = field(default_factory=dict)  # the sim's (commands, timeouts), over it
    frames: list[np.ndarray] = field(default_factory=list)  # (H, W, 3) uint8 from the video camera

    @property
    def trips(self) -> int:
        return sum(v for k, v in self.counters.items() if k.startswith("fault_") and k not in OWN_FAULTS)


class SimProcess:
    """`vla sim-robot` with Hydra overrides, in its own process; output in `log`."""

    def __init__(self, overrides: Sequence[str], log: Path) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log, self._file = log, open(log, "w")
        args = [sys.executable, "-m", "vla.cli", "sim-robot", *overrides]
        self.p = subprocess.Popen(args, stdout=self._file, stderr=subprocess.STDOUT)

    def check(self) -> None:
        if self.p.poll() is not None:
            raise RuntimeError(f"vla sim-robot exited with {self.p.returncode}:\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text()[-3000:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(10)
        self._file.close()


class Wire:
    """The evaluation's DDS endpoints: the sim's status and reset, the runner's status, commands, e-stop."""

    def __init__(self, b: DictConfig, camera: str | None = None) -> None:
        self.node = dds.Node(b.domain_id, b.loopback_only)
        t = b.topics
        q_state, q_cmd, q_img = (dds.QosSpec(**b.qos[k]) for k in ("state", "command", "image"))
        self._sim = self.node.reader(t.sim_status, dds.String, q_state)
        self._status = self.node.reader(t.status, dds.String, q_state)
        self._cmd = self.node.reader(t.command, dds.Float64MultiArray, q_cmd)
        self._traj = self.node.reader(t.trajectory, dds.JointTrajectory, q_cmd)
        self._img = self.node.reader(t.images[camera], dds.Image, q_img) if camera else None
        self.reset_writer = self.node.writer(t.sim_reset, dds.String, q_cmd)
        self.estop_writer = self.node.writer(t.estop, dds.Bool, q_cmd)
        self.sim: dict[str, Any] = {}
        self.runner: dict[str, Any] = {}
        self.runner_updates = 0  # /vla/status messages received
        self.last_command = -math.inf  # monotonic time of the last command seen
        self.frames: list[np.ndarray] | None = None  # collecting video frames when a list
        self.process: SimProcess | None = None  # checked while waiting: a dead sim fails fast

    def poll(self) -> None:
        for msg in self._sim.take():
            self.sim = json.loads(msg.data)
        for msg in self._status.take():
            self.runner = json.loads(msg.data)
            self.runner_updates += 1
        if self._cmd.take() or self._traj.take():
            self.last_command = time.monotonic()
        if self._img is not None:
            msg = self._img.latest()
            if msg is not None and self.frames is not None:
                row = np.asarray(msg.data, dtype=np.uint8)  # (H * W * 3,)
                self.frames.append(row.reshape(msg.height, msg.width, 3))

    def poll_until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        """Polls until `done()`; False at the timeout. A sim process that died raises at once."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.poll()
            if done():
                return True
            if self.process is not None:
                self.process.check()
            if time.monotonic() > deadline:
                return False
            time.sleep(_POLL_S)

    def wait(self, done: Callable[[], bool], timeout_s: float, what: str) -> None:
        if not self.poll_until(done, timeout_s):
            tail = self.process.tail() if self.process is not None else ""
            raise TimeoutError(
                f"bridge evaluation: no {what} within {timeout_s:.0f} s (runner status {self.runner}, "
                f"sim status {self.sim})\n{tail}"
            )

    def connect(self, process: SimProcess, timeout_s: float = 60.0) -> None:
        """Waits for a new sim process: its status, the runner's, and both of our writers matched."""
        self.process, self.sim = process, {}
        self.wait(
            lambda: bool(self.sim) and bool(self.runner), timeout_s, "status from the sim and the runner"
        )
        self.wait(
            lambda: dds.publication_matched(self.estop_writer) >= 1, timeout_s, "e-stop reader (runner)"
        )
        self.wait(lambda: dds.publication_matched(self.reset_writer) >= 1, timeout_s, "reset reader (sim)")

    def estop(self, engage: bool) -> None:
        self.estop_writer.write(dds.Bool(engage))

    def silence_runner(self, quiet_s: float, timeout_s: float = 10.0) -> dict[str, int]:
        """E-stop; once it is silent, its counters from a /vla/status published after."""
        self.estop(True)
        self.wait(lambda: self.runner.get("state") == "estopped", timeout_s, "e-stop state in /vla/status")
        self.wait(lambda: time.monotonic() - self.last_command >= quiet_s, timeout_s, "silence after e-stop")
        seen = self.runner_updates
        self.wait(lambda: self.runner_updates >= seen + 2, timeout_s, "/vla/status after the e-stop")
        return dict(self.runner.get("counters", {}))

    def reset(self, seed: int, split: str, reset_id: str, timeout_s: float = 20.0) -> None:
        request = dds.String(json.dumps({"seed": seed, "split": split, "id": reset_id}))
        shown = lambda: self.sim.get("reset_id") == reset_id  # noqa: E731
        for _ in range(max(1, round(timeout_s / _RESEND_S))):
            self.reset_writer.write(request)
            if self.poll_until(shown, _RESEND_S):
                return
        raise TimeoutError(f"the sim never showed reset {reset_id} (seed {seed}): {self.sim}")


def play_episode(
    wire: Wire, seed: int, split: str, reset_id: str, rate_hz: float, time_limit_s: float, film: bool
) -> BridgeEpisode:
    """One episode, as the module doc says; the runner is left e-stopped and silent."""
    quiet = max(3.0 / rate_hz, 0.15)
    before = wire.silence_runner(quiet)
    wire.reset(seed, split, reset_id)
    ep = BridgeEpisode(seed=seed, split=split, instruction=str(wire.sim["task"]))
    ready = lambda: wire.runner.get("task") == ep.instruction and bool(wire.runner.get("fresh_state"))  # noqa: E731
    wire.wait(ready, 10.0, "instruction and fresh state at the runner")
    t0 = float(wire.sim["episode_time_s"])  # up to one status period early: never gives the bridge time
    sim_before = dict(wire.sim.get("counters", {}))  # after the hold our e-stop caused (not the episode's)
    wire.frames = [] if film else None
    wire.estop(False)
    wall_limit = time.monotonic() + 3 * time_limit_s + 10.0  # a sim far behind real time is an error
    while True:
        wire.poll()
        s = wire.sim
        if s.get("episode_success"):
            ep.success, ep.time_s = True, float(s["success_time_s"]) - t0
            break
        if float(s["episode_time_s"]) - t0 >= time_limit_s:
            ep.time_s = time_limit_s
            break
        if wire.runner.get("state") == "faulted":
            ep.fault, ep.time_s = wire.runner.get("fault"), float(s["episode_time_s"]) - t0
            break
        if time.monotonic() > wall_limit:
            raise TimeoutError(f"episode of seed {seed} ran {3 * time_limit_s + 10:.0f} s of wall time: {s}")
        if wire.process is not None:
            wire.process.check()
        time.sleep(_POLL_S)
    ep.frames, wire.frames = wire.frames or [], None
    sim_after = dict(wire.sim.get("counters", {}))
    after = wire.silence_runner(quiet)
    ep.counters = _diff(after, before)
    ep.sim_counters = _diff(sim_after, sim_before)
    limit_steps = max(1, round(time_limit_s * rate_hz))
    ep.length = min(limit_steps, max(1, math.ceil(ep.time_s * rate_hz - 1e-9))) if ep.success else limit_steps
    return ep


def _diff(after: dict[str, Any], before: dict[str, Any]) -> dict[str, int]:
    keys = sorted(set(after) | set(before))
    return {k: int(after.get(k, 0)) - int(before.get(k, 0)) for k in keys if isinstance(after.get(k, 0), int)}
