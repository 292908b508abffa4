"""SmolVLAAdapter: lerobot's SmolVLAPolicy (modeling_smolvla.py: a SmolVLM with a flow-matching action
expert) and its processors (processor_smolvla.py: newline + tokenizer steps, state/action mean-std),
behind policies.base.Policy (see policies/lerobot_adapter.py).

lerobot builds its VLM from `vlm_model_name`: here a local folder with our tiny SmolVLM's config and
tokenizer, random weights (load_vlm_weights=False). Read in lerobot 0.6.1 (smolvlm_with_expert.py,
tokenizer_processor.py), that path is AutoConfig / AutoProcessor / AutoTokenizer.from_pretrained on a
folder and SmolVLMForConditionalGeneration(config): no download. The checkpoint keeps the folder as vlm/.
"""

import tempfile
from pathlib import Path
from typing import Any

from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy
from lerobot.policies.smolvla.processor_smolvla import make_smolvla_pre_post_processors
from torch import nn

from policies.lerobot_adapter import LeRobotAdapter, LeRobotAdapterConfig
from policies.smolvla.config import SmolVLAAdapterConfig
from vla.model.backbone import tiny_model_config, tiny_processor
from vla.model.backbone_config import BackboneConfig

VLM_DIR = "vlm"


class SmolVLAAdapter(LeRobotAdapter):
    config_cls = SmolVLAAdapterConfig
    target = "policies.smolvla.policy.SmolVLAAdapter"

    @classmethod
    def _make(cls, cfg: SmolVLAAdapterConfig, stats: Any, checkpoint: Path | None) -> tuple[nn.Module, Any]:  # type: ignore[override]
        if checkpoint is not None:
            return _build(cfg, stats, checkpoint / VLM_DIR)
        # lerobot reads the folder only while building (config, processor, tokenizer), so a temporary one
        # serves a fresh policy; save_pretrained writes it into the checkpoint
        with tempfile.TemporaryDirectory(prefix="vla-smolvla-vlm-") as tmp:
            write_vlm_folder(cfg.backbone(), Path(tmp))
            return _build(cfg, stats, Path(tmp))

    def _save_extra(self, directory: Path) -> None:
        vlm = self.model.model.vlm_with_expert  # the config and processor lerobot built the VLM from
        vlm.config.save_pretrained(directory / VLM_DIR)
        vlm.processor.save_pretrained(directory / VLM_DIR)


def _build(cfg: LeRobotAdapterConfig, stats: Any, vlm_dir: Path) -> tuple[nn.Module, Any]:
    if not (vlm_dir / "config.json").exists():
        raise FileNotFoundError(f"{vlm_dir} holds no VLM config.json: the SmolVLA checkpoint is incomplete")
    lcfg = cfg.lerobot_config(vlm_model_name=str(vlm_dir), load_vlm_weights=False)
    return SmolVLAPolicy(lcfg), make_smolvla_pre_post_processors(lcfg, dataset_stats=stats)


def write_vlm_folder(backbone: BackboneConfig, directory: Path) -> None:
    """The tiny SmolVLM's config.json + processor/tokenizer files, for lerobot to build its VLM from.

    Embeddings are untied: with train_expert_only=False lerobot freezes the VLM's `lm_head` by name and
    refuses a pattern that matches no parameter; a tied lm_head is no parameter of its own (and freezing
    it would freeze the input embeddings). SmolVLA never reads the LM head, so this changes no output.
    """
    processor = tiny_processor(backbone)
    config = tiny_model_config(backbone, processor.tokenizer)
    config.tie_word_embeddings = False
    config.text_config.tie_word_embeddings = False
    directory.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(directory)
    processor.save_pretrained(directory)
