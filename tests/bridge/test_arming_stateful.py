"""The arming rules and the safety invariants under random interleavings (hypothesis stateful test).

The real `Runner`, `SafetyLayer`, `ChunkQueue` and arming state machine are driven tick by tick on a
stepped clock. Only the transport is replaced: `MemoryIO` hands the runner the messages a rule queued,
in order, where `BridgeIO` would take them from DDS. Real DDS cannot be stepped deterministically
through thousands of interleavings; the same rules over real DDS between processes are the
regression tests `test_12a_*` / `test_12b_*` in tests/bridge/test_faults.py.

Random steps: joint states (fresh, stale, stamped an hour ahead, NaN, out of limits, wrong names,
wrong length), e-stop true / false, policy chunks (good, far, NaN, wrong width, empty), control
ticks, clock jumps and watchdog trips. Checked after every step:
- every published command is finite, inside the limits, and its stream since the latest arm passes
  the velocity / acceleration check, starting at rest from the pose it armed at;
- while e-stopped or faulted a command only brakes (each joint slows down, never reverses), and once
  stopped nothing more is published;
- the bridge is armed only if a re-arm request arrived after the latest e-stop, and each arm (or
  refusal) consumed a request: none is retried and nothing arms on its own;
- a valid fresh state stream always makes it re-armable (`recover`): no permanent lock-out.
"""

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from omegaconf import OmegaConf

from policies.base import Observation, Policy
from tests.bridge.harness import ROOT
from vla.bridge import dds
from vla.bridge.arming import Request, State
from vla.bridge.runner import Runner, RunnerConfig
from vla.bridge.safety import SafetyConfig, SafetyLayer, check_stream

B = OmegaConf.load(ROOT / "conf/bridge/so101.yaml")
NAMES = list(B.joint_names)
HOME = np.array([0.0, -0.4, 1.2, 0.8, 0.0, 0.02])
RATE_HZ = 30.0
DT = 1.0 / RATE_HZ


class SteppedClock:
    """Both runner clocks, advanced only by the test."""

    def __init__(self) -> None:
        self.t = 1000.0

    def monotonic(self) -> float:
        return self.t

    def wall(self) -> float:
        return self.t + 1.7e9


class MemoryIO:
    """BridgeIO's interface without DDS (see the module docstring): queues in, a list of commands out."""

    images_dropped = 0

    def __init__(self) -> None:
        self.states: list[dds.JointState] = []
        self.estops: list[bool] = []
        self.published: list[np.ndarray] = []

    def joint_states(self) -> list[dds.JointState]:
        out, self.states = self.states, []
        return out

    def estop(self) -> list[bool]:
        out, self.estops = self.estops, []
        return out

    def images(self) -> dict:
        return {}

    def instruction(self) -> None:
        return None

    def privileged_state(self) -> None:
        return None

    def publish_command(self, q: np.ndarray) -> None:
        self.published.append(np.array(q))

    def publish_status(self, text: str) -> None:
        pass


class NextChunkPolicy(Policy):
    """Returns whatever chunk the test set last (test-only)."""

    def __init__(self) -> None:
        super().__init__()
        self.next = np.tile(HOME, (10, 1))

    def predict_action_chunk(self, obs: Observation) -> np.ndarray:
        return self.next


def make_runner(clock: SteppedClock, io: MemoryIO, policy: Policy) -> Runner:
    safety_kwargs = OmegaConf.to_container(B.safety, resolve=True)
    safety = SafetyLayer(SafetyConfig(joint_names=tuple(NAMES), **safety_kwargs), DT)
    cfg = RunnerConfig(rate_hz=RATE_HZ, arm_on_start=True, rt_priority=0, prefetch_threshold=3)
    return Runner(cfg, policy, safety, io, clock=clock)  # type: ignore[arg-type]


STATE_KINDS = ["fresh"] * 6 + ["stale", "future", "nan", "out_of_limits", "wrong_names", "short", "ahead"]
CHUNK_KINDS = ["near"] * 4 + ["far", "nan", "wrong_width", "empty"]


class ArmingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock, self.io, self.policy = SteppedClock(), MemoryIO(), NextChunkPolicy()
        self.runner = make_runner(self.clock, self.io, self.policy)
        self.safety = self.runner.safety
        self.lo, self.hi = self.safety.cfg.lo, self.safety.cfg.hi
        self.pose = HOME.copy()  # the robot: a perfect position servo on the published commands
        self.k = 0
        self.estop_sent = False  # an e-stop was sent ...
        self.rearm_after_estop = False  # ... and a re-arm request was sent after the latest one
        self.requests_queued = 0  # re-arm requests queued for the next tick
        self.segment: list[np.ndarray] = []  # commands since the latest arm, preceded by the arm pose
        self.stopped = False  # disarmed and a command at rest published: nothing more may follow
        self.rng = np.random.default_rng(0)

    # ------------------------------------------------------------ inputs
    def _state(self, kind: str) -> dds.JointState:
        wall, names, q = self.clock.wall(), list(NAMES), self.pose.copy()
        stamp = {"stale": wall - 1.0, "future": wall + 3600.0, "ahead": wall + 0.05}.get(kind, wall - 0.004)
        if kind == "nan":
            q[2] = np.nan
        elif kind == "out_of_limits":
            q[0] = self.hi[0] + 0.5
        elif kind == "wrong_names":
            names[1] = "elbow"
        msg = dds.joint_state(stamp, names, q)
        if kind == "short":
            msg.position = msg.position[:-1]
        return msg

    @rule(kind=st.sampled_from(STATE_KINDS))
    def joint_state(self, kind: str) -> None:
        self.io.states.append(self._state(kind))

    @rule(engage=st.booleans())
    def estop(self, engage: bool) -> None:
        self.io.estops.append(engage)
        if engage:
            self.estop_sent, self.rearm_after_estop, self.requests_queued = True, False, 0
        else:
            self.rearm_after_estop, self.requests_queued = True, self.requests_queued + 1

    @rule(kind=st.sampled_from(CHUNK_KINDS), length=st.integers(1, 12))
    def chunk_arrives(self, kind: str, length: int) -> None:
        base = self.runner.obs.q if self.runner.obs.q is not None else HOME
        chunk = np.tile(base, (length, 1)) + self.rng.uniform(-0.05, 0.05, (length, len(NAMES)))
        if kind == "far":
            chunk = self.rng.uniform(-4.0, 4.0, (length, len(NAMES)))
        elif kind == "nan":
            chunk[-1, 0] = np.nan
        elif kind == "wrong_width":
            chunk = chunk[:, :-1]
        elif kind == "empty":
            chunk = chunk[:0]
        self.policy.next = chunk
        self.runner.infer_once()  # what the inference thread does with a pending request

    @rule(channel=st.sampled_from(["loop", "observation", "policy"]))
    def watchdog_trips(self, channel: str) -> None:
        self.runner._on_watchdog(channel)

    # ------------------------------------------------------------ the clock
    @rule(periods=st.sampled_from([1] * 8 + [2, 5, 30]))
    def tick(self, periods: int) -> None:
        self._tick(periods)

    def _tick(self, periods: int = 1) -> None:
        s = self.safety
        before = (s.counters["armed"], s.counters["arm_refused"], s.arming.pending)
        published = len(self.io.published)
        self.clock.t += periods * DT
        self.k += periods
        self.runner.tick(self.k)
        attempts = s.counters["armed"] + s.counters["arm_refused"] - before[0] - before[1]
        start_attempt = int(before[2] is Request.START and s.arming.pending is None and not self.estop_sent)
        assert attempts <= min(self.requests_queued, 1) + start_attempt, "an arm without a new request"
        assert s.arming.pending in (None, Request.START), "an operator request survived its tick"
        self.requests_queued = 0
        if s.counters["armed"] > before[0]:
            self.segment = [self.runner.obs.q.copy()] * 2  # armed at rest at the measured pose
            self.stopped = False
        for q in self.io.published[published:]:
            self._check_command(q)

    def _check_command(self, q: np.ndarray) -> None:
        assert np.all(np.isfinite(q)) and np.all(q >= self.lo) and np.all(q <= self.hi), q
        assert self.segment, "a command before the first arm"
        self.segment.append(q)
        stream = np.array(self.segment)
        assert check_stream(stream, self.safety.cfg, DT) == [], check_stream(stream, self.safety.cfg, DT)
        if not self.safety.armed:  # braking only: each joint slows down and never turns back
            v_now, v_before = (stream[-1] - stream[-2]) / DT, (stream[-2] - stream[-3]) / DT
            assert np.all(v_now * v_before >= -1e-12), (v_before, v_now)
            assert np.all(np.abs(v_now) <= np.abs(v_before) + 1e-9), (v_before, v_now)
            assert not self.stopped, "a command published after the disarmed robot had stopped"
            self.stopped = not np.any(v_now)
        self.pose = q.copy()

    # ------------------------------------------------------------ liveness
    @rule()
    def recover(self) -> None:
        """A valid fresh state stream, then one re-arm request: armed (whatever happened before)."""
        for _ in range(15):  # longer than any stop from v_max at a_max (0.2 s)
            self.io.states.append(self._state("fresh"))
            self._tick()
        self.io.states.append(self._state("fresh"))
        self.estop(False)
        self._tick()
        assert self.safety.armed, self.runner.status()

    # ------------------------------------------------------------ invariants
    @invariant()
    def armed_only_after_a_request_newer_than_the_latest_estop(self) -> None:
        if self.safety.armed and self.estop_sent and not self.io.estops:  # (queued ones are read next tick)
            assert self.rearm_after_estop
        assert self.safety.arming.state is not State.ESTOPPED or self.estop_sent

    @invariant()
    def status_names_the_state(self) -> None:
        status = self.runner.status()
        assert status["state"] == self.safety.arming.state.value
        assert status["armed"] == (status["state"] == "armed")

    @precondition(lambda self: self.estop_sent and not self.rearm_after_estop)
    @invariant()
    def estopped_after_an_unanswered_estop(self) -> None:
        # every queued e-stop is read by the next tick; after it, nothing but ESTOPPED
        if not self.io.estops:
            assert self.safety.estopped


ArmingMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestArmingInterleavings = ArmingMachine.TestCase
