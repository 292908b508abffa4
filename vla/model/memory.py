"""How big a fine-tune is before it runs: parameters, tokens per sample, and a GPU memory plan.

`vla train ... --dry-run` (or `train.dry_run=true`) prints this for the chosen backbone and settings
(vla/apps/dry_run.py), reading the architecture from the checkpoint's config.json when it is on disk
and from vla/model/architectures.py when it is not. The memory model, per training step:

    weights      every parameter at backbone.dtype
    gradients    every trainable parameter, at its dtype
    optimiser    AdamW's two moments per trainable parameter, at its dtype (torch keeps them so)
    EMA          a float32 copy of every tensor, when train.ema.enabled
    activations  what autograd keeps for the backward pass, per sample: in each language-model layer
                 (2 norms' inputs and outputs, q k v, the attention output, the MLP's gate, up,
                 activation and product: 4h + q + 2kv + o + 4i values per token) plus, with eager
                 attention, the L x L attention probabilities (float32 softmax + its half copy, and
                 Gemma 2's soft-cap tanh); the vision tower's only when it trains (6h + 3i per patch)

and a reserve of 1 GiB + 10% for the CUDA context and the allocator. tests/vla/model/test_memory.py
holds the estimate against what a tiny model keeps on the CPU (stated factor there).
"""

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from vla.model import adapters

GIB = 1024**3
RESERVE_BYTES, RESERVE_SHARE = GIB, 0.10  # CUDA context + allocator fragmentation


@dataclass(frozen=True)
class Plan:
    name: str
    total_params: int
    trainable_params: int
    tokens: int  # sequence length of one training sample
    image_tokens: int  # of which image tokens (all cameras)
    weights: int  # bytes
    gradients: int
    optimizer: int
    ema: int
    activations: int  # bytes per sample

    def fixed(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.ema

    def total(self, batch: int) -> int:
        """Estimated peak bytes at `batch`, reserve included."""
        return int((self.fixed() + batch * self.activations) * (1 + RESERVE_SHARE) + RESERVE_BYTES)

    def max_batch(self, gib: float) -> int:
        """The largest batch whose estimate fits in `gib` GiB (0: not even one sample)."""
        room = (gib * GIB - RESERVE_BYTES) / (1 + RESERVE_SHARE) - self.fixed()
        return max(0, math.floor(room / self.activations))

    def report(self, batch: int) -> str:
        g = lambda n: f"{n / GIB:.2f} GiB"  # noqa: E731
        lines = [
            f"dry run: {self.name}",
            f"  parameters   {self.total_params / 1e6:,.1f} M total, "
            f"{self.trainable_params / 1e6:,.2f} M trainable",
            f"  tokens       {self.tokens} per sample ({self.image_tokens} image tokens)",
            f"  weights      {g(self.weights)}",
            f"  gradients    {g(self.gradients)}",
            f"  AdamW state  {g(self.optimizer)}",
        ]
        lines += [f"  EMA          {g(self.ema)}"] if self.ema else []
        lines += [
            f"  activations  {g(self.activations)} per sample, "
            f"{g(batch * self.activations)} at batch {batch}",
            f"  GPU memory   ~{g(self.total(batch))} at batch {batch} (+1 GiB + 10% reserve included)",
            f"  largest batch that fits: {self.max_batch(24)} on a 24 GB GPU, {self.max_batch(80)} on 80 GB",
        ]
        return "\n".join(lines)


def parameter_bytes(model: nn.Module, new_rows: int, cfg: Any) -> dict[str, int]:
    """Counts of a (meta-device) backbone with LoRA injected, plus the VLA's `new_rows` vocabulary rows:
    the embedding (and an untied head) grows by them; in adapter mode TokenRows holds trainable copies
    of them and the grown embedding is frozen, else the whole embedding trains (adapters.trains)."""
    embedding = model.get_input_embeddings().weight
    tied = model.get_output_embeddings().weight is embedding
    grown = new_rows * embedding.shape[1] * (1 if tied else 2)
    copies = grown if adapters.adapter_mode(cfg) else 0
    train = [p for n, p in model.named_parameters() if adapters.trains(n, cfg)]
    trainable = sum(p.numel() for p in train) + (copies or grown)
    size = embedding.element_size()
    return {
        "total": sum(p.numel() for p in model.parameters()) + grown + copies,
        "trainable": trainable,
        "weights": sum(p.numel() * p.element_size() for p in model.parameters()) + (grown + copies) * size,
        "trainable_bytes": sum(p.numel() * p.element_size() for p in train) + (copies or grown) * size,
    }


def activation_bytes(text: Any, vision: Any, cfg: Any, tokens: int, patches: int, dtype_bytes: int) -> int:
    """Bytes autograd keeps per sample (module doc): language model, plus the vision tower if it trains."""
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    q = text.num_attention_heads * head_dim
    kv = text.num_key_value_heads * head_dim
    per_token = 4 * text.hidden_size + 2 * q + 2 * kv + 4 * text.intermediate_size
    lm = tokens * text.num_hidden_layers * per_token * dtype_bytes
    if cfg.attn_implementation == "eager":
        capped = getattr(text, "attn_logit_softcapping", None) is not None
        per_score = 4 + dtype_bytes * (2 if capped else 1)
        lm += text.num_hidden_layers * text.num_attention_heads * tokens**2 * per_score
    if cfg.freeze_vision or vision is None:
        return lm
    width = vision.hidden_size
    layers = getattr(vision, "num_hidden_layers", None) or vision.depth
    return lm + patches * layers * (6 * width + 3 * vision.intermediate_size) * dtype_bytes


def make_plan(
    name: str,
    model: nn.Module,
    cfg: Any,
    image_tokens: int,
    patches: int,
    other_tokens: int,
    new_rows: int,
    ema: bool,
) -> Plan:
    """The plan for one backbone: model on the meta device (LoRA injected), the image tokens and vision
    patches of one sample (all cameras), its other tokens (text, state, action slots)."""
    counts = parameter_bytes(model, new_rows, cfg)
    config = model.config
    text = config.get_text_config()
    vision = getattr(config, "vision_config", None)
    dtype_bytes = torch.empty(0, dtype=getattr(torch, cfg.dtype)).element_size()
    tokens = image_tokens + other_tokens
    return Plan(
        name=name,
        total_params=counts["total"],
        trainable_params=counts["trainable"],
        tokens=tokens,
        image_tokens=image_tokens,
        weights=counts["weights"],
        gradients=counts["trainable_bytes"],
        optimizer=2 * counts["trainable_bytes"],
        ema=4 * counts["total"] if ema else 0,
        activations=activation_bytes(text, vision, cfg, tokens, patches, dtype_bytes),
    )


def plan_vla(
    cfg: Any,
    frames: list[tuple[int, int]],
    state_dim: int,
    action_dim: int,
    ema: bool = False,
    instruction_tokens: int = 12,
) -> Plan:
    """The plan of a VLA policy (policies/vla/config.py VLAConfig: backbone, tokenizer, chunk_size,
    decoder, state tokens) for cameras of `frames` (H, W) shapes. The instruction's length is not known
    before the data is read: `instruction_tokens` (12, a typical tabletop instruction) stands for it."""
    from vla.model.backbone import meta_model  # transformers, only when a plan is made
    from vla.model.families import family_of
    from vla.model.tokenizers import make_action_tokenizer
    from vla.model.vla import action_slots, new_vocabulary

    t = cfg.tokenizer
    act_tok = make_action_tokenizer(
        t.type, cfg.chunk_size, action_dim, num_bins=t.num_bins, scale=t.scale, vocab_size=t.vocab_size
    )
    model, source = meta_model(cfg.backbone)
    family = family_of(model.config.model_type)
    image_tokens, patches = family.tokens(model.config, cfg.backbone, frames)
    slots = action_slots(act_tok)
    prompt = instruction_tokens + (state_dim if cfg.state_tokens else 0) + (1 if family.separator else 0) + 1
    suffix = slots if cfg.decoder == "parallel" else slots - 1
    name = f"backbone {cfg.backbone.name}, architecture from {source}"
    added = len(new_vocabulary(cfg, act_tok))
    return make_plan(name, model, cfg.backbone, image_tokens, patches, prompt + suffix, added, ema)
