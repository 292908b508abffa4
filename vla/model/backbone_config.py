"""Backbone options (conf/backbone/*.yaml), apart from backbone.py so configs load without transformers."""

from dataclasses import dataclass, field

_DTYPES = ("float32", "bfloat16", "float16")
_ATTN = ("sdpa", "eager")


@dataclass
class BackboneConfig:
    """Which VLM, how to load it, what trains. The `text_*`/`vision_*` fields shape only the tiny default."""

    name: str = "tiny"
    # hub id (e.g. HuggingFaceTB/SmolVLM2-256M-Video-Instruct) or local folder; null builds the tiny default
    pretrained: str | None = None
    # side fed to the vision encoder (SmolVLM: any multiple of patch*scale; PaliGemma: fixed, null; Qwen:
    # a budget of image_size^2 pixels, aspect kept); null = the checkpoint's native size
    image_size: int | None = 96
    # SmolVLM/Idefics3 only: image_size is the full side, split into tiles of the encoder's native size
    # plus the whole frame at that size (the processor's image splitting; 2x2 + 1 = 5 views at 1024)
    image_splitting: bool = False
    dtype: str = "float32"
    # sdpa, or eager: Gemma 2 (PaliGemma 2) soft-caps attention logits, which only eager applies
    attn_implementation: str = "sdpa"
    freeze_vision: bool = False  # True: train only the connector + language model
    freeze_lm: bool = False  # True with lora_rank > 0: only adapters (and the embeddings) train
    lora_rank: int = 0  # > 0: LoRA adapters on the language model through peft
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    lora_targets: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    # tiny architecture (SmolVLM/Idefics3 family), used only when pretrained is null
    text_hidden: int = 128
    text_layers: int = 4
    text_heads: int = 4
    text_kv_heads: int = 2
    text_intermediate: int = 384
    vision_hidden: int = 96
    vision_layers: int = 2
    vision_heads: int = 2
    vision_intermediate: int = 192
    patch_size: int = 12
    scale_factor: int = 2

    def __post_init__(self) -> None:
        if self.dtype not in _DTYPES:
            raise ValueError(f"backbone.dtype={self.dtype!r}: use one of {_DTYPES}")
        if self.attn_implementation not in _ATTN:
            raise ValueError(f"backbone.attn_implementation={self.attn_implementation!r}: use one of {_ATTN}")
        if self.freeze_lm and self.lora_rank <= 0:
            raise ValueError(
                "backbone.freeze_lm=true trains nothing in the LM: set backbone.lora_rank > 0 too"
            )
        if self.pretrained is None:
            if self.image_size is None:
                raise ValueError("backbone.image_size must be set for the tiny backbone (e.g. 96)")
            unit = self.patch_size * self.scale_factor
            if self.image_size % unit:
                raise ValueError(
                    f"backbone.image_size={self.image_size} must be a multiple of "
                    f"patch_size*scale_factor={unit}"
                )
            if self.text_hidden % self.text_heads or self.text_heads % self.text_kv_heads:
                raise ValueError(
                    f"backbone.text_hidden={self.text_hidden} must divide by text_heads={self.text_heads}, "
                    f"which must divide by text_kv_heads={self.text_kv_heads}"
                )
            if self.vision_hidden % self.vision_heads:
                raise ValueError(f"backbone.vision_hidden={self.vision_hidden} must divide by vision_heads")
