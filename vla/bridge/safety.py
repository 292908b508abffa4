"""The safety layer: every command to the robot passes through `SafetyLayer.step`. Pure Python, no DDS.

What it guarantees for the published position stream q[k] (period dt), whatever the policy emits:
- lower <= q <= upper (joint limits; a target outside is clipped, or rejected with `limit_mode: reject`);
- |q[k] - q[k-1]| <= v_max * dt and |q[k] - 2 q[k-1] + q[k-2]| <= a_max * dt^2 (velocity and
  acceleration limits), including the first command after arming, which starts from the measured pose
  at rest and is additionally speed-scaled by a linear ramp over `ramp_s`;
- NaN/Inf, wrong length or unknown joint names reject the whole command (counted) and the robot holds;
- after a fault or e-stop it brakes to a stop at a_max (never repeats the last velocity) and holds
  until an explicit arm request succeeds (rules in vla/bridge/arming.py); arming needs a fresh
  measured pose within the limits and restarts from it at rest.
Every intervention increments a counter (`counters`), published on /vla/status by the runner.
"""

import logging
import math
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vla.bridge.arming import Arming, Request, State

log = logging.getLogger(__name__)
_ARM_LIMIT_MARGIN = 0.05  # a measured pose this far beyond a limit still arms (encoder noise at an end stop)


@dataclass
class SafetyConfig:
    """Limits per joint (same order as `joint_names`); scalars broadcast to every joint."""

    joint_names: tuple[str, ...]
    lower: Sequence[float]
    upper: Sequence[float]
    max_velocity: Sequence[float] | float = 1.0  # rad/s
    max_acceleration: Sequence[float] | float = 4.0  # rad/s^2
    limit_mode: str = "clip"  # clip | reject
    ramp_s: float = 1.0  # after arming, the speed limit rises linearly from 0 to v_max over this time
    _arrays: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_bridge(cls, bridge: Mapping[str, Any]) -> "SafetyConfig":
        """The limits of a bridge config (conf/bridge/*.yaml as plain values): its `joint_names` and
        `safety` sections."""
        return cls(joint_names=tuple(bridge["joint_names"]), **dict(bridge["safety"]))

    def __post_init__(self) -> None:
        n = len(self.joint_names)
        if n == 0:
            raise ValueError("safety.joint_names is empty: list the robot's joints in conf/bridge/*.yaml")
        for key in ("lower", "upper", "max_velocity", "max_acceleration"):
            value = np.broadcast_to(np.asarray(getattr(self, key), dtype=np.float64), (n,)).copy()
            if not np.all(np.isfinite(value)):
                raise ValueError(f"safety.{key}={value.tolist()} must be finite")
            self._arrays[key] = value
        if np.any(self.lo >= self.hi):
            raise ValueError(f"safety.lower {self.lo.tolist()} must be < safety.upper {self.hi.tolist()}")
        if np.any(self.v_max <= 0) or np.any(self.a_max <= 0):
            raise ValueError("safety.max_velocity and safety.max_acceleration must be > 0")
        if self.limit_mode not in ("clip", "reject"):
            raise ValueError(f"safety.limit_mode={self.limit_mode!r}; use 'clip' or 'reject'")
        if self.ramp_s < 0:
            raise ValueError(f"safety.ramp_s={self.ramp_s} must be >= 0")

    lo = property(lambda self: self._arrays["lower"])
    hi = property(lambda self: self._arrays["upper"])
    v_max = property(lambda self: self._arrays["max_velocity"])
    a_max = property(lambda self: self._arrays["max_acceleration"])


class SafetyLayer:
    """Stateful filter from policy targets to robot commands. Thread-safe (the watchdog calls it too)."""

    def __init__(self, cfg: SafetyConfig, dt: float) -> None:
        if dt <= 0:
            raise ValueError(f"control period dt={dt} must be > 0")
        self.cfg, self.dt = cfg, dt
        self.counters: Counter[str] = Counter()
        self._lock = threading.RLock()
        self.arming = Arming()
        self._q: np.ndarray | None = None  # last published command
        self._v = np.zeros(len(cfg.joint_names))  # its velocity (rad/s)
        self._hold: np.ndarray | None = None  # braking target while not armed
        self._armed_ticks = 0
        self._idle = False  # disarmed and stopped: nothing is published

    # ---------------------------------------------------------------- arming (rules: vla/bridge/arming.py)
    armed = property(lambda self: self.arming.state is State.ARMED)
    estopped = property(lambda self: self.arming.state is State.ESTOPPED)
    fault = property(lambda self: self.arming.fault)

    def request_arm(self, kind: Request = Request.OPERATOR) -> bool:
        """An arm request arrived (/vla/estop false); attempt it with `attempt_arm` once `arm_due`."""
        with self._lock:
            return self.arming.request(kind)

    def arm_due(self, fresh: bool) -> bool:
        with self._lock:
            return self.arming.due(fresh)

    def arm(self, measured: np.ndarray | None, fresh: bool) -> str | None:
        """An explicit arm request attempted now: None on success, else why it was refused."""
        with self._lock:
            if not self.request_arm():
                return "already armed"
            return self.attempt_arm(measured, fresh)

    def attempt_arm(self, measured: np.ndarray | None, fresh: bool) -> str | None:
        """Consumes the pending request, success or refusal: None when armed, else the reason (counted)."""
        with self._lock:
            reason = self._arm_refusal(measured, fresh)
            if not self.arming.resolve(reason):
                self.counters["arm_refused"] += 1
                log.warning("arming refused: %s (send a new re-arm request once resolved)", reason)
                return reason
            # Start from the measured pose at rest: the old trajectory is never resumed.
            self._q = np.asarray(measured, dtype=np.float64).copy()
            self._v[:] = 0.0
            self._hold, self._armed_ticks, self._idle = None, 0, False
            self.counters["armed"] += 1
            log.info("armed at %s", np.round(self._q, 4).tolist())
            return None

    def _arm_refusal(self, measured: np.ndarray | None, fresh: bool) -> str | None:
        if measured is None or not fresh:
            return "no fresh joint state"
        invalid = self.validate(measured)
        if invalid is not None:
            return f"measured pose invalid: {invalid}"
        pose = np.asarray(measured)
        if np.any(pose < self.cfg.lo - _ARM_LIMIT_MARGIN) or np.any(pose > self.cfg.hi + _ARM_LIMIT_MARGIN):
            return "measured pose outside joint limits"
        if self._q is not None and np.any(np.abs(self._v) > 1e-9):
            return "still braking"
        return None

    def estop(self) -> None:
        """The operator's stop: clears any pending arm request, brakes to a stop, holds until re-armed."""
        with self._lock:
            if self.arming.estop():
                self.counters["fault_estop"] += 1
                log.error("e-stop (holding; re-arm required)")
            self._brake()

    def trip(self, reason: str) -> bool:
        """A fault (watchdog, stale data, loop stall) while armed: brake to a stop and hold until re-armed.
        True when it disarmed; a no-op when not armed (an e-stop stays an e-stop)."""
        with self._lock:
            if not self.arming.trip(reason):
                return False
            self.counters[f"fault_{reason}"] += 1
            log.error("safety trip: %s (holding; re-arm required)", reason)
            self._brake()
            return True

    def _brake(self) -> None:
        if self._q is not None and self._hold is None:
            # stopping point at a_max from the current velocity: brake without turning back
            stop = self._q + self._v * np.abs(self._v) / (2 * self.cfg.a_max)
            self._hold = np.clip(stop, self.cfg.lo, self.cfg.hi)

    def silence(self) -> None:
        """While disarmed: stop publishing at once (the robot side already holds). No-op when armed."""
        with self._lock:
            if not self.armed and not self._idle and self._q is not None:
                self._idle = True
                self._v[:] = 0.0
                self.counters["silenced"] += 1

    # ---------------------------------------------------------------- checks
    def validate(self, target: object, names: Sequence[str] | None = None) -> str | None:
        """None if the command is well formed, else the reason to reject it whole."""
        n = len(self.cfg.joint_names)
        if names is not None and list(names) != list(self.cfg.joint_names):
            unknown = sorted(set(names) - set(self.cfg.joint_names))
            return f"joint names {list(names)} != {list(self.cfg.joint_names)} (unknown: {unknown})"
        try:
            arr = np.asarray(target, dtype=np.float64)
        except (TypeError, ValueError):
            return "not numeric"
        if arr.shape != (n,):
            return f"shape {arr.shape}, expected ({n},)"
        if not np.all(np.isfinite(arr)):
            return "non-finite value"
        return None

    # ---------------------------------------------------------------- the filter
    def step(self, target: object | None, names: Sequence[str] | None = None) -> np.ndarray | None:
        """One control tick: the command to publish (None before the first arm), counted interventions.

        `target` None means "no policy action this tick" (starved): the robot brakes and holds.
        While disarmed, commands brake to a stop and then cease (None) until the next arm().
        """
        with self._lock:
            if self._q is None or self._idle:
                return None
            q = self._rate_limit(self._goal(target, names))
            if not self.armed and not np.any(self._v):
                # Stopped at the hold pose: publish nothing more, so a position robot keeps this target
                # (or its own cmd_timeout hold) and no stale command is delivered after a link outage.
                self._idle = True
            return q

    def _goal(self, target: object | None, names: Sequence[str] | None) -> np.ndarray:
        if not self.armed:
            return self._hold if self._hold is not None else self._q
        if target is None:
            self.counters["starved"] += 1
            return self._q + self._v * np.abs(self._v) / (2 * self.cfg.a_max)
        reason = self.validate(target, names)
        if reason is not None:
            self.counters["rejected_invalid"] += 1
            log.warning("command rejected: %s", reason)
            return self._q + self._v * np.abs(self._v) / (2 * self.cfg.a_max)
        goal = np.asarray(target, dtype=np.float64)
        outside = (goal < self.cfg.lo) | (goal > self.cfg.hi)
        if np.any(outside):
            if self.cfg.limit_mode == "reject":
                self.counters["rejected_limit"] += 1
                return self._q + self._v * np.abs(self._v) / (2 * self.cfg.a_max)
            self.counters["clipped_position"] += 1
            goal = np.clip(goal, self.cfg.lo, self.cfg.hi)
        return goal

    def _rate_limit(self, goal: np.ndarray) -> np.ndarray:
        cfg, dt = self.cfg, self.dt
        goal = np.clip(goal, cfg.lo, cfg.hi)
        self._armed_ticks += 1
        scale = 1.0 if cfg.ramp_s <= 0 or not self.armed else min(1.0, self._armed_ticks * dt / cfg.ramp_s)
        v_cap = np.maximum(cfg.v_max * scale, 1e-12)
        dist = goal - self._q
        # Largest speed from which a discrete stop at a_max still ends within `dist` (the a*dt^2/8
        # margin covers the discretisation), so targets at a limit are reached without overshoot.
        room = np.maximum(np.abs(dist) - cfg.a_max * dt * dt / 8, 0.0)
        n = np.sqrt(2 * room / (cfg.a_max * dt * dt) + 0.25) - 0.5
        v_brake = cfg.a_max * dt * n
        v_want = np.clip(dist / dt, -np.minimum(v_cap, v_brake), np.minimum(v_cap, v_brake))
        v_new = np.clip(v_want, self._v - cfg.a_max * dt, self._v + cfg.a_max * dt)
        v_new = np.clip(v_new, -cfg.v_max, cfg.v_max)
        if np.any(np.abs(v_new - v_want) > 1e-12):
            self.counters["rate_limited"] += 1
        q_new = self._q + v_new * dt
        clipped = np.clip(q_new, cfg.lo, cfg.hi)
        if np.any(
            np.abs(clipped - q_new) > 1e-9
        ):  # backstop: never leave the limits, even at the cost of a harder stop
            self.counters["limit_backstop"] += 1
        self._v = (clipped - self._q) / dt
        self._q = clipped
        if not self.armed and np.all(np.abs(self._v) < 1e-9):
            self._v[:] = 0.0
        return self._q.copy()

    @property
    def last_command(self) -> np.ndarray | None:
        with self._lock:
            return None if self._q is None else self._q.copy()

    def status(self) -> dict[str, object]:
        with self._lock:
            return {
                "state": self.arming.state.value,
                "armed": self.armed,
                "estopped": self.estopped,
                "fault": self.fault,
                "counters": dict(self.counters),
            }


def check_stream(commands: np.ndarray, cfg: SafetyConfig, dt: float, tol: float = 1e-6) -> list[str]:
    """Offline check of a published command stream (N, D): the violations found (empty when safe)."""
    q = np.asarray(commands, dtype=np.float64)
    problems = []
    if np.any(q < cfg.lo - tol) or np.any(q > cfg.hi + tol):
        problems.append("position outside limits")
    if len(q) > 1:
        v = np.diff(q, axis=0) / dt
        if np.any(np.abs(v) > cfg.v_max + tol):
            problems.append(f"velocity {np.abs(v).max():.4f} > v_max")
        if len(q) > 2 and np.any(np.abs(np.diff(v, axis=0)) / dt > cfg.a_max * (1 + 1e-6) + tol):
            problems.append(f"acceleration {(np.abs(np.diff(v, axis=0)) / dt).max():.4f} > a_max")
    return problems


def stopping_distance(v: float, a: float) -> float:
    return v * v / (2 * a) if a > 0 else math.inf
