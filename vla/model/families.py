"""What differs between VLM families, as one table: `Backbone` reads nothing else about the family.

A checkpoint's family is picked by its `config.model_type` (the first row with a matching prefix);
a model type that no row names gets GENERIC: the model's own image processor and image token, which
is right for any image-text-to-text model that follows transformers' conventions. Supporting a new
family that needs more is one row here. No transformers import: the rules read config and processor
objects that the loader built.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch

from vla.model import pixels

# (model config, processor, backbone config) -> the side fed to the vision encoder (the full side before
# tiling when SmolVLM splits images); configures the processor to match, so the prompt's image tokens
# (from the processor) and our torch pixels (vla/model/pixels.py) agree
SizeRule = Callable[[Any, Any, Any], int]
# (B, 3, H, W) frames in [0, 1], image processor, resampling kernel -> (B, V, 3, h, w) views
Views = Callable[[torch.Tensor, Any, str], torch.Tensor]


def _patch_grid(config: Any, processor: Any, cfg: Any) -> int:
    """Idefics3/SmolVLM: one square view per camera of any multiple of patch_size * scale_factor, or,
    with backbone.image_splitting, tiles of the encoder's native size plus the whole frame."""
    vision = config.vision_config
    ip = processor.image_processor
    if cfg.image_splitting:
        tile = vision.image_size
        size = cfg.image_size or 2 * tile
        if size % tile:
            raise ValueError(
                f"backbone.image_size={size} with image_splitting: must be a multiple of the encoder's "
                f"{tile} px tiles (e.g. {2 * tile}: 2x2 tiles + the whole frame)"
            )
    else:
        tile = size = cfg.image_size or vision.image_size
        unit = vision.patch_size * config.scale_factor
        if size % unit:
            raise ValueError(f"backbone.image_size={size}: must be a multiple of patch * scale = {unit}")
    ip.do_image_splitting = bool(cfg.image_splitting)
    ip.size = {"longest_edge": size}
    ip.max_image_size = {"longest_edge": tile}
    processor.image_seq_len = (tile // vision.patch_size) ** 2 // config.scale_factor**2
    return size


def _native(config: Any, processor: Any, cfg: Any) -> int:
    """PaliGemma: the encoder's fixed input size; asking for another one is an error."""
    native = config.vision_config.image_size
    if cfg.image_size not in (None, native):
        raise ValueError(
            f"backbone.image_size={cfg.image_size}: PaliGemma's encoder is fixed at {native}; use null"
        )
    processor.image_processor.size = {"height": native, "width": native}
    return native


def _pixel_budget(config: Any, processor: Any, cfg: Any) -> int:
    """Qwen2-VL / 2.5-VL: dynamic resolution (14 px patches merged 2x2) at a budget of image_size^2
    pixels: a square frame becomes image_size^2, others keep their aspect (the processor's smart_resize)."""
    size = cfg.image_size or 224
    if size % 28:
        raise ValueError(f"backbone.image_size={size} must be a multiple of 28 for Qwen2.5-VL")
    processor.image_processor.size = {"shortest_edge": size * size, "longest_edge": size * size}
    return size


def _any(config: Any, processor: Any, cfg: Any) -> int:
    return cfg.image_size or 224


@dataclass(frozen=True)
class Family:
    name: str
    model_types: tuple[str, ...]  # prefixes of config.model_type
    image_size: SizeRule
    # the processor's geometry in torch (resize, tiles); None: the processor does everything (generic)
    views: Views | None
    # how the model takes pixels: "stacked" (B, V, 3, h, w), "flat" (B * V, 3, h, w), both normalised
    # in torch; "processor": our resized views through the model's own processor (Qwen2.5-VL
    # patchifies and returns grid sizes)
    pixels: Literal["stacked", "flat", "processor"]
    # prompt text of one image, expanded by the processor; None: the processor's image_token
    image_text: str | None = None
    # a prefix-LM (PaliGemma): bidirectional attention over the prompt (token_type_ids 0: image +
    # prefix text), causal over the suffix (1: action tokens or query slots), as it was pretrained
    # and as pi0 runs it
    prefix_lm: bool = False
    # text that ends the prefix in pretraining, which the processor appends after the prompt text
    # (PaliGemma: "<image>...<bos>{prefix}\n"); the VLA puts it after the instruction and state tokens
    separator: str | None = None


IDEFICS = Family("smolvlm", ("smolvlm", "idefics3"), _patch_grid, pixels.idefics_views, "stacked")
PALIGEMMA = Family(
    "paligemma", ("paligemma",), _native, pixels.square_views, "flat", prefix_lm=True, separator="\n"
)
QWEN_VL = Family(
    "qwen_vl",
    ("qwen",),
    _pixel_budget,
    pixels.budget_views,
    "processor",
    "<|vision_start|><|image_pad|><|vision_end|>",
)
GENERIC = Family("generic", (), _any, None, "processor")
FAMILIES: tuple[Family, ...] = (IDEFICS, PALIGEMMA, QWEN_VL)


def family_of(model_type: str) -> Family:
    return next((f for f in FAMILIES if model_type.startswith(f.model_types)), GENERIC)


def soft_capped(config: Any) -> bool:
    """Whether the language model soft-caps attention logits (Gemma 2: tanh(x / 50) * 50), which
    transformers' sdpa attention drops (only eager, flex and flash attention apply it)."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return getattr(text, "attn_logit_softcapping", None) is not None
