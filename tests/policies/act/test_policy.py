"""LeRobot's ACT through the adapter, on a debug_dataset dataset: it learns, saves and loads exactly, acts in
chunks through lerobot's own queue, and never reads the instruction."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from policies.act.policy import ACTAdapter
from policies.registry import load_checkpoint
from tests.policies.lerobot_helpers import build, fixed_batch, observation, seeded_chunk, train_steps


@pytest.fixture(scope="module")
def trained(debug_dataset: Path) -> tuple[ACTAdapter, list[float]]:
    policy = build("act", debug_dataset)
    return policy, train_steps(policy, fixed_batch(debug_dataset, 10), steps=4)


def test_training_steps_reduce_the_loss_on_a_fixed_batch(trained) -> None:
    _, (before, after) = trained
    assert np.isfinite(before) and after < 0.5 * before  # L1 + 10 x KL: the KL term falls fast


def test_loss_terms_are_lerobots(trained, debug_dataset: Path) -> None:
    policy, _ = trained
    policy.train()  # the CVAE encoder runs only in training mode
    loss, metrics = policy.compute_loss(fixed_batch(debug_dataset, 10))
    policy.eval()
    assert set(metrics) == {"l1_loss", "kld_loss"}
    assert float(loss) == pytest.approx(metrics["l1_loss"] + 10.0 * metrics["kld_loss"], rel=1e-5)


def test_chunk_has_the_configured_shape_and_is_finite(trained, debug_dataset: Path) -> None:
    policy, _ = trained
    chunk = policy.predict_action_chunk(observation(debug_dataset))
    assert chunk.shape == (10, 6) and chunk.dtype == np.float32 and np.isfinite(chunk).all()


def test_save_load_gives_identical_actions(trained, debug_dataset: Path, tmp_path: Path) -> None:
    policy, _ = trained
    obs = observation(debug_dataset)
    policy.save_pretrained(tmp_path / "ckpt")
    files = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert files == ["config.yaml", "model.safetensors", "stats.safetensors"]
    meta = yaml.safe_load((tmp_path / "ckpt" / "config.yaml").read_text())
    assert meta["_target_"] == "policies.act.policy.ACTAdapter" and meta["policy"]["dim_model"] == 32
    loaded = load_checkpoint(tmp_path / "ckpt")
    assert isinstance(loaded, ACTAdapter) and loaded.cfg == policy.cfg
    np.testing.assert_array_equal(loaded.predict_action_chunk(obs), policy.predict_action_chunk(obs))


def test_the_instruction_is_ignored(trained, debug_dataset: Path) -> None:
    """ACT has no language input: any words give the same chunk (a language-blind baseline)."""
    policy, _ = trained
    a = seeded_chunk(policy, observation(debug_dataset, task="pick up the blue cube"))
    b = seeded_chunk(policy, observation(debug_dataset, task="lift the orange cube"))
    np.testing.assert_array_equal(a, b)


def test_select_action_runs_lerobots_queue_over_the_chunk(trained, debug_dataset: Path) -> None:
    policy, _ = trained
    obs = observation(debug_dataset)
    chunk = policy.predict_action_chunk(obs)
    policy.reset()
    first = np.stack([policy.select_action(obs) for _ in range(5)])  # n_action_steps = 5
    np.testing.assert_allclose(first, chunk[:5], atol=1e-6)
    policy.reset()


def test_unknown_option_names_lerobots_config(debug_dataset: Path) -> None:
    with pytest.raises(ValueError, match=r"policy\.dim_modle is not a field of lerobot's ACTConfig"):
        build("act", debug_dataset, dim_modle=64)
