"""ACTAdapter: lerobot's ACTPolicy (modeling_act.py: ResNet + transformer encoder/decoder, CVAE, L1 + KL
loss) and its processors (processor_act.py), behind policies.base.Policy (see policies/lerobot_adapter.py).

policy = ACTAdapter.from_config(cfg.policy, load_stats(root), dataset_features(root))
loss, metrics = policy.compute_loss(batch)        # metrics: l1_loss, kld_loss
"""

from pathlib import Path
from typing import Any

from lerobot.policies.act.modeling_act import ACTPolicy
from lerobot.policies.act.processor_act import make_act_pre_post_processors
from torch import nn

from policies.act.config import ACTAdapterConfig
from policies.lerobot_adapter import LeRobotAdapter, LeRobotAdapterConfig


class ACTAdapter(LeRobotAdapter):
    config_cls = ACTAdapterConfig
    target = "policies.act.policy.ACTAdapter"

    @classmethod
    def _make(cls, cfg: LeRobotAdapterConfig, stats: Any, checkpoint: Path | None) -> tuple[nn.Module, Any]:
        # a checkpoint holds every weight: never fetch torchvision's ImageNet ResNet only to overwrite it
        lcfg = cfg.lerobot_config(**({"pretrained_backbone_weights": None} if checkpoint else {}))
        return ACTPolicy(lcfg), make_act_pre_post_processors(lcfg, dataset_stats=stats)
