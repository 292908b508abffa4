"""Test-only policies that misbehave on purpose, and a `vla deploy` entry point that runs one.

    python -m tests.bridge.fault_policies <name> '<json kwargs>' [deploy overrides...]

Every policy moves relative to the pose measured at its first call after a reset (arming), so a
test knows what a correct robot should do.
"""

import ctypes
import json
import sys
import time

import numpy as np
from hydra import compose, initialize_config_dir

from policies.base import Observation, Policy
from vla.apps.deploy import DEFAULT_RATE_HZ, run
from vla.config import CONF_DIR
from vla.constants import OBS_STATE


class SinePolicy(Policy):
    """q0 + amp * sin(2 pi f t) on `joints`, t from the first call after reset; chunks of `horizon`."""

    def __init__(
        self,
        amp: float = 0.3,
        freq: float = 0.5,
        horizon: int = 10,
        rate_hz: float = 30,
        joints: tuple[int, ...] = (0, 1),
        latency_s: float = 0.0,
        sign_per_reset: bool = False,
    ) -> None:
        super().__init__()
        self.amp, self.freq, self.horizon, self.dt = amp, freq, horizon, 1.0 / rate_hz
        # half a chunk runs before the next is due (vla/bridge/timing.py); with the base class's 1 a chunk
        # would come every tick and only its second action ever run (the jerk policy's square wave with it)
        self.n_action_steps = max(1, horizon // 2)
        self.joints, self.latency_s, self.sign_per_reset = list(joints), latency_s, sign_per_reset
        self.resets = 0
        self._q0: np.ndarray | None = None
        self._t0 = 0.0

    def reset(self) -> None:
        super().reset()
        self.resets += 1
        self._q0 = None

    def offsets(self, t: np.ndarray) -> np.ndarray:
        sign = -1.0 if self.sign_per_reset and self.resets % 2 == 0 else 1.0
        return sign * self.amp * np.sin(2 * np.pi * self.freq * t)  # (T,)

    def predict_action_chunk(self, obs: Observation) -> np.ndarray:
        if self._q0 is None:
            self._q0, self._t0 = np.asarray(obs[OBS_STATE], dtype=np.float64).copy(), time.monotonic()
        t = time.monotonic() - self._t0 + self.dt * np.arange(self.horizon)  # (T,)
        chunk = np.tile(self._q0, (self.horizon, 1))  # (T, D)
        chunk[:, self.joints] += self.offsets(t)[:, None]
        self.misbehave(chunk)
        if self.latency_s:
            time.sleep(self.latency_s)
        return chunk

    def misbehave(self, chunk: np.ndarray) -> None:
        """Hook for the faulty subclasses."""


class LinePolicy(SinePolicy):
    """q0 + sign * speed * t: a straight line; the sign flips at every reset (re-arm), so a resumed old
    plan (still going +) is told apart from a fresh one (going -)."""

    def __init__(self, speed: float = 0.3, **kw) -> None:
        super().__init__(sign_per_reset=True, **kw)
        self.speed = speed

    def offsets(self, t: np.ndarray) -> np.ndarray:
        sign = -1.0 if self.resets % 2 == 0 else 1.0
        return sign * self.speed * t


class StepPolicy(SinePolicy):
    """A stand-in for a policy trained at `fps` Hz: every chunk steps `joints` on from the measured pose
    by speed / fps per action, as a learned policy's chunk moves on from what it sees. Played at its own
    rate it moves `speed` rad/s; at another rate, only if its chunks are resampled (resample=true)."""

    def __init__(self, speed: float = 0.3, fps: int = 10, rate_hz: float | None = None, **kw) -> None:
        super().__init__(rate_hz=fps, **kw)  # its chunks are on its own clock, whatever the deploy rate
        self.speed, self.fps = speed, fps

    def predict_action_chunk(self, obs: Observation) -> np.ndarray:
        chunk = np.tile(np.asarray(obs[OBS_STATE], dtype=np.float64), (self.horizon, 1))  # (T, D)
        chunk[:, self.joints] += (self.speed / self.fps * np.arange(self.horizon))[:, None]
        return chunk


class StallPolicy(SinePolicy):
    """Stops producing after `stall_after_s`: `mode` sleep (forever), or gil (holds the GIL `gil_s`)."""

    def __init__(self, stall_after_s: float = 1.5, mode: str = "sleep", gil_s: float = 2.0, **kw) -> None:
        super().__init__(**kw)
        self.stall_after_s, self.mode, self.gil_s, self.stalled = stall_after_s, mode, gil_s, False

    def misbehave(self, chunk: np.ndarray) -> None:
        if self.stalled or time.monotonic() - self._t0 < self.stall_after_s:
            return
        self.stalled = True
        print(f"STALL {self.mode} at wall {time.time():.6f}", flush=True)
        if self.mode == "sleep":
            time.sleep(3600)
        else:  # libc usleep through PyDLL keeps the GIL: no other Python thread of this process runs
            ctypes.PyDLL(None).usleep(int(self.gil_s * 1e6))


class OffsetPolicy(SinePolicy):
    """Always the same target: the measured pose + `offset` (a far first command, or beyond limits)."""

    def __init__(self, offset: list[float] | None = None, absolute: list[float] | None = None, **kw) -> None:
        super().__init__(amp=0.0, **kw)
        self.offset, self.absolute = offset, absolute

    def misbehave(self, chunk: np.ndarray) -> None:
        if self.absolute is not None:
            chunk[:] = np.asarray(self.absolute)
        else:
            chunk[:] = self._q0 + np.asarray(self.offset)


class JerkPolicy(SinePolicy):
    """A square wave of +-`step` rad on joint 0 every tick: steps far beyond v_max * dt, jerk spikes."""

    def __init__(self, step: float = 0.8, **kw) -> None:
        super().__init__(amp=0.0, **kw)
        self.step = step

    def misbehave(self, chunk: np.ndarray) -> None:
        chunk[:, 0] += self.step * np.where(np.arange(len(chunk)) % 2 == 0, 1.0, -1.0)


class GarbagePolicy(SinePolicy):
    """Cycles through malformed chunks: NaN, Inf, empty, wrong width, wrong dtype-ish huge values."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.calls = 0

    def predict_action_chunk(self, obs: Observation) -> np.ndarray:
        chunk = super().predict_action_chunk(obs)
        self.calls += 1
        kind = self.calls % 4
        if kind == 0:
            chunk[:, 2] = np.nan
        elif kind == 1:
            chunk[:, 1] = np.inf
        elif kind == 2:
            return np.zeros((0, chunk.shape[1]))
        else:
            return chunk[:, :5]  # wrong length
        return chunk


class ChunkBoundaryPolicy(SinePolicy):
    """Chunks that disagree (random offsets) and arrive early, on time or late (random latency)."""

    def __init__(self, jump: float = 0.15, max_latency_ticks: int = 4, seed: int = 0, **kw) -> None:
        super().__init__(**kw)
        self.jump, self.max_latency_ticks = jump, max_latency_ticks
        self.rng = np.random.default_rng(seed)

    def misbehave(self, chunk: np.ndarray) -> None:
        chunk[:, self.joints] += self.rng.uniform(-self.jump, self.jump, len(self.joints))
        time.sleep(self.dt * self.rng.integers(0, self.max_latency_ticks + 1))


POLICIES = {
    "sine": SinePolicy,
    "line": LinePolicy,
    "step": StepPolicy,
    "stall": StallPolicy,
    "offset": OffsetPolicy,
    "jerk": JerkPolicy,
    "garbage": GarbagePolicy,
    "chunk_boundary": ChunkBoundaryPolicy,
}


def main(argv: list[str]) -> None:
    name, kwargs, overrides = (
        argv[0],
        json.loads(argv[1]),
        [a for a in argv[2:] if not a.startswith("hydra.")],
    )
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("deploy", overrides=overrides)
    kwargs.setdefault("rate_hz", cfg.rate_hz or DEFAULT_RATE_HZ)  # these policies carry no fps
    run(cfg, policy=POLICIES[name](**kwargs))


if __name__ == "__main__":
    main(sys.argv[1:])
