"""The tiny backbone is a real SmolVLM built offline; the fast paths match the real processor."""

import numpy as np
import pytest
import torch

from vla.model.backbone import load_backbone
from vla.model.backbone_config import BackboneConfig


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return load_backbone(BackboneConfig())


def test_tiny_is_a_smolvlm_with_the_shipped_tokenizer(tiny):
    assert tiny.family == "smolvlm"
    assert type(tiny.hf).__name__ == "SmolVLMForConditionalGeneration"
    n_params = sum(p.numel() for p in tiny.hf.parameters())
    assert 0.5e6 < n_params < 3e6
    assert tiny.tokenizer.decode(tiny.text_ids("pick up the red cube")) == "pick up the red cube"
    assert len(tiny.text_ids("pick up the red cube")) <= 6  # the BPE learned the task vocabulary


def test_prompt_prefix_comes_from_the_real_processor(tiny):
    image_id = tiny.tokenizer.convert_tokens_to_ids("<image>")
    per_camera = (96 // 12) ** 2 // 2**2  # 8x8 patches, pixel shuffle by 2 -> 16 tokens
    for n in (1, 2):
        ids = tiny.image_prefix_ids([(96, 96)] * n)
        assert ids.count(image_id) == per_camera * n
        assert tiny.processor.tokenizer.convert_ids_to_tokens(ids[:2]) == [
            "<fake_token_around_image>",
            "<global-img>",
        ]


def test_fast_pixel_path_equals_the_processor(tiny):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (96, 96, 3), np.uint8) for _ in range(2)]
    ref = tiny.processor(text=["<image><image>"], images=[frames], return_tensors="pt")["pixel_values"]
    ours = tiny.image_inputs([torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255 for f in frames])[
        "pixel_values"
    ]
    assert ours.shape == ref.shape == (1, 2, 3, 96, 96)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)


def test_other_image_sizes_are_resized(tiny):
    pix = tiny.image_inputs([torch.rand(3, 3, 64, 80)])["pixel_values"]
    assert pix.shape == (3, 1, 3, 96, 96)


def test_new_tokens_extend_the_vocabulary_without_touching_old_rows():
    torch.manual_seed(0)
    bb = load_backbone(BackboneConfig())
    before = bb.hf.get_input_embeddings().weight.detach().clone()
    old_ids = bb.text_ids("push the cube")
    ids = bb.add_tokens(["<act_0>", "<act_1>"])
    assert ids == [before.shape[0], before.shape[0] + 1]
    assert bb.add_tokens(["<act_0>", "<act_1>"]) == ids  # idempotent
    after = bb.hf.get_input_embeddings().weight
    assert after.shape[0] == before.shape[0] + 2
    torch.testing.assert_close(after[: before.shape[0]], before, atol=0, rtol=0)
    assert bb.hf.get_output_embeddings().weight.shape[0] == after.shape[0]
    bb._text_cache.clear()
    assert bb.text_ids("push the cube") == old_ids


def test_freeze_vision_and_lora():
    bb = load_backbone(BackboneConfig(freeze_vision=True, lora_rank=4, freeze_lm=True))
    bb.configure_training()
    trainable = {n for n, p in bb.hf.named_parameters() if p.requires_grad}
    assert trainable and not any("vision_model" in n for n in trainable)
    assert any("lora_A" in n for n in trainable)
    lm_base = [n for n in trainable if "text_model.layers" in n and "lora_" not in n]
    assert lm_base == []
    assert "model.text_model.embed_tokens.weight" in trainable  # new action-token rows must learn
    assert any("connector" in n for n in trainable)


def test_mixed_precision_autocast_runs_the_image_merge(tiny):
    """accelerate's bf16 on CPU is torch.autocast: the connector's bf16 output meets float32 text
    embeddings in transformers' image merge, which refuses the mix unless the backbone casts it."""
    pixels = tiny.image_inputs([torch.rand(2, 3, 96, 96)])
    ids = torch.tensor([tiny.image_prefix_ids([(96, 96)]) + tiny.text_ids("touch the red cube")] * 2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        hidden, _ = tiny.hidden_states(ids, torch.ones_like(ids), pixels)
    assert hidden.shape[:2] == ids.shape and torch.isfinite(hidden.float()).all()
