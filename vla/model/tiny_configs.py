"""Architecture of the tiny random-weight default backbone, as a plain dict (no transformers import here).

The default CPU backbone is a SmolVLM sized by BackboneConfig. The tiny PaliGemma and Qwen2.5-VL that
test the real loading path of other families live with the tests (tests/vla/model/tiny_families.py).
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
