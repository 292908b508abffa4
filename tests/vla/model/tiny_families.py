"""Tiny random-weight VLMs of three families, saved like hub checkpoints: tests of the real loading path.

`save_tiny_family(family, folder)` writes a model + processor with save_pretrained, exactly as a
downloaded hub snapshot looks; `BackboneConfig(pretrained=folder)` then loads it through the same code
as a real checkpoint. Test-only (the hub is unreachable here); the smolvlm one is the production tiny
default (vla.model.backbone), the others exist only here. From the repo root:

    from tests.vla.model.tiny_families import save_tiny_family
    save_tiny_family("qwen2_5_vl", "/tmp/tiny_qwen")   # then: vla train backbone.pretrained=/tmp/tiny_qwen
"""

from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import (
    AutoModelForImageTextToText,
    PaliGemmaConfig,
    PaliGemmaProcessor,
    PreTrainedTokenizerFast,
    Qwen2_5_VLConfig,
    Qwen2_5_VLProcessor,
    Qwen2VLImageProcessor,
    SiglipImageProcessor,
)
from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor
from transformers.models.smolvlm.image_processing_pil_smolvlm import SmolVLMImageProcessorPil

from vla.model.backbone import tiny_model_config, tiny_processor
from vla.model.backbone_config import BackboneConfig
from vla.model.tiny_tokenizer import ASSET as TINY_TOKENIZER_FILE

TINY_FAMILIES = ("smolvlm", "paligemma", "qwen2_5_vl")
PALIGEMMA_IMAGE = 56  # 56 / 14 = 4x4 patches -> 16 image tokens


def save_tiny_family(family: str, directory: str | Path, chat_template: str | None = None) -> Path:
    """Writes a random-weight model + processor of `family` with save_pretrained, exactly as a hub
    checkpoint folder looks; load it with BackboneConfig(pretrained=directory). For offline tests.
    chat_template: saved with the processor, as instruct checkpoints ship one."""
    torch.manual_seed(0)
    if family == "smolvlm":
        cfg = BackboneConfig(image_size=48, patch_size=12, text_layers=2, vision_layers=1)
        processor = tiny_processor(cfg)
        model = AutoModelForImageTextToText.from_config(tiny_model_config(cfg, processor.tokenizer))
    elif family == "paligemma":
        processor, model = tiny_paligemma()
    elif family == "qwen2_5_vl":
        processor, model = _tiny_qwen()
    else:
        raise ValueError(f"unknown tiny family {family!r}; use one of {TINY_FAMILIES}")
    processor.chat_template = chat_template
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return Path(directory)


def _bpe_tokenizer(**special: str) -> PreTrainedTokenizerFast:
    """The shipped byte-level BPE as a generic fast tokenizer: it round-trips save_pretrained exactly
    (wrapped as a Gemma tokenizer it does not: 269 vs 287 ids after reload)."""
    tok = PreTrainedTokenizerFast(tokenizer_file=str(TINY_TOKENIZER_FILE), **special)
    tok.add_tokens(
        ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"], special_tokens=True
    )
    return tok


def tiny_paligemma(size: int = PALIGEMMA_IMAGE, **text: Any) -> tuple[Any, nn.Module]:
    tok = _bpe_tokenizer(bos_token="<|im_start|>", eos_token="<end_of_utterance>", pad_token="<|endoftext|>")
    image_processor = SiglipImageProcessor(size={"height": size, "width": size})
    image_processor.image_seq_length = (size // 14) ** 2
    processor = PaliGemmaProcessor(image_processor, tok)  # adds <image>, <loc*>, <seg*> tokens
    config = PaliGemmaConfig(**paligemma_config(len(tok), processor.image_token_id, size, **text))
    return processor, AutoModelForImageTextToText.from_config(config)


def preset_geometry(family: str) -> tuple[Any, nn.Module]:
    """Tiny widths and depths with a preset's image geometry and image processor, as AutoProcessor
    loads it: SmolVLM2 (512 px, 16 px patches, pixel shuffle 4 -> 64 tokens; the PIL backend with
    Lanczos, SmolVLM's default), PaliGemma 2 224 (14 px patches -> 256 tokens; SigLIP's torchvision
    backend, bicubic), Qwen2.5-VL (14 px patches merged 2x2; torchvision, bicubic)."""
    torch.manual_seed(0)
    if family == "paligemma":
        return tiny_paligemma(224)
    if family == "qwen2_5_vl":
        return _tiny_qwen()
    cfg = BackboneConfig(image_size=512, patch_size=16, scale_factor=4, text_layers=1, vision_layers=1)
    cfg.vision_hidden, cfg.vision_heads, cfg.vision_intermediate = 32, 2, 64
    processor = tiny_processor(cfg)
    processor.image_processor = SmolVLMImageProcessorPil(
        do_image_splitting=False, size={"longest_edge": 512}, max_image_size={"longest_edge": 512}
    )  # class default resample: Lanczos, as SmolVLM2's preprocessor_config.json
    return processor, AutoModelForImageTextToText.from_config(tiny_model_config(cfg, processor.tokenizer))


def _tiny_qwen() -> tuple[Any, nn.Module]:
    tok = _bpe_tokenizer(eos_token="<end_of_utterance>", pad_token="<|endoftext|>")
    processor = Qwen2_5_VLProcessor(Qwen2VLImageProcessor(), tok, Qwen2VLVideoProcessor())
    ids = tok.convert_tokens_to_ids(["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"])
    config = Qwen2_5_VLConfig(**qwen2_5_vl_config(len(tok), ids))
    return processor, AutoModelForImageTextToText.from_config(config)


def paligemma_config(
    vocab_size: int, image_token_id: int, image_size: int = PALIGEMMA_IMAGE, **text_extra: Any
) -> dict[str, Any]:
    """PaliGemmaConfig kwargs: Gemma 2 text model + SigLIP encoder."""
    text = {
        "model_type": "gemma2",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 32,
        "intermediate_size": 128,
        "vocab_size": vocab_size,
        **text_extra,
    }
    vision = {
        "model_type": "siglip_vision_model",
        "hidden_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "image_size": image_size,
        "patch_size": 14,
    }
    return {
        "text_config": text,
        "vision_config": vision,
        "projection_dim": 64,
        "hidden_size": 64,
        "vocab_size": vocab_size,
        "image_token_index": image_token_id,
    }


def qwen2_5_vl_config(vocab_size: int, vision_ids: list[int]) -> dict[str, Any]:
    """Qwen2_5_VLConfig kwargs; vision_ids: <|vision_start|>, <|vision_end|>, <|image_pad|>, <|video_pad|>."""
    text = {
        "model_type": "qwen2_5_vl_text",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "intermediate_size": 128,
        "vocab_size": vocab_size,
        # multimodal RoPE: the head dim (32) splits into temporal/height/width sections summing to 16
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 6, 6]},
    }
    vision = {
        "depth": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 2,
        "out_hidden_size": 64,
        "fullatt_block_indexes": [1],
        "window_size": 56,
    }
    return {
        "text_config": text,
        "vision_config": vision,
        "vision_start_token_id": vision_ids[0],
        "vision_end_token_id": vision_ids[1],
        "image_token_id": vision_ids[2],
        "video_token_id": vision_ids[3],
    }
