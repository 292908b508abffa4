"""Action chunks on the control clock: latency compensation, blending, and when to prefetch.

Ticks are integers of the control loop. A chunk predicted from the observation taken at tick `t_obs`
holds actions for ticks t_obs, t_obs+1, ... (chunk[0] is the action for the observation's own tick,
as LeRobot's policies define it). By the time it arrives the loop is at tick `t_now` > t_obs, so
its first t_now - t_obs actions are stale and dropped: nothing stale is acted on.

Prefetching (the off-by-one LeRobot's async client gets wrong, lerobot#1557): after the action for
tick k is popped, `remaining(k + 1)` actions are left. A chunk requested now arrives L ticks later,
during which L actions are consumed, so the queue never runs dry iff the request is made while
remaining >= L, i.e. `threshold >= L` with "request when remaining <= threshold and none in flight".
The request fires on every tick the condition holds (not only on the crossing), so a chunk that
arrives too short to lift the queue above the threshold triggers the next request at once.
A chunk arrives with T - (L + 1) fresh actions, so steady streaming also needs T >= 2 (L + 1).
"""

import numpy as np


class ChunkQueue:
    def __init__(self, blend_steps: int = 3) -> None:
        if blend_steps < 0:
            raise ValueError(f"blend_steps={blend_steps} must be >= 0")
        self.blend_steps = blend_steps
        self._start = 0  # tick of self._actions[0]
        self._actions = np.zeros((0, 0))  # (N, D)
        self.chunk_len = 0  # length T of the last chunk pushed (the prefetch rule needs it)
        self.stats = {"chunks": 0, "stale_actions_dropped": 0, "late_chunks_dropped": 0, "blended": 0}

    def clear(self) -> None:
        self._actions = np.zeros((0, 0))

    def remaining(self, tick: int) -> int:
        """Actions queued for ticks >= tick."""
        return max(0, self._start + len(self._actions) - max(tick, self._start))

    def pop(self, tick: int) -> np.ndarray | None:
        """The action for `tick` (dropping older ones), or None when the queue has none."""
        i = tick - self._start
        if i < 0 or i >= len(self._actions):
            if i >= len(self._actions):
                self.clear()
                self._start = tick + 1
            return None
        action = self._actions[i].copy()
        self._actions = self._actions[i + 1 :]
        self._start = tick + 1
        return action

    def push(self, chunk: np.ndarray, t_obs: int, t_now: int) -> None:
        """Insert a chunk predicted from the observation of tick t_obs; t_now is the next tick to execute."""
        chunk = np.asarray(chunk, dtype=np.float64)  # (T, D)
        if chunk.ndim != 2 or len(chunk) == 0:
            raise ValueError(f"action chunk must be (T, D) with T >= 1, got shape {chunk.shape}")
        stale = t_now - t_obs
        if stale < 0:
            raise ValueError(f"chunk from the future: t_obs={t_obs} > t_now={t_now}")
        self.stats["chunks"] += 1
        self.chunk_len = len(chunk)
        self.stats["stale_actions_dropped"] += min(stale, len(chunk))
        fresh = chunk[stale:]  # (T - stale, D): actions for ticks t_now, t_now + 1, ...
        if len(fresh) == 0:
            self.stats["late_chunks_dropped"] += 1
            return
        old = self._future(t_now)  # (M, D) actions still queued for t_now, ...
        k = min(self.blend_steps, len(old), len(fresh))
        if k:
            # Cross-fade over k ticks: weight of the new chunk rises 1/(k+1) ... k/(k+1), so position moves
            # continuously from the old plan to the new one (velocity stays bounded by the safety layer).
            w = (np.arange(1, k + 1) / (k + 1))[:, None]  # (k, 1)
            fresh = fresh.copy()
            fresh[:k] = (1 - w) * old[:k] + w * fresh[:k]
            self.stats["blended"] += 1
        self._actions, self._start = fresh, t_now

    def _future(self, tick: int) -> np.ndarray:
        i = max(0, tick - self._start)
        return self._actions[i:]


def should_request(remaining: int, threshold: int, in_flight: bool) -> bool:
    """Request the next chunk when `remaining` (after this tick's pop) <= threshold and none is in flight."""
    return not in_flight and remaining <= threshold
