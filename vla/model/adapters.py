"""LoRA fine-tuning of a pretrained backbone: what trains, what a checkpoint stores, how it merges.

With `lora_rank > 0` and `freeze_lm: true` (the 3B presets) the language model's pretrained weights
never change: peft's LoRA adapters train inside it, and so do the rows of the vocabulary the VLA adds
(action, query and state tokens) -- those rows alone, through `TokenRows`, so the 257k-row Gemma
embedding (1.2 GB in bf16) is neither trained, nor held twice by AdamW, nor saved. A checkpoint then
stores only the trainable tensors (adapters, new rows, the connector / projector, and the vision
tower if it trains): tens of MB instead of the ~6 GB of a 3B model, and the frozen rest is reloaded
from `backbone.pretrained`, bit for bit, so a resume continues exactly. `merge()` folds everything
back into plain weights (what `vla export --merge` writes): no peft, no base checkpoint needed.
"""

from typing import Any

import torch
from torch import nn

LORA_PREFIX = "lora_"


def adapter_mode(cfg: Any) -> bool:
    """Whether a backbone config trains adapters over frozen pretrained weights (checkpoints then hold
    only the trainable tensors). The tiny default has no pretrained weights to reload: never."""
    return bool(cfg.lora_rank > 0 and cfg.freeze_lm and cfg.pretrained)


def trains(name: str, cfg: Any) -> bool:
    """Whether backbone parameter `name` (as in model.named_parameters()) trains under cfg: the one rule
    shared by configure_training and the dry run's parameter count. The vision tower follows
    freeze_vision (its merger / projector always trains: it adapts vision features to the LM); with
    freeze_lm the language model trains only its LoRA adapters and the VLA's new vocabulary rows
    (TokenRows in adapter mode, else the whole embedding, so that the new rows can learn)."""
    if LORA_PREFIX in name or name.endswith(TokenRows.PARAMS):
        return True
    if ("vision" in name or "visual" in name) and "merger" not in name:
        return not cfg.freeze_vision
    if not cfg.freeze_lm or not any(part in name for part in ("text_model", "language_model", "lm_head")):
        return True
    return ("embed_tokens" in name or "lm_head" in name) and not adapter_mode(cfg)


def inject_lora(language_model: nn.Module, cfg: Any) -> None:
    """peft LoRA adapters on cfg.lora_targets of the language model (edited in place)."""
    from peft import LoraConfig, inject_adapter_in_model

    lcfg = LoraConfig(
        r=cfg.lora_rank,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.lora_targets),
    )
    inject_adapter_in_model(lcfg, language_model)


class TokenRows(nn.Module):
    """An input embedding whose pretrained rows stay frozen and whose `ids` rows (the VLA's new
    tokens) are trainable parameters; `out_rows` are the LM head's rows for them when the head is not
    tied to the embedding. The base module still computes every lookup (its own scaling included,
    e.g. Gemma's sqrt(hidden)); new ids are then overwritten with their trained rows."""

    PARAMS = (".rows", ".out_rows")

    def __init__(self, base: nn.Embedding, ids: list[int], head: nn.Module | None):
        super().__init__()
        self.base = base
        index = torch.tensor(ids, dtype=torch.long, device=base.weight.device)
        slot = torch.full((base.weight.shape[0],), -1, dtype=torch.long, device=base.weight.device)
        slot[index] = torch.arange(len(ids), device=base.weight.device)
        self.register_buffer("slot", slot, persistent=False)  # vocabulary id -> row of `rows`, or -1
        self.rows = nn.Parameter(base.weight.detach()[index].clone())
        tied = head is None or head.weight.data_ptr() == base.weight.data_ptr()
        self.out_rows = None if tied else nn.Parameter(head.weight.detach()[index].clone())

    @property
    def weight(self) -> torch.Tensor:  # what transformers reads (dtype, tying, resizing)
        return self.base.weight

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        out = self.base(input_ids)
        slot = self.slot[input_ids]
        new = slot >= 0
        if not bool(new.any()):
            return out
        scale = getattr(self.base, "embed_scale", None)
        rows = self.rows[slot.clamp(min=0)]
        rows = rows * scale.to(rows.dtype) if scale is not None else rows
        return torch.where(new[..., None], rows.to(out.dtype), out)

    def output_rows(self, ids: torch.Tensor) -> torch.Tensor:
        """LM-head rows of new-token `ids` (A,) -> (A, H)."""
        rows = self.rows if self.out_rows is None else self.out_rows
        return rows[self.slot[ids]]

    @torch.no_grad()
    def merge_into(self, head: nn.Module | None) -> nn.Embedding:
        """Writes the trained rows into the base embedding (and an untied head); returns the base."""
        ids = (self.slot >= 0).nonzero().squeeze(1)
        order = self.slot[ids]
        self.base.weight[ids] = self.rows[order].to(self.base.weight.dtype)
        if self.out_rows is not None and head is not None:
            head.weight[ids] = self.out_rows[order].to(head.weight.dtype)
        return self.base


def unload_lora(module: nn.Module) -> int:
    """Merges every peft LoRA layer under `module` into its base layer and puts the base layer back in
    its place (peft's merge_and_unload, for adapters injected without a PeftModel); returns how many."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    merged = 0
    for name, child in list(module.named_modules()):
        if isinstance(child, BaseTunerLayer) and name:
            child.merge()
            parent_name, _, attr = name.rpartition(".")
            parent = module.get_submodule(parent_name) if parent_name else module
            setattr(parent, attr, child.get_base_layer())
            merged += 1
    return merged


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The trainable tensors of `model` by name: what an adapter checkpoint holds."""
    return {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}


def load_trainable_state(model: nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    """Loads an adapter checkpoint into a model built the same way; any key mismatch is an error."""
    expected = {n for n, p in model.named_parameters() if p.requires_grad}
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise ValueError(
            f"{where} does not match the config's trainable parameters: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]} (was it written with other backbone.lora_* / freeze_* values?)"
        )
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value)
