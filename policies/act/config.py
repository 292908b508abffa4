"""ACTAdapterConfig: conf/policy/act.yaml, read as fields of lerobot's ACTConfig (configuration_act.py).

A field the YAML leaves out keeps lerobot's default. ACT does not read the instruction: its inputs are the
cameras and the robot state (lerobot's ACT has no language input).
"""

from dataclasses import dataclass

from lerobot.policies.act.configuration_act import ACTConfig

from policies.lerobot_adapter import LeRobotAdapterConfig


@dataclass
class ACTAdapterConfig(LeRobotAdapterConfig):
    lerobot_config_cls = ACTConfig
