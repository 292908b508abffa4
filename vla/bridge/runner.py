"""The deploy runner: observations in, policy chunks asynchronously, safety-filtered commands out.

Threads: the control loop (fixed rate on absolute monotonic deadlines) owns the DDS readers and the
command writer; the inference thread runs `policy.predict_action_chunk` on the newest observation
when the control loop asks for it (vla/bridge/chunks.py: the queue; vla/bridge/timing.py: when to
prefetch, and the timeouts); the watchdog thread trips the safety layer when the loop, the observations
or the policy go stale.

Which /joint_states messages are used: vla/bridge/state_check.py (names, finite positions, stamps
neither replayed, older nor further in the future than `obs_max_age_s`). When no message passes for
`obs_timeout_s`, the robot holds and arming is refused.

Operator input (/vla/estop: true = stop, false = re-arm request) goes to the arming state machine in
the order it arrived; vla/bridge/arming.py states the rules.
"""

import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from vla.bridge import dds
from vla.bridge.arming import Request
from vla.bridge.chunks import ChunkQueue, should_request
from vla.bridge.io import BridgeIO
from vla.bridge.rt import set_realtime
from vla.bridge.runner_config import RunnerConfig
from vla.bridge.safety import SafetyLayer
from vla.bridge.state_check import StateCheck
from vla.bridge.timing import Prefetch, policy_timeout
from vla.bridge.watchdog import Watchdog
from vla.constants import OBS_STATE, TASK, image_key

log = logging.getLogger(__name__)

_KEEP = 10_000  # timing samples kept (minutes at 30-50 Hz): memory stays bounded on long deployments
_LOG_COUNTERS_EVERY_S = 2.0  # changed intervention counters are logged at most this often


class ChunkPolicy(Protocol):
    """What the runner needs of a policy (policies.base.Policy has it); the bridge imports no policy."""

    def reset(self) -> None: ...

    def predict_action_chunk(self, obs: dict[str, Any]) -> Any: ...  # (T, D) actions


class Clock:
    """The runner's clocks: `monotonic` for deadlines and arrival ages, `wall` to compare header stamps
    with. Tests substitute a stepped clock to drive `Runner.tick` deterministically."""

    monotonic = staticmethod(time.monotonic)
    wall = staticmethod(time.time)


@dataclass
class _Obs:
    q: np.ndarray | None = None
    arrival: float = -np.inf  # monotonic time it was accepted
    images: dict[str, tuple[float, np.ndarray]] = field(default_factory=dict)  # cam -> (stamp, (H, W, 3))
    privileged: dict | None = None
    task: str = ""


class Runner:
    def __init__(
        self,
        cfg: RunnerConfig,
        policy: ChunkPolicy,
        safety: SafetyLayer,
        io: BridgeIO,
        clock: Clock | None = None,
    ) -> None:
        self.cfg, self.policy, self.safety, self.io = cfg, policy, safety, io
        self.clock = clock or Clock()
        self.dt = 1.0 / cfg.rate_hz
        self.names = list(safety.cfg.joint_names)
        self.queue = ChunkQueue(cfg.blend_steps)
        self.obs = _Obs(task=cfg.task)
        self.counters: dict[str, int] = {
            "overruns": 0,
            "policy_errors": 0,
            "chunks_bad_shape": 0,
            "image_stale": 0,
        }
        # Latency, for ticks that took a new joint state and published a command from it (model excluded:
        # actions come from the queue): taken from DDS -> command written, and robot's write -> ours.
        self.latency_s: deque[float] = deque(maxlen=_KEEP)
        self.wire_latency_s: deque[float] = deque(maxlen=_KEEP)  # one clock on one machine; else needs sync
        self.periods_s: deque[float] = deque(maxlen=_KEEP)  # tick start to tick start
        self.inference_s: deque[float] = deque(maxlen=_KEEP)  # seconds per served request (images + model)
        self.prefetch = Prefetch(self.dt, cfg.prefetch_threshold)
        self.commands: list[tuple[float, np.ndarray]] = []  # (monotonic, command) when record_commands
        self.record_commands = False
        if cfg.arm_on_start:
            safety.request_arm(Request.START)
        self.state_check = StateCheck(self.names, cfg.obs_max_age_s)
        self._logged_counters: dict[str, int] = {}
        self._logged_at = -np.inf
        self._last_publish = -np.inf
        self._new_state: tuple[float, float] | None = None  # (taken monotonic, robot's send wall time)
        self._gen = 0  # bumped on every (re-)arm/e-stop: results of older requests are discarded
        self._lock = threading.Lock()  # request/result slots shared with the inference thread
        self._tick_lock = threading.Lock()  # one tick, or one watchdog intervention, at a time
        self._request: tuple[dict, int, int] | None = None
        self._result: tuple[np.ndarray, int, int] | None = None
        self._in_flight = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        timeouts = {
            "loop": cfg.loop_timeout_s,
            "observation": cfg.obs_timeout_s,
            "policy": cfg.policy_timeout_s,
        }
        self.watchdog = Watchdog(timeouts, self._on_watchdog, rt_priority=cfg.rt_priority)
        self._infer_thread = threading.Thread(target=self._inference_loop, name="vla-inference", daemon=True)

    # ---------------------------------------------------------------- inference thread
    def _inference_loop(self) -> None:
        while not self._stop.is_set():
            if not self._wake.wait(0.05):
                continue
            self._wake.clear()
            self.infer_once()

    def infer_once(self) -> bool:
        """Serves the pending inference request, if any (the inference thread's body); True if it did."""
        with self._lock:
            request, self._request = self._request, None
        if request is None:
            return False
        obs, t_obs, gen = request
        t0 = time.monotonic()
        try:
            chunk = None
            if self._add_images(obs):  # the policy is never stepped on stale images
                chunk = np.asarray(self.policy.predict_action_chunk(obs), dtype=np.float64)  # (T, D)
                self.inference_s.append(time.monotonic() - t0)
                self.prefetch.record(self.inference_s[-1])
                self._follow_latency()
        except Exception:
            log.exception("policy failed; holding until it produces again")
            self.counters["policy_errors"] += 1
            chunk = None
        with self._lock:
            if chunk is not None:
                self._result = (chunk, t_obs, gen)
            self._in_flight = False
        return True

    def _follow_latency(self) -> None:
        """A derived policy timeout follows the measured inference latency (vla/bridge/timing.py)."""
        latency = self.prefetch.timeout_latency_s
        if self.cfg.policy_timeout_derived and latency is not None:
            self.watchdog.set_timeout("policy", policy_timeout(self.cfg.policy_timeout_s, latency))

    def _add_images(self, obs: dict[str, Any]) -> bool:
        """Adds the newest image of every camera; False if one is missing or older than image_max_age_s.

        Runs in the inference thread: images are taken from DDS and decoded here (cyclonedds decodes a
        sequence<uint8> in Python, ms per image), off the control loop's critical path.
        """
        if self.cfg.cameras:
            self.obs.images = {**self.obs.images, **self.io.images()}  # one assignment: the loop may read it
        now = self.clock.wall()
        for cam in self.cfg.cameras:
            if cam not in self.obs.images or now - self.obs.images[cam][0] > self.cfg.image_max_age_s:
                self.counters["image_stale"] += 1
                return False
            obs[image_key(cam)] = self.obs.images[cam][1]  # (H, W, 3) uint8
        return True

    def _submit(self, tick: int) -> None:
        obs: dict[str, Any] = {OBS_STATE: self.obs.q.astype(np.float32), TASK: self.obs.task}
        if self.cfg.use_privileged_state:
            obs["privileged_state"] = self.obs.privileged
        with self._lock:
            self._request, self._in_flight = (obs, tick, self._gen), True
        self._wake.set()

    def _collect(self, tick: int) -> None:
        with self._lock:
            result, self._result = self._result, None
        if result is None:
            return
        chunk, t_obs, gen = result
        if gen != self._gen or not self.safety.armed:
            return  # computed before an e-stop or re-arm: the old plan is never resumed
        if chunk.ndim != 2 or chunk.shape[1] != len(self.names) or len(chunk) == 0:
            self.counters["chunks_bad_shape"] += 1  # whole chunk rejected; the safety layer holds
            log.warning("policy chunk of shape %s rejected (expected (T, %d))", chunk.shape, len(self.names))
            return
        self.queue.push(chunk, t_obs, tick)

    # ---------------------------------------------------------------- observations and operator input
    def _read_inputs(self) -> None:
        now_wall, now = self.clock.wall(), self.clock.monotonic()
        for msg in self.io.joint_states():
            self._accept_state(msg, now_wall, now)
        privileged = self.io.privileged_state()
        if privileged is not None:
            self.obs.privileged = privileged
        instruction = self.io.instruction()
        if instruction is not None and instruction != self.obs.task:
            log.info("new instruction: %r", instruction)
            self.obs.task = instruction
        for engage in self.io.estop():  # in the order sent: `false, true` ends e-stopped, `true, false` not
            if engage:
                self._estop()
            else:
                self.safety.request_arm()  # std_msgs/Bool false on /vla/estop

    def _accept_state(self, msg: dds.JointState, now_wall: float, now: float) -> None:
        q = self.state_check.accept(msg, now_wall)
        if q is None:
            return
        self.obs.q, self.obs.arrival = q, now
        info = getattr(msg, "sample_info", None)
        self._new_state = (now, info.source_timestamp * 1e-9 if info is not None else self.state_check.stamp)
        self.watchdog.feed("observation")

    def _fresh(self) -> bool:
        return self.obs.q is not None and self.clock.monotonic() - self.obs.arrival <= self.cfg.obs_timeout_s

    # ---------------------------------------------------------------- safety state changes
    def _estop(self) -> None:
        self.safety.estop()
        self._drop_plan()

    def _drop_plan(self) -> None:
        self.queue.clear()
        self._gen += 1
        for channel in ("policy", "observation"):
            self.watchdog.disarm(channel)

    def _on_watchdog(self, channel: str) -> None:
        # The tick lock keeps the plan consistent; a loop stuck while holding it must not block the trip.
        locked = self._tick_lock.acquire(timeout=0.005)
        try:
            if self.safety.trip(channel) and locked:
                self._drop_plan()
        finally:
            if locked:
                self._tick_lock.release()
        # Nothing is published from here: after a stall the last command is stale, and the robot side
        # (ros2_control cmd_timeout, or a position controller keeping its last target) already holds.

    def _try_arm(self) -> None:
        """Attempts the pending arm request; it is consumed either way (arming rule 2)."""
        if self.safety.attempt_arm(self.obs.q, self._fresh()) is not None:
            return
        self._drop_plan()
        self.policy.reset()
        self.watchdog.feed("observation")
        self.watchdog.expect("policy", self.cfg.first_chunk_timeout_s)

    # ---------------------------------------------------------------- the control loop
    def tick(self, k: int) -> None:
        """One control period: read, decide, publish. `k` is the tick index on the control clock."""
        self.watchdog.feed("loop")
        self._read_inputs()
        if self.safety.arm_due(self._fresh()):
            self._try_arm()
        if not self._fresh() and self.safety.trip("observation"):  # the policy is not stepped on stale data
            self._drop_plan()
        action = None
        if self.safety.armed:
            self._collect(k)
            action = self.queue.pop(k)
            if action is not None:
                self.watchdog.feed("policy")
            if should_request(self.queue.remaining(k + 1), self.prefetch_threshold(), self._in_flight):
                self._submit(k)
        interrupted = self.clock.monotonic() - self._last_publish > self.watchdog.timeouts["loop"]
        if not self.safety.armed and interrupted:
            # the command stream was interrupted (stall, outage): the robot holds on its own; braking from
            # our stale last command now would move it back, so stay silent until re-armed
            self.safety.silence()
        command = self.safety.step(action)
        if command is not None:
            self.io.publish_command(command)
            self._last_publish = self.clock.monotonic()
            if self.safety.armed and self._new_state is not None:
                taken, sent_wall = self._new_state
                self.latency_s.append(self._last_publish - taken)
                self.wire_latency_s.append(self.clock.wall() - sent_wall)
            if self.record_commands:
                self.commands.append((self._last_publish, command))
        self._new_state = None

    def prefetch_threshold(self) -> int:
        n = self.cfg.n_action_steps or int(getattr(self.policy, "n_action_steps", 1) or 1)
        return self.prefetch.threshold(self.queue.chunk_len, n)

    def status(self) -> dict[str, Any]:
        lat = np.array(list(self.latency_s)[-1000:]) * 1e3
        jitter = np.abs(np.array(list(self.periods_s)[-1000:]) - self.dt) * 1e3
        safety = self.safety.status()
        for counters in (self.counters, self.state_check.counters, self.queue.stats):
            safety["counters"].update({k: v for k, v in counters.items() if v})
        if self.io.images_dropped:
            safety["counters"]["images_dropped"] = self.io.images_dropped
        safety.update(
            task=self.obs.task,
            fresh_state=self._fresh(),
            cameras=sorted(self.obs.images),
            latency_ms=_percentiles(lat),  # joint state taken from DDS -> command written (last 1000)
            jitter_ms=_percentiles(jitter),  # |control period - 1/rate_hz| (last 1000 ticks)
            inference_ms=_percentiles(np.array(list(self.inference_s)[-1000:]) * 1e3),  # request served
            prefetch_threshold=self.prefetch_threshold(),
            policy_timeout_s=round(self.watchdog.timeouts["policy"], 3),  # follows the latency if derived
        )
        return safety

    def _log_counters(self, counters: dict[str, int]) -> None:
        """Every intervention reaches the log too: changed counters, at most every few seconds."""
        now = time.monotonic()
        if counters != self._logged_counters and now - self._logged_at >= _LOG_COUNTERS_EVERY_S:
            changed = {k: v for k, v in counters.items() if self._logged_counters.get(k) != v}
            log.info("interventions (totals): %s", changed)
            self._logged_counters, self._logged_at = dict(counters), now

    def run(self, duration_s: float = 0.0) -> None:
        """Fixed-rate loop on absolute deadlines; overruns are counted, never bursted through."""
        self._infer_thread.start()  # before set_realtime: threads inherit the creator's policy
        self.watchdog.start()
        set_realtime(self.cfg.rt_priority)
        t0 = last = time.monotonic()
        next_status, k = t0, 0
        try:
            while not self._stop.is_set() and (duration_s <= 0 or time.monotonic() - t0 < duration_s):
                start = time.monotonic()
                if k:
                    self.periods_s.append(start - last)
                last = start
                with self._tick_lock:
                    self.tick(k)
                if start >= next_status:
                    status = self.status()
                    self.io.publish_status(json.dumps(status))
                    self._log_counters(status["counters"])
                    next_status = start + self.cfg.status_period_s
                k = self._sleep_until_next(t0, k)
        finally:
            self.stop()

    def _sleep_until_next(self, t0: float, k: int) -> int:
        k += 1
        delay = t0 + k * self.dt - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        # Measured after the sleep too: a stall (GIL-holding call, SIGSTOP) may have happened inside it.
        late = time.monotonic() - (t0 + k * self.dt)
        missed = int(late / self.dt)
        if missed:
            self.counters["overruns"] += 1
            with self._tick_lock:
                # the process was stalled: never continue the old plan
                if late > self.watchdog.timeouts["loop"] and self.safety.trip("loop"):
                    self._drop_plan()
        return k + missed  # the tick index follows the clock, so chunk actions stay on schedule

    def request_arm(self) -> None:
        """Explicit (re-)arm, as a Bool(false) on /vla/estop does; refused (counted) on stale state."""
        self.safety.request_arm()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self.watchdog.stop()


def _percentiles(ms: np.ndarray) -> dict[str, float | None]:
    if not ms.size:
        return {"p50": None, "p99": None, "max": None}
    return {
        "p50": round(float(np.percentile(ms, 50)), 3),
        "p99": round(float(np.percentile(ms, 99)), 3),
        "max": round(float(ms.max()), 3),
    }
