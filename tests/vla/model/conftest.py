"""Shared fixtures: dataset statistics and synthetic batches that follow the data contract.

The DATA loader produces: "observation.images.<cam>" (B, 3, H, W) float in [0, 1], "observation.state"
(B, D_s) raw, "action" (B, T, D_a) raw, "action_is_pad" (B, T) bool, "task" list[str]. Synthetic batches
here have exactly that layout; their actions are smooth (a robot's joint targets are), so FAST compresses
them as it would real data.
"""

import numpy as np
import pytest
import torch

from vla.data.normalize import compute_stats

CAMERAS = ("front", "wrist")
STATE_DIM = ACTION_DIM = 6
TASKS = ("pick up the red cube", "push the blue block to the left", "touch the green ball", "stack the cubes")


def smooth_chunks(n: int, chunk: int, dim: int = ACTION_DIM, seed: int = 0) -> np.ndarray:
    """(n, chunk, dim) smooth joint trajectories in about [-1.2, 1.2] rad: random sinusoids."""
    rng = np.random.default_rng(seed)
    t = np.arange(chunk)[None, :, None] / 10.0  # 10 Hz
    freq = rng.uniform(0.1, 0.6, (n, 1, dim))
    phase = rng.uniform(0, 2 * np.pi, (n, 1, dim))
    amp = rng.uniform(0.2, 1.0, (n, 1, dim))
    return (amp * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


@pytest.fixture(scope="session")
def stats() -> dict[str, dict[str, np.ndarray]]:
    actions = smooth_chunks(2000, 10, seed=123).reshape(-1, ACTION_DIM)
    return {"observation.state": compute_stats(actions), "action": compute_stats(actions)}


def make_batch(batch_size: int = 4, chunk: int = 10, image_size: int = 96, seed: int = 0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    actions = torch.from_numpy(smooth_chunks(batch_size, chunk, seed=seed))
    batch = {
        f"observation.images.{c}": torch.rand(batch_size, 3, image_size, image_size, generator=gen)
        for c in CAMERAS
    }
    batch["observation.state"] = actions[:, 0] + 0.05 * torch.randn(batch_size, STATE_DIM, generator=gen)
    batch["action"] = actions
    batch["action_is_pad"] = torch.zeros(batch_size, chunk, dtype=torch.bool)
    batch["task"] = [TASKS[i % len(TASKS)] for i in range(batch_size)]
    return batch


@pytest.fixture(autouse=True)
def _one_thread():
    """The machine is shared: one thread per test keeps timings sane and results deterministic."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
