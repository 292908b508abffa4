"""The deploy runner's timing: watchdog timeouts and the prefetch threshold, derived from the control
rate, the policy's chunk and its measured inference latency. Each is a config key; null = derived.

Timeouts (seconds). The runner reads its inputs and feeds its watchdog once per tick, so no timeout can
be shorter than a few control periods (at 10 Hz a fixed 0.1 s tripped on the first late tick):

    loop_timeout_s, obs_timeout_s, policy_timeout_s   max(3 periods, 0.1 s)
    obs_max_age_s (a joint state's header stamp)       max(2 periods, 0.1 s): a state may wait one period
                                                       in the reader before the tick that takes it

The policy channel is fed by every action the queue hands out, so `policy_timeout_s` counts from the end
of what the queue covers: the prefetch below sizes requests so that the queue does not run out while
inference keeps its measured latency, and the timeout bounds how long the robot brakes on a policy that
stopped producing (docs/reliability.md, fault 1). At 30 Hz every value is the 0.1 s it always was.

A derived `policy_timeout_s` also follows the policy's measured inference time, once one is measured:

    policy_timeout_s = max(3 periods, 0.1 s, min(2 x latency, 2 s))

A policy slower than its chunk is long (Diffusion with 10 denoising steps: 0.44 s per chunk on one CPU
core) leaves the queue dry for part of every chunk: the robot holds, and a fixed 3 periods latched that
hold into a fault that needed an operator (docs/deploy.md, the PickCube run: 18 trips in 30 episodes on a
busy machine). Holding is what starvation does anyway; the timeout only decides when a hold becomes a
fault, so it waits for twice the latency (the estimate below; before the second call, the first call's)
and never more than 2 s, beyond which a watchdog stops being one. An explicit value is kept as set.

Prefetch threshold (ticks; the request rule is vla/bridge/chunks.py's `should_request`):

    threshold = max(T - 1 - n, 0) + ceil(latency / period), at most T - 1

T is the length of the last chunk, n the actions a chunk is meant to run for (the policy's
`n_action_steps`, as `vla eval` executes it, or the `n_action_steps` override), latency the 90th
percentile of the last 20 inference calls (image decoding included; the first call of a run, the
model's warm-up, left out; one period until one is measured). A chunk's first action is for the tick
its observation was taken, which has passed when it arrives, so T - 1 - n of its actions are left when
n have run; ceil(latency / period) more cover the ticks until the next chunk lands (test_chunks.py:
threshold >= latency in ticks never starves). At T - 1 a chunk is requested on every tick.
"""

import math
import threading
from collections import deque

import numpy as np

MIN_TIMEOUT_S = 0.1  # below this a shared machine's scheduling hiccups would trip the watchdog
TIMEOUT_PERIODS = 3  # loop / observation / policy: this many control periods without news
POLICY_LATENCY_FACTOR = 2.0  # a derived policy timeout waits this many inference latencies
MAX_POLICY_TIMEOUT_S = 2.0  # ... but never longer
AGE_PERIODS = 2  # a joint state's stamp may be this many periods old
_LATENCY_WINDOW = 20  # inference calls the latency estimate looks at
_LATENCY_QUANTILE = 90


def derived_timeouts(rate_hz: float) -> dict[str, float]:
    """The watchdog timeouts and the state age limit at `rate_hz` (module doc)."""
    dt = 1.0 / rate_hz
    watchdog = max(TIMEOUT_PERIODS * dt, MIN_TIMEOUT_S)
    return {
        "loop_timeout_s": watchdog,
        "obs_timeout_s": watchdog,
        "policy_timeout_s": watchdog,
        "obs_max_age_s": max(AGE_PERIODS * dt, MIN_TIMEOUT_S),
    }


def policy_timeout(base_s: float, latency_s: float) -> float:
    """A derived policy timeout once the policy's inference latency is measured (module doc)."""
    return max(base_s, min(POLICY_LATENCY_FACTOR * latency_s, MAX_POLICY_TIMEOUT_S))


def prefetch_threshold(chunk_len: int, n_action_steps: int, latency_s: float, dt: float) -> int:
    """Request the next chunk when at most this many actions remain (module doc)."""
    if chunk_len < 1:
        return 0
    n = min(max(int(n_action_steps), 1), chunk_len)
    latency_ticks = max(1, math.ceil(latency_s / dt - 1e-9))
    return min(max(chunk_len - 1 - n, 0) + latency_ticks, chunk_len - 1)


class Prefetch:
    """The threshold the control loop uses: `fixed`, or derived from the inference latency measured so far.

    `record` runs in the inference thread, `threshold` in the control loop; the estimate is recomputed
    only when a call is recorded.
    """

    def __init__(self, dt: float, fixed: int | None = None) -> None:
        if fixed is not None and fixed < 0:
            raise ValueError(f"prefetch_threshold={fixed} must be >= 0 (or null: derived)")
        self.dt, self.fixed = dt, fixed
        self._latencies: deque[float] = deque(maxlen=_LATENCY_WINDOW)
        self._calls = 0
        self._estimate = dt  # until one is measured: one control period
        self._first: float | None = None  # the warm-up call: only the policy timeout uses it, until call 2
        self._lock = threading.Lock()

    def record(self, seconds: float) -> None:
        with self._lock:
            self._calls += 1
            if self._calls == 1:
                self._first = seconds  # warms the model up (lazy init, allocations): not representative
                return
            self._latencies.append(seconds)
            self._estimate = float(np.percentile(list(self._latencies), _LATENCY_QUANTILE))

    @property
    def latency_s(self) -> float:
        return self._estimate

    @property
    def timeout_latency_s(self) -> float | None:
        """The latency the policy timeout follows: the estimate, or the first call's until a second one."""
        with self._lock:
            return self._estimate if self._latencies else self._first

    def threshold(self, chunk_len: int, n_action_steps: int) -> int:
        if self.fixed is not None:
            return self.fixed
        return prefetch_threshold(chunk_len, n_action_steps, self._estimate, self.dt)
