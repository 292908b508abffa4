"""A policy's chunks on another clock: `vla deploy rate_hz=R resample=true` for a policy trained at F Hz.

A chunk from a policy trained at F Hz holds one action per 1/F s from the observation's instant
(chunk[k] for t_obs + k / F). Played at R Hz as is, it would move R / F times as fast as it was taught
(a 10 Hz policy at 30 Hz: 3x). Resampled, the same targets are reached at the same instants:

    out[j] = chunk interpolated linearly at t = j / R,   j = 0 .. floor((T - 1) R / F)

and the number of actions a chunk is meant to run for scales with it (n R / F, at least 1). Positions
between two taught targets are the straight line between them, which is what a position controller
interpolating at R Hz would command anyway.
"""

import math
from typing import Any

import numpy as np


def resample_chunk(chunk: np.ndarray, from_hz: float, to_hz: float) -> np.ndarray:
    """(T, D) actions 1/from_hz s apart -> (T', D) actions 1/to_hz s apart over the same time span."""
    chunk = np.asarray(chunk, dtype=np.float64)
    if chunk.ndim != 2 or len(chunk) == 0:
        raise ValueError(f"action chunk must be (T, D) with T >= 1, got shape {chunk.shape}")
    if from_hz <= 0 or to_hz <= 0:
        raise ValueError(f"rates must be > 0 Hz, got {from_hz} -> {to_hz}")
    if from_hz == to_hz:
        return chunk
    span = (len(chunk) - 1) / from_hz  # seconds the chunk covers
    t_out = np.arange(math.floor(span * to_hz + 1e-9) + 1) / to_hz  # (T',)
    t_in = np.arange(len(chunk)) / from_hz  # (T,)
    return np.stack([np.interp(t_out, t_in, chunk[:, d]) for d in range(chunk.shape[1])], axis=1)


class ResampledPolicy:
    """Wraps a policy trained at `from_hz` so that the runner at `to_hz` gets chunks on its own clock."""

    def __init__(self, policy: Any, from_hz: float, to_hz: float) -> None:
        self.policy, self.from_hz, self.to_hz = policy, float(from_hz), float(to_hz)
        n = int(getattr(policy, "n_action_steps", 1) or 1)
        self.n_action_steps = max(1, round(n * self.to_hz / self.from_hz))

    def reset(self) -> None:
        self.policy.reset()

    def predict_action_chunk(self, obs: dict[str, Any]) -> np.ndarray:
        return resample_chunk(self.policy.predict_action_chunk(obs), self.from_hz, self.to_hz)
