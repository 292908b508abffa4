"""DiffusionAdapterConfig: conf/policy/diffusion.yaml, read as fields of lerobot's DiffusionConfig.

A field the YAML leaves out keeps lerobot's default. `chunk_size` is lerobot's `horizon` (the data loader
chunks by it). Diffusion Policy does not read the instruction (cameras and robot state only).
"""

from dataclasses import dataclass

from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig

from policies.lerobot_adapter import LeRobotAdapterConfig


@dataclass
class DiffusionAdapterConfig(LeRobotAdapterConfig):
    lerobot_config_cls = DiffusionConfig
    chunk_field = "horizon"

    def validate(self) -> None:
        super().validate()
        n_obs = self.get("n_obs_steps")
        if n_obs != 1:
            raise ValueError(
                f"policy.n_obs_steps={n_obs}: the project's batches carry one observation frame "
                "(vla/data/dataset.py) and eval/deploy query chunks statelessly; set policy.n_obs_steps=1"
            )
