"""SmolVLAAdapterConfig: conf/policy/smolvla.yaml, read as fields of lerobot's SmolVLAConfig, plus `backbone`.

`backbone` is the project's BackboneConfig (vla/model/backbone_config.py; `${backbone}` in the YAML): the
tiny random SmolVLM the VLA uses by default. lerobot builds its VLM from `vlm_model_name`; the adapter
points that at a local folder holding this backbone's config and tokenizer (load_vlm_weights=False), so
SmolVLA runs offline on the same SmolVLM size class as the VLA. A field the YAML leaves out keeps
lerobot's default.
"""

from dataclasses import dataclass
from typing import Any

from lerobot.policies.smolvla.configuration_smolvla import SmolVLAConfig

from policies.lerobot_adapter import LeRobotAdapterConfig
from vla.model.backbone_config import BackboneConfig


@dataclass
class SmolVLAAdapterConfig(LeRobotAdapterConfig):
    lerobot_config_cls = SmolVLAConfig
    adapter_keys = ("backbone",)

    def validate(self) -> None:
        super().validate()
        if "vlm_model_name" in self.options:
            raise ValueError(
                "policy.vlm_model_name is set by the adapter (a folder built from policy.backbone); "
                "choose the VLM with backbone=<conf/backbone/*> instead"
            )
        if self.get("load_vlm_weights"):
            raise ValueError(
                "policy.load_vlm_weights=true downloads SmolVLM2 from the hub; set it to false "
                "(the VLM is built from policy.backbone with random weights)"
            )
        if self.backbone().pretrained is not None:
            raise ValueError(
                f"backbone.pretrained={self.backbone().pretrained!r}: SmolVLA here builds its VLM from "
                "the tiny backbone's config (backbone=tiny); pretrained VLM weights are not supported"
            )

    def backbone(self) -> BackboneConfig:
        node: dict[str, Any] = dict(self.options.get("backbone") or {})
        return BackboneConfig(**node)
