"""LeRobot's Diffusion Policy through the adapter, on a debug_dataset dataset: it learns, saves and loads
exactly, returns lerobot's executed slice of the horizon, and never reads the instruction."""

from pathlib import Path

import numpy as np
import pytest

from policies.diffusion.policy import DiffusionAdapter
from policies.registry import load_checkpoint
from tests.policies.lerobot_helpers import build, fixed_batch, observation, seeded_chunk, train_steps


@pytest.fixture(scope="module")
def trained(debug_dataset: Path) -> tuple[DiffusionAdapter, list[float]]:
    policy = build("diffusion", debug_dataset)
    return policy, train_steps(policy, fixed_batch(debug_dataset, 8), steps=6, lr=1e-2)


def test_training_steps_reduce_the_loss_on_a_fixed_batch(trained) -> None:
    _, (before, after) = trained
    # epsilon-prediction MSE at the same noise and timesteps: ~1 (predicting zeros) at init, falls slowly
    assert np.isfinite(before) and after < 0.9 * before


def test_chunk_is_the_executed_slice_and_finite(trained, debug_dataset: Path) -> None:
    """lerobot's predict_action_chunk returns n_action_steps of the horizon (the steps it executes)."""
    policy, _ = trained
    chunk = policy.predict_action_chunk(observation(debug_dataset))
    assert chunk.shape == (4, 6) and chunk.dtype == np.float32 and np.isfinite(chunk).all()
    assert policy.cfg.chunk_size == 8 and policy.model.config.horizon == 8  # chunk_size is lerobot's horizon


def test_save_load_gives_identical_actions(trained, debug_dataset: Path, tmp_path: Path) -> None:
    policy, _ = trained
    obs = observation(debug_dataset)
    policy.save_pretrained(tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "config.yaml", "model.safetensors", "stats.safetensors",
    ]  # fmt: skip
    loaded = load_checkpoint(tmp_path / "ckpt")
    assert isinstance(loaded, DiffusionAdapter) and loaded.cfg == policy.cfg
    np.testing.assert_array_equal(seeded_chunk(loaded, obs), seeded_chunk(policy, obs))


def test_the_instruction_is_ignored(trained, debug_dataset: Path) -> None:
    policy, _ = trained
    a = seeded_chunk(policy, observation(debug_dataset, task="pick up the blue cube"))
    b = seeded_chunk(policy, observation(debug_dataset, task="lift the orange cube"))
    np.testing.assert_array_equal(a, b)


def test_chunks_stay_stateless_after_select_action(trained, debug_dataset: Path) -> None:
    """lerobot's predict_action_chunk reads the observation queue select_action filled; the adapter's
    chunk is of the observation it is given, whatever ran before."""
    policy, _ = trained
    obs, other = observation(debug_dataset), observation(debug_dataset)
    other["observation.state"] = other["observation.state"] + 0.5
    policy.reset()
    policy.select_action(other)  # fills lerobot's queues with `other`
    np.testing.assert_array_equal(seeded_chunk(policy, obs), (policy.reset(), seeded_chunk(policy, obs))[1])


def test_an_observation_history_is_refused(debug_dataset: Path) -> None:
    with pytest.raises(ValueError, match=r"n_obs_steps=2: the project's batches carry one observation"):
        build("diffusion", debug_dataset, n_obs_steps=2)
    with pytest.raises(ValueError, match=r"set policy\.chunk_size, not policy\.horizon"):
        build("diffusion", debug_dataset, horizon=16)
