"""A lean KV-cached decode step for Llama-architecture language models (tiny SmolVLM, SmolVLM2, Idefics3).

transformers' one-token forward spends most of its time in Python bookkeeping (mask building, cache
objects, output classes): ~3-5 ms per token on the tiny model, whatever the model size. This step runs
the SAME modules and weights (norms, projections, MLPs, the model's own rotary embedding) on a
preallocated KV cache, with nothing else. It is exact: tests check its tokens against transformers'
cached forward and against model.generate(). Prefill (images + prompt) still goes through transformers.
Families with other layer structures (Gemma 2's soft-capping, Qwen's multimodal RoPE) fall back to
transformers' cached forward.
"""

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def supports_lean_decoding(lm: nn.Module) -> bool:
    """True for a plain Llama decoder stack (the tiny default and SmolVLM2 checkpoints)."""
    config = getattr(lm, "config", None)
    return getattr(config, "model_type", None) == "llama" and not getattr(config, "sliding_window", None)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class LlamaStepDecoder:
    """Feeds one token per step after a transformers prefill; returns last hidden states (B, 1, H)."""

    def __init__(self, lm: nn.Module, cache: Any, attention_mask: torch.Tensor, max_new: int):
        self.lm = lm
        cfg = lm.config
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        b, p = attention_mask.shape
        self.start = self.pos = (
            p  # transformers' prefill used positions 0..P-1 (cache_position), padded rows included
        )
        self.keys, self.values = [], []
        for layer in cache.layers:  # DynamicCache: (B, n_kv, P, hd) per layer
            k = layer.keys.new_zeros(b, layer.keys.shape[1], p + max_new, self.head_dim)
            v = torch.zeros_like(k)
            k[:, :, :p], v[:, :, :p] = layer.keys, layer.values
            self.keys.append(k)
            self.values.append(v)
        self.mask: torch.Tensor | None = None  # no padding (e.g. batch 1): plain attention, no mask
        if not attention_mask.bool().all():
            self.mask = torch.ones(b, 1, 1, p + max_new, dtype=torch.bool, device=attention_mask.device)
            self.mask[:, 0, 0, :p] = attention_mask.bool()  # (B, 1, 1, P + max_new), False on left padding
        # the model's own rotary embedding, evaluated once for every position this decoder will use
        positions = torch.arange(p, p + max_new, device=attention_mask.device)[None].expand(b, -1)  # (B, N)
        probe = lm.embed_tokens.weight[:1][None]  # dtype/device carrier for rotary_emb
        cos, sin = lm.rotary_emb(probe, positions)  # (B, N, hd)
        self.cos, self.sin = cos[:, None], sin[:, None]  # (B, 1, N, hd)
        self.layers = [_fused(layer) for layer in lm.layers[: cfg.num_hidden_layers]]

    @torch.no_grad()
    def step(self, input_ids: torch.Tensor) -> torch.Tensor:
        """input_ids (B, 1) -> hidden (B, 1, H) after the final norm."""
        pos, i0, hd = self.pos, self.pos - self.start, self.head_dim
        b = input_ids.shape[0]
        x = self.lm.embed_tokens(input_ids)  # (B, 1, H)
        cos, sin = self.cos[:, :, i0 : i0 + 1], self.sin[:, :, i0 : i0 + 1]  # (B, 1, 1, hd)
        mask = None if self.mask is None else self.mask[..., : pos + 1]  # (B, 1, 1, pos + 1)
        for i, (layer, qkv, n_q, n_kv) in enumerate(self.layers):
            att = layer.self_attn
            h = qkv(layer.input_layernorm(x))  # (B, 1, (nh + 2 nkv) hd)
            q, k, v = h.view(b, -1, hd).split([n_q, n_kv, n_kv], dim=1)  # (B, heads, hd) each
            q = q[:, :, None] * cos + _rotate_half(q[:, :, None]) * sin  # (B, nh, 1, hd)
            k = k[:, :, None] * cos + _rotate_half(k[:, :, None]) * sin  # (B, nkv, 1, hd)
            self.keys[i][:, :, pos] = k[:, :, 0]
            self.values[i][:, :, pos] = v
            o = F.scaled_dot_product_attention(
                q,
                self.keys[i][:, :, : pos + 1],
                self.values[i][:, :, : pos + 1],
                attn_mask=mask,
                scale=att.scaling,
                enable_gqa=True,
            )  # (B, nh, 1, hd)
            x = x + att.o_proj(o.reshape(b, 1, -1))
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        self.pos += 1
        return self.lm.norm(x)


def _fused(layer: nn.Module) -> tuple[nn.Module, Any, int, int]:
    """(layer, one projection computing q|k|v, #q heads, #kv heads); fuses plain Linears into one matmul."""
    att = layer.self_attn
    hd = att.head_dim
    n_q, n_kv = att.q_proj.out_features // hd, att.k_proj.out_features // hd
    projs = (att.q_proj, att.k_proj, att.v_proj)
    if all(type(m) is nn.Linear for m in projs):
        weight = torch.cat([m.weight for m in projs])  # ((nh + 2 nkv) hd, H)
        bias = torch.cat([m.bias for m in projs]) if att.q_proj.bias is not None else None
        return layer, lambda h: F.linear(h, weight, bias), n_q, n_kv
    return layer, lambda h: torch.cat([m(h) for m in projs], dim=-1), n_q, n_kv  # e.g. LoRA-wrapped
