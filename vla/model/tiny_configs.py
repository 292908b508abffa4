"""Architectures of the tiny random-weight VLMs, as plain dicts (no transformers import here).

`smolvlm` is the default CPU backbone (sized by BackboneConfig); `paligemma` and `qwen2_5_vl` exist only
to test the real loading path offline (backbone.save_tiny_family writes them like hub checkpoints).
"""

from typing import Any

from vla.model.backbone_config import BackboneConfig


def smolvlm(cfg: BackboneConfig, vocab_size: int, pad_id: int, image_token_id: int) -> dict[str, Any]:
    """SmolVLMConfig kwargs: a Llama text model + SigLIP-style encoder + pixel-shuffle connector."""
    text = {
        "model_type": "llama",
        "vocab_size": vocab_size,
        "hidden_size": cfg.text_hidden,
        "intermediate_size": cfg.text_intermediate,
        "num_hidden_layers": cfg.text_layers,
        "num_attention_heads": cfg.text_heads,
        "num_key_value_heads": cfg.text_kv_heads,
        "max_position_embeddings": 1024,
        "pad_token_id": pad_id,
        "tie_word_embeddings": True,
    }
    vision = {
        "hidden_size": cfg.vision_hidden,
        "intermediate_size": cfg.vision_intermediate,
        "num_hidden_layers": cfg.vision_layers,
        "num_attention_heads": cfg.vision_heads,
        "image_size": cfg.image_size,
        "patch_size": cfg.patch_size,
    }
    return {
        "image_token_id": image_token_id,
        "scale_factor": cfg.scale_factor,
        "pad_token_id": pad_id,
        "vision_config": vision,
        "text_config": text,
        "tie_word_embeddings": True,
    }


PALIGEMMA_IMAGE = 56  # 56 / 14 = 4x4 patches -> 16 image tokens


def paligemma(vocab_size: int, image_token_id: int) -> dict[str, Any]:
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
    }
    vision = {
        "model_type": "siglip_vision_model",
        "hidden_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "image_size": PALIGEMMA_IMAGE,
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


def qwen2_5_vl(vocab_size: int, vision_ids: list[int]) -> dict[str, Any]:
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
