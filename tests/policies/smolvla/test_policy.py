"""LeRobot's SmolVLA through the adapter, offline on the VLA's tiny random SmolVLM: it learns, saves and
loads exactly (the VLM folder travels with the checkpoint), and the instruction reaches the model."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from policies.lerobot_adapter import observation_to_batch
from policies.registry import load_checkpoint
from policies.smolvla.policy import SmolVLAAdapter
from tests.policies.lerobot_helpers import (
    TINY_BACKBONE,
    build,
    fixed_batch,
    observation,
    seeded_chunk,
    train_steps,
)

TOKENS = "observation.language.tokens"


@pytest.fixture(scope="module")
def trained(debug_dataset: Path) -> tuple[SmolVLAAdapter, list[float]]:
    policy = build("smolvla", debug_dataset)
    return policy, train_steps(policy, fixed_batch(debug_dataset, 10, batch_size=4), steps=8)


def test_training_steps_reduce_the_loss_on_a_fixed_batch(trained) -> None:
    _, (before, after) = trained
    assert np.isfinite(before) and after < 0.9 * before  # flow matching MSE, same noise and times


def test_the_vlm_is_the_tiny_backbone_and_trains(trained) -> None:
    policy, _ = trained
    vlm = policy.model.model.vlm_with_expert
    text = vlm.config.text_config
    assert (text.hidden_size, len(vlm.get_vlm_model().text_model.layers)) == (TINY_BACKBONE["text_hidden"], 2)
    assert vlm.config.vision_config.hidden_size == TINY_BACKBONE["vision_hidden"]
    vision = vlm.get_vlm_model().vision_model.parameters()
    assert all(p.requires_grad for p in vision)  # freeze_vision_encoder=false: random weights must learn


def test_save_load_gives_identical_actions(trained, debug_dataset: Path, tmp_path: Path) -> None:
    policy, _ = trained
    obs = observation(debug_dataset)
    policy.save_pretrained(tmp_path / "ckpt")
    ckpt = tmp_path / "ckpt"
    assert sorted(p.name for p in ckpt.iterdir()) == [
        "config.yaml",
        "model.safetensors",
        "stats.safetensors",
        "vlm",
    ]
    assert json.loads((ckpt / "vlm" / "config.json").read_text())["model_type"] == "smolvlm"
    assert not any(p.suffix in (".bin", ".pt", ".pkl") for p in ckpt.rglob("*"))
    loaded = load_checkpoint(ckpt)
    assert isinstance(loaded, SmolVLAAdapter) and loaded.cfg == policy.cfg
    chunk = seeded_chunk(loaded, obs)
    assert chunk.shape == (10, 6) and np.isfinite(chunk).all()
    np.testing.assert_array_equal(chunk, seeded_chunk(policy, obs))


def test_the_instruction_reaches_the_model(trained, debug_dataset: Path) -> None:
    """lerobot's processor tokenises the words into the prompt, and other words give other actions."""
    policy, _ = trained
    red, blue = (
        observation(debug_dataset, task="touch the red cube"),
        observation(debug_dataset, task="touch the blue cube"),
    )
    tokens = [policy._preprocess(observation_to_batch(o, policy.cfg.cameras))[TOKENS] for o in (red, blue)]
    assert tokens[0].shape == tokens[1].shape and not torch.equal(tokens[0], tokens[1])
    assert np.abs(seeded_chunk(policy, red) - seeded_chunk(policy, blue)).max() > 1e-4


def test_hub_weights_and_names_are_refused(debug_dataset: Path) -> None:
    with pytest.raises(ValueError, match=r"load_vlm_weights=true downloads SmolVLM2"):
        build("smolvla", debug_dataset, load_vlm_weights=True)
    with pytest.raises(ValueError, match=r"vlm_model_name is set by the adapter"):
        build("smolvla", debug_dataset, vlm_model_name="HuggingFaceTB/SmolVLM2-500M-Video-Instruct")
