"""What differs between VLM families, as one table: `Backbone` reads nothing else about the family.

A checkpoint's family is picked by its `config.model_type` (the first row with a matching prefix);
a model type that no row names gets GENERIC: the model's own image processor and image token, which
is right for any image-text-to-text model that follows transformers' conventions. Supporting a new
family that needs more is one row here. No transformers import: the rules read config and processor
objects that backbone.py loaded.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

# (model config, processor, requested side or None) -> the square side fed to the vision encoder;
# may configure the processor for that side
SizeRule = Callable[[Any, Any, int | None], int]


def _patch_grid(config: Any, processor: Any, requested: int | None) -> int:
    """Any multiple of patch_size * scale_factor; image splitting off, so one view per camera."""
    vision = config.vision_config
    size = requested or vision.image_size
    unit = vision.patch_size * config.scale_factor
    if size % unit:
        raise ValueError(f"backbone.image_size={size} must be a multiple of patch_size*scale_factor={unit}")
    ip = processor.image_processor
    ip.do_image_splitting = False
    ip.size = {"longest_edge": size}
    ip.max_image_size = {"longest_edge": size}
    processor.image_seq_len = (size // vision.patch_size) ** 2 // config.scale_factor**2
    return size


def _native(config: Any, processor: Any, requested: int | None) -> int:
    """The encoder's fixed input size; asking for another one is an error."""
    native = config.vision_config.image_size
    if requested not in (None, native):
        raise ValueError(
            f"backbone.image_size={requested}: PaliGemma's encoder is fixed at {native}; use null"
        )
    return native


def _multiple_of_28(config: Any, processor: Any, requested: int | None) -> int:
    """Dynamic resolution in 28-pixel units (14 px patches merged 2x2); we resize to a square."""
    size = requested or 224
    if size % 28:
        raise ValueError(f"backbone.image_size={size} must be a multiple of 28 for Qwen2.5-VL")
    return size


def _any(config: Any, processor: Any, requested: int | None) -> int:
    return requested or 224


@dataclass(frozen=True)
class Family:
    name: str
    model_types: tuple[str, ...]  # prefixes of config.model_type
    image_size: SizeRule
    # pixel path: "stacked" (B, N, 3, S, S) or "flat" (B * N, 3, S, S), normalised in torch with the image
    # processor's mean/std (no PIL round trip); "processor": the model's own image processor (Qwen2.5-VL
    # patchifies and returns grid sizes)
    pixels: Literal["stacked", "flat", "processor"]
    # prompt text of one image, expanded by the processor; None: the processor's image_token
    image_text: str | None = None
    # PaliGemma attends bidirectionally over tokens of type 0 (image + prefix); all 1s keeps the whole
    # prompt causal, so training and KV-cached decoding see the same attention
    causal_token_types: bool = False


IDEFICS = Family("smolvlm", ("smolvlm", "idefics3"), _patch_grid, "stacked")
PALIGEMMA = Family("paligemma", ("paligemma",), _native, "flat", causal_token_types=True)
QWEN_VL = Family(
    "qwen_vl", ("qwen",), _multiple_of_28, "processor", "<|vision_start|><|image_pad|><|vision_end|>"
)
GENERIC = Family("generic", (), _any, "processor")
FAMILIES: tuple[Family, ...] = (IDEFICS, PALIGEMMA, QWEN_VL)


def family_of(model_type: str) -> Family:
    return next((f for f in FAMILIES if model_type.startswith(f.model_types)), GENERIC)
