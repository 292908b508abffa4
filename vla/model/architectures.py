"""The architecture (config.json's shape fields) of each preset's checkpoint, for when it is not on disk.

`vla train ... --dry-run` (vla/apps/dry_run.py) sizes a run before its weights are downloaded: it
needs the shape of the model, which the hub would give and an offline machine cannot reach. These
are the fields of each checkpoint's config.json that set a parameter or an activation (transformers'
defaults fill the rest); a checkpoint on disk is always read from its own config.json instead. Totals
as transformers 5.5.4 builds them on the meta device: SmolVLM2-256M 256.5 M parameters, SmolVLM2-500M
507.5 M, PaliGemma 2 3B 3.05 B, Qwen2.5-VL-3B 3.75 B.
"""

from typing import Any

_SMOLVLM_VISION = {
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "image_size": 512,
    "patch_size": 16,
}


def _smolvlm(hidden: int, intermediate: int, layers: int, heads: int, kv_heads: int) -> dict[str, Any]:
    """SmolVLM2: SigLIP-93M at 512 px + a SmolLM2 text model, pixel shuffle 4 (64 tokens per view)."""
    text = {
        "model_type": "llama",
        "hidden_size": hidden,
        "intermediate_size": intermediate,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "vocab_size": 49280,
        "rope_theta": 100000.0,
        "max_position_embeddings": 8192,
        "tie_word_embeddings": False,
    }
    return {
        "model_type": "smolvlm",
        "text_config": text,
        "vision_config": dict(_SMOLVLM_VISION),
        "scale_factor": 4,
        "image_token_id": 49190,
        "tie_word_embeddings": False,
    }


PALIGEMMA2_3B_224 = {
    "model_type": "paligemma",
    "text_config": {  # Gemma 2 2B
        "model_type": "gemma2",
        "hidden_size": 2304,
        "intermediate_size": 9216,
        "num_hidden_layers": 26,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "query_pre_attn_scalar": 256,
        "vocab_size": 257216,
    },
    "vision_config": {  # SigLIP So400m/14 at 224 px: 256 tokens
        "model_type": "siglip_vision_model",
        "hidden_size": 1152,
        "intermediate_size": 4304,
        "num_hidden_layers": 27,
        "num_attention_heads": 16,
        "image_size": 224,
        "patch_size": 14,
        "projection_dim": 2304,
    },
    "projection_dim": 2304,
    "image_token_index": 257152,
}

QWEN2_5_VL_3B = {
    "model_type": "qwen2_5_vl",
    "text_config": {
        "hidden_size": 2048,
        "intermediate_size": 11008,
        "num_hidden_layers": 36,
        "num_attention_heads": 16,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
        "tie_word_embeddings": True,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]},
    },
    "vision_config": {
        "depth": 32,
        "hidden_size": 1280,
        "intermediate_size": 3420,
        "num_heads": 16,
        "out_hidden_size": 2048,
        "fullatt_block_indexes": [7, 15, 23, 31],
        "window_size": 112,
    },
    "tie_word_embeddings": True,
}

# backbone.pretrained of a preset (conf/backbone/*.yaml) -> config kwargs of its checkpoint
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "HuggingFaceTB/SmolVLM2-256M-Video-Instruct": _smolvlm(576, 1536, 30, 9, 3),
    "HuggingFaceTB/SmolVLM2-500M-Video-Instruct": _smolvlm(960, 2560, 32, 15, 5),
    "google/paligemma2-3b-pt-224": PALIGEMMA2_3B_224,
    "Qwen/Qwen2.5-VL-3B-Instruct": QWEN2_5_VL_3B,
}
