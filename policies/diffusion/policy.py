"""DiffusionAdapter: lerobot's DiffusionPolicy (modeling_diffusion.py: ResNet + spatial softmax per camera,
1-D conditional U-Net, DDPM noise-prediction loss, diffusers' scheduler) and its processors, behind
policies.base.Policy (see policies/lerobot_adapter.py).

With n_obs_steps=1 the observation history axis lerobot expects holds the current frame only.
"""

from pathlib import Path
from typing import Any

import torch
from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy
from lerobot.policies.diffusion.processor_diffusion import make_diffusion_pre_post_processors
from torch import nn

from policies.diffusion.config import DiffusionAdapterConfig
from policies.lerobot_adapter import LeRobotAdapter, LeRobotAdapterConfig, with_empty_queues
from vla.constants import OBS_STATE


class DiffusionAdapter(LeRobotAdapter):
    config_cls = DiffusionAdapterConfig
    target = "policies.diffusion.policy.DiffusionAdapter"

    @classmethod
    def _make(cls, cfg: LeRobotAdapterConfig, stats: Any, checkpoint: Path | None) -> tuple[nn.Module, Any]:
        # a checkpoint holds every weight: never fetch torchvision's ImageNet ResNet only to overwrite it
        lcfg = cfg.lerobot_config(**({"pretrained_backbone_weights": None} if checkpoint else {}))
        return DiffusionPolicy(lcfg), make_diffusion_pre_post_processors(lcfg, dataset_stats=stats)

    def _training_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        # lerobot's forward adds the history axis to 4-D images itself when n_obs_steps == 1, not to the state
        batch[OBS_STATE] = batch[OBS_STATE].unsqueeze(1)  # (B, 1, D_s)
        return batch

    def _predict_chunk(self, batch: dict[str, Any]) -> torch.Tensor:
        batch[OBS_STATE] = batch[OBS_STATE].unsqueeze(1)  # (B, 1, D_s)
        # lerobot's predict_action_chunk reads its observation queues instead of the batch once
        # select_action has filled them; this path is stateless, so it runs with the queues emptied
        with with_empty_queues(self.model):
            return self.model.predict_action_chunk(batch)  # (B, n_action_steps, D) normalised
