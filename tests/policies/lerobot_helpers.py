"""Shared by tests/policies/{act,diffusion,smolvla}: LeRobot's policies at tiny sizes on a recorded dataset.

Every size here only shrinks the model for speed; the code, loss and processors are lerobot's own.
"""

from pathlib import Path
from typing import Any

import numpy as np
import torch

from policies.lerobot_adapter import LeRobotAdapter
from policies.registry import make_lerobot_policy
from vla.constants import OBS_STATE, TASK, image_key
from vla.data.dataset import dataset_features, load_stats, make_dataloader

TINY_BACKBONE = {
    "image_size": 48, "text_hidden": 64, "text_layers": 2, "text_heads": 2, "text_kv_heads": 1,
    "text_intermediate": 128, "vision_hidden": 32, "vision_layers": 1, "vision_heads": 1,
    "vision_intermediate": 64,
}  # fmt: skip
TINY: dict[str, dict[str, Any]] = {
    "act": {
        "chunk_size": 10, "n_action_steps": 5, "dim_model": 32, "n_heads": 2, "dim_feedforward": 64,
        "n_encoder_layers": 1, "n_vae_encoder_layers": 1, "latent_dim": 8,
        "pretrained_backbone_weights": None,
    },
    "diffusion": {
        "chunk_size": 8, "n_action_steps": 4, "n_obs_steps": 1, "down_dims": [16, 32, 64],
        "diffusion_step_embed_dim": 16, "spatial_softmax_num_keypoints": 8, "num_inference_steps": 5,
        "pretrained_backbone_weights": None, "use_separate_rgb_encoder_per_camera": False,  # one ResNet
    },
    "smolvla": {
        "chunk_size": 10, "n_action_steps": 5, "backbone": TINY_BACKBONE,
        "resize_imgs_with_padding": [48, 48], "num_vlm_layers": 2, "train_expert_only": False,
        "freeze_vision_encoder": False, "num_steps": 3,
    },
}  # fmt: skip
BATCH = 2  # the ResNet-18 of ACT and Diffusion is most of these tests' time


def build(name: str, root: Path, **overrides: Any) -> LeRobotAdapter:
    torch.manual_seed(0)
    policy = make_lerobot_policy(name, {**TINY[name], **overrides}, load_stats(root), dataset_features(root))
    assert isinstance(policy, LeRobotAdapter)
    return policy


def fixed_batch(root: Path, chunk_size: int, batch_size: int = BATCH) -> dict[str, Any]:
    """One batch of real frames (images, state, action chunk, action_is_pad, task), always the same."""
    return next(iter(make_dataloader(root, chunk_size, batch_size, shuffle=True, seed=0)))


def seeded_loss(policy: LeRobotAdapter, batch: dict[str, Any]) -> float:
    """The loss with the same noise, timesteps and dropout every call (the objectives sample them)."""
    torch.manual_seed(0)
    with torch.no_grad():
        return float(policy.compute_loss(batch)[0])


def train_steps(policy: LeRobotAdapter, batch: dict[str, Any], steps: int, lr: float = 1e-3) -> list[float]:
    """(loss before, loss after) `steps` AdamW steps on one batch, both at the same noise."""
    policy.train()
    before = seeded_loss(policy, batch)
    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=lr)
    for _ in range(steps):
        loss, _ = policy.compute_loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = seeded_loss(policy, batch)
    policy.eval()
    return [before, after]


def observation(root: Path, task: str = "pick up the blue cube", seed: int = 0) -> dict[str, Any]:
    """A policy observation from the dataset's first frame: real images and state, any instruction."""
    batch = next(iter(make_dataloader(root, 1, 1, shuffle=False)))
    obs: dict[str, Any] = {TASK: task, OBS_STATE: batch[OBS_STATE][0].numpy()}
    for cam in dataset_features(root).cameras:
        img = batch[image_key(cam)][0].permute(1, 2, 0).mul(255).round().to(torch.uint8)  # (H, W, 3)
        obs[image_key(cam)] = img.numpy()
    return obs


def seeded_chunk(policy: LeRobotAdapter, obs: dict[str, Any], seed: int = 1) -> np.ndarray:
    """predict_action_chunk with the same initial noise (Diffusion and SmolVLA sample it)."""
    torch.manual_seed(seed)
    return policy.predict_action_chunk(obs)
