"""PaliGemma runs as it was pretrained: a prefix-LM, bidirectional over image + prefix text, causal over
the suffix; the VLA's prompt is the prefix and its action tokens / query slots the suffix (as pi0).

The reference is transformers' own mask for PaliGemma's own prefix/suffix input: its processor's
`token_type_ids` for (text=prefix, suffix=...), captured where the language model receives it.
"""

from typing import Any

import numpy as np
import pytest
import torch

from policies.vla.policy import VLAPolicy
from tests.vla.model.conftest import ACTION_DIM, CAMERAS, STATE_DIM, make_batch
from tests.vla.model.tiny_families import PALIGEMMA_IMAGE, tiny_paligemma
from vla.model.backbone import Backbone
from vla.model.backbone_config import BackboneConfig


def captured_masks(bb: Backbone, **inputs: Any) -> dict[str, torch.Tensor]:
    """Runs bb.hf.model on inputs and returns the boolean (B, L, L) 'may attend' masks the language
    model received, per attention kind (Gemma 2 alternates sliding and full layers)."""
    seen: dict[str, torch.Tensor] = {}

    def grab(_module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        for kind, mask in kwargs["attention_mask"].items():
            allowed = mask if mask.dtype == torch.bool else mask == 0
            seen[kind] = allowed[:, 0].clone()

    handle = bb.hf.model.language_model.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        with torch.no_grad():
            bb.hf.model(**inputs)
    finally:
        handle.remove()
    return seen


@pytest.fixture(scope="module")
def paligemma() -> Backbone:
    processor, model = tiny_paligemma()
    cfg = BackboneConfig(name="paligemma", pretrained="x", image_size=None)
    return Backbone(model.train(), processor, cfg)


def test_mask_is_what_transformers_builds_for_paligemmas_own_prefix_and_suffix(paligemma):
    bb = paligemma
    image = np.random.default_rng(0).integers(0, 256, (PALIGEMMA_IMAGE, PALIGEMMA_IMAGE, 3), np.uint8)
    own = bb.processor(text=["pick up the cube"], images=[image], suffix=["move left"], return_tensors="pt")
    prefix_len = int((own["token_type_ids"][0] == 0).sum())  # image tokens, <bos>, the text, "\n"
    pixels = {"pixel_values": own["pixel_values"]}
    ids, attn = own["input_ids"], own["attention_mask"]
    want = captured_masks(
        bb, input_ids=ids, attention_mask=attn, token_type_ids=own["token_type_ids"], **pixels
    )
    ours = captured_masks(
        bb, input_ids=ids, attention_mask=attn, **bb._token_types(ids, prefix_len), **pixels
    )
    assert want.keys() == ours.keys() and want
    for kind in want:
        assert torch.equal(ours[kind], want[kind]), kind
    allowed = ours["full_attention"][0]  # (L, L): the prefix-LM pattern, checked value by value
    length = ids.shape[1]
    q, k = torch.arange(length)[:, None], torch.arange(length)[None]
    assert torch.equal(allowed, (k <= q) | ((q < prefix_len) & (k < prefix_len)))


def policy(stats, decoder: str, tmp_path) -> VLAPolicy:
    from tests.vla.model.tiny_families import save_tiny_family

    path = save_tiny_family("paligemma", tmp_path / "paligemma")
    torch.manual_seed(0)
    cfg = {
        "backbone": {"name": "paligemma", "pretrained": str(path), "image_size": None},
        "chunk_size": 2,
        "n_action_steps": 2,
        "decoder": decoder,
    }
    return VLAPolicy.from_config(cfg, stats, CAMERAS, STATE_DIM, ACTION_DIM)


def test_the_vla_prompt_is_the_prefix_and_left_padding_stays_masked(stats, tmp_path):
    """compute_loss: the whole prompt (PaliGemma's own prefix layout, then state and <act_start>)
    attends both ways, query slots causally, and left padding is never attended to."""
    pol = policy(stats, "parallel", tmp_path)
    model, bb = pol.model, pol.model.backbone
    batch = make_batch(2, chunk=2, image_size=PALIGEMMA_IMAGE)
    batch["task"] = ["touch the red cube", "push the blue block to the left of the green one"]
    mb = pol._model_batch(batch)
    ids, mask, pixels = model.build_prompt(mb["images"], mb["state"], mb["task"])
    frames = [np.zeros((PALIGEMMA_IMAGE,) * 2 + (3,), np.uint8)] * 2
    own = bb.processor(text=[batch["task"][1]], images=[frames])["input_ids"][0]  # <image>x32 <bos> text \n
    assert own[-1:] == bb.separator_ids
    state = ids[1, len(own) - 1 : -2]  # PaliGemma's own prefix, with the state before its "\n" (pi0-FAST)
    assert ids[1, : len(own) - 1].tolist() == own[:-1] and len(state) == STATE_DIM
    assert bool(torch.isin(state, model.state_ids).all())
    assert ids[1, -2:].tolist() == [*bb.separator_ids, model.act_start_id]
    p, s = ids.shape[1], model.num_slots
    full = torch.cat([ids, model.query_ids.expand(2, s)], 1)
    full_mask = torch.cat([mask, torch.ones(2, s, dtype=mask.dtype)], 1)
    allowed = captured_masks(
        bb, input_ids=full, attention_mask=full_mask, **pixels, **bb._token_types(full, p)
    )["full_attention"]
    q, k = torch.arange(p + s)[:, None], torch.arange(p + s)[None]
    pattern = (k <= q) | ((q < p) & (k < p))
    for row in range(2):
        real = full_mask[row].bool()
        assert not real.all() or row == 1  # the shorter instruction is left-padded
        assert torch.equal(allowed[row][real][:, real], pattern[real][:, real])
        assert not allowed[row][:, ~real].any()  # padding is never a key


def test_kv_cached_decoding_agrees_with_the_prefix_lm_forward(stats, tmp_path):
    """The AR decoder prefills the prompt (bidirectional) and then steps causally through the cache;
    each token is the argmax of one uncached forward with the prompt as prefix, as in training."""
    pol = policy(stats, "ar", tmp_path).eval()
    model = pol.model
    mb = pol._model_batch(make_batch(2, chunk=2, image_size=PALIGEMMA_IMAGE, seed=5))
    ids, mask, pixels = model.build_prompt(mb["images"], mb["state"], mb["task"])
    tokens = model._decode_ar(ids, mask, pixels)
    for step in range(tokens.shape[1]):
        seq = torch.cat([ids, model.action_ids[tokens[:, :step]]], 1)
        seq_mask = torch.cat([mask, torch.ones_like(seq[:, ids.shape[1] :])], 1)
        hidden, _ = model.backbone.hidden_states(seq, seq_mask, pixels, prefix_len=ids.shape[1])
        logits = model.action_logits(hidden[:, -1]) + model._allowed(step)
        assert torch.equal(logits.argmax(-1), tokens[:, step])
    causal, _ = model.backbone.hidden_states(ids, mask, pixels, prefix_len=0)  # all suffix: causal
    prefix, _ = model.backbone.hidden_states(ids, mask, pixels)
    assert not torch.allclose(causal[:, -1], prefix[:, -1])  # the prefix mask changes what it computes
