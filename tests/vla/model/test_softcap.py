"""Gemma 2 (PaliGemma 2) soft-caps attention logits, tanh(x / 50) * 50; transformers' sdpa drops it.

On a tiny Gemma 2 whose attention logits reach ~18 (pretrained ones go past the cap: it exists for
them), eager attention differs from sdpa and sdpa equals an uncapped eager model: sdpa silently
changes the pretrained attention. Hence `attn_implementation: eager` in conf/backbone/paligemma2_3b.yaml
and a warning when a soft-capped backbone is loaded with sdpa. docs/model.md has the measured sizes.
"""

import logging
from pathlib import Path

import torch
import yaml
from transformers import Gemma2Config, Gemma2Model

from tests.vla.model.tiny_families import save_tiny_family
from vla.config import CONF_DIR
from vla.model.backbone import load_backbone
from vla.model.backbone_config import BackboneConfig

SIZES = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 32,
    "intermediate_size": 128,
    "vocab_size": 300,
    "query_pre_attn_scalar": 32,
}


def hidden(impl: str, cap: float | None, state: dict, ids: torch.Tensor) -> torch.Tensor:
    model = Gemma2Model(Gemma2Config(**SIZES, attn_logit_softcapping=cap, attn_implementation=impl)).eval()
    model.load_state_dict(state)
    with torch.no_grad():
        return model(ids).last_hidden_state


def test_sdpa_drops_gemma2_attention_soft_capping():
    torch.manual_seed(0)
    state = Gemma2Model(Gemma2Config(**SIZES)).state_dict()
    for key in state:  # large queries: logits up to ~18 (layer 0), where tanh(x / 50) * 50 bends them
        if "q_proj" in key:
            state[key] = state[key] * 160
    ids = torch.randint(0, 300, (2, 64))
    eager, sdpa = hidden("eager", 50.0, state, ids), hidden("sdpa", 50.0, state, ids)
    uncapped = hidden("eager", None, state, ids)
    rel = ((eager - sdpa).norm() / eager.norm()).item()
    assert rel > 0.01  # the cap matters at these logits (1.7% measured)
    torch.testing.assert_close(sdpa, uncapped, atol=1e-4, rtol=1e-4)  # sdpa = no cap at all


def test_paligemma2_preset_keeps_the_cap_and_sdpa_is_warned(tmp_path, caplog):
    preset = yaml.safe_load((Path(CONF_DIR) / "backbone" / "paligemma2_3b.yaml").read_text())
    assert preset["attn_implementation"] == "eager"
    path = save_tiny_family("paligemma", tmp_path / "pg")
    with caplog.at_level(logging.WARNING, logger="vla.model.backbone"):
        cfg = BackboneConfig(pretrained=str(path), image_size=None, attn_implementation="eager")
        eager = load_backbone(cfg)
        assert "soft-caps" not in caplog.text
        load_backbone(BackboneConfig(pretrained=str(path), image_size=None, attn_implementation="sdpa"))
    assert "soft-caps attention logits" in caplog.text and "attn_implementation=eager" in caplog.text
    assert eager.hf.config.get_text_config().attn_logit_softcapping == 50.0
    assert eager.hf.config.get_text_config()._attn_implementation == "eager"
