"""The VLM backbone: the ONLY module of vla that imports `transformers`.

`load_backbone(cfg)` serves any generative VLM that transformers loads as image-text-to-text
(AutoModelForImageTextToText + AutoProcessor) from a hub id or a local folder, or builds the `tiny`
default: a real SmolVLM (Idefics3-family) architecture from a config, random weights, and the byte-level
BPE tokenizer shipped in vla/model/assets/. The `Backbone` wrapper gives the VLA model what it needs
and nothing more: the token ids of the image part of a prompt (computed once through the real
processor), pixel tensors for a batch (fast torch path for SmolVLM/Idefics3/PaliGemma, the processor
otherwise), new vocabulary entries, and hidden states. What differs between VLM families (the
prompt text of an image, the pixel path, the image size rule, attention quirks) is one table:
vla/model/families.py.
"""

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForImageTextToText,
    AutoProcessor,
    LogitsProcessor,
    LogitsProcessorList,
    PreTrainedTokenizerFast,
    SmolVLMConfig,
    SmolVLMImageProcessor,
    SmolVLMProcessor,
)
from transformers.models.smolvlm.video_processing_smolvlm import SmolVLMVideoProcessor

from vla.model import tiny_configs
from vla.model.backbone_config import BackboneConfig
from vla.model.families import family_of
from vla.model.fast_decode import LlamaStepDecoder, supports_lean_decoding
from vla.model.tiny_tokenizer import ASSET as TINY_TOKENIZER_FILE

log = logging.getLogger(__name__)


def tiny_processor(cfg: BackboneConfig) -> SmolVLMProcessor:
    """SmolVLM processor around the shipped BPE tokenizer; images are never split (one view each)."""
    tok = PreTrainedTokenizerFast(
        tokenizer_file=str(TINY_TOKENIZER_FILE),
        bos_token="<|im_start|>",
        eos_token="<end_of_utterance>",
        pad_token="<|endoftext|>",
        extra_special_tokens={
            "image_token": "<image>",
            "fake_image_token": "<fake_token_around_image>",
            "global_image_token": "<global-img>",
            "end_of_utterance_token": "<end_of_utterance>",
        },
    )
    size = cfg.image_size
    image_processor = SmolVLMImageProcessor(
        do_image_splitting=False,
        size={"longest_edge": size},
        max_image_size={"longest_edge": size},
        resample=2,  # bilinear: the torch fast path below uses the same
    )
    seq_len = (size // cfg.patch_size) ** 2 // cfg.scale_factor**2
    return SmolVLMProcessor(image_processor, tok, SmolVLMVideoProcessor(), image_seq_len=seq_len)


def tiny_model_config(cfg: BackboneConfig, tokenizer: Any) -> SmolVLMConfig:
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    return SmolVLMConfig(**tiny_configs.smolvlm(cfg, len(tokenizer), tokenizer.pad_token_id, image_id))


def load_backbone(cfg: BackboneConfig, checkpoint_dir: str | Path | None = None) -> "Backbone":
    """Builds the backbone: from a VLA checkpoint's backbone/ folder (architecture only, weights follow),
    from `cfg.pretrained` (hub id or local folder, weights included), or the tiny default."""
    dtype = getattr(torch, cfg.dtype)
    if checkpoint_dir is not None:
        config = AutoConfig.from_pretrained(checkpoint_dir, trust_remote_code=False)
        model = AutoModelForImageTextToText.from_config(
            config, dtype=dtype, attn_implementation=cfg.attn_implementation
        )
        processor = AutoProcessor.from_pretrained(checkpoint_dir, trust_remote_code=False)
    elif cfg.pretrained:
        processor = AutoProcessor.from_pretrained(cfg.pretrained, trust_remote_code=False)
        model = AutoModelForImageTextToText.from_pretrained(
            cfg.pretrained, dtype=dtype, attn_implementation=cfg.attn_implementation, trust_remote_code=False
        )
    else:
        processor = tiny_processor(cfg)
        config = tiny_model_config(cfg, processor.tokenizer)
        model = AutoModelForImageTextToText.from_config(
            config, dtype=dtype, attn_implementation=cfg.attn_implementation
        )
    return Backbone(model, processor, cfg)


class Backbone(nn.Module):
    """A transformers VLM plus its processor, seen through the few operations the VLA model needs."""

    def __init__(self, model: nn.Module, processor: Any, cfg: BackboneConfig):
        super().__init__()
        self.cfg = cfg
        self.hf = model
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.family = model.config.model_type
        self.facts = family_of(self.family)  # what this family does differently (families.py)
        self.image_size = self.facts.image_size(model.config, processor, cfg.image_size)
        self._prefix_cache: dict[int, list[int]] = {}
        self._text_cache: dict[str, list[int]] = {}
        self._lora = False
        connector = getattr(getattr(model, "model", None), "connector", None)
        if connector is not None:  # Idefics3 / SmolVLM
            connector.register_forward_hook(self._to_text_dtype)

    def _to_text_dtype(self, _module: nn.Module, _inputs: Any, output: torch.Tensor) -> torch.Tensor:
        """Under autocast (accelerate's bf16/fp16) the connector returns half precision while the text
        embeddings stay float32, and transformers' merge of image features refuses the mix: cast."""
        return output.to(self.hf.get_input_embeddings().weight.dtype)

    # -- images ---------------------------------------------------------------------------------
    def image_inputs(self, images: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """One (B, 3, H, W) float tensor in [0, 1] per camera -> the model's pixel kwargs."""
        x = torch.stack(list(images), dim=1)  # (B, N, 3, H, W)
        b, n = x.shape[:2]
        if x.shape[-2:] != (self.image_size, self.image_size):
            x = F.interpolate(x.flatten(0, 1), size=(self.image_size,) * 2, mode="bilinear", antialias=True)
            x = x.unflatten(0, (b, n))  # (B, N, 3, S, S)
        if self.facts.pixels == "processor":
            flat = [img for img in x.flatten(0, 1).cpu()]
            out = self.processor.image_processor(images=flat, do_rescale=False, return_tensors="pt")
            return {k: v.to(x.device) for k, v in out.items()}
        ip = self.processor.image_processor
        mean = torch.tensor(ip.image_mean, dtype=x.dtype, device=x.device).view(3, 1, 1)
        std = torch.tensor(ip.image_std, dtype=x.dtype, device=x.device).view(3, 1, 1)
        pix = ((x - mean) / std).to(self.hf.dtype)  # (B, N, 3, S, S)
        return {"pixel_values": pix if self.facts.pixels == "stacked" else pix.flatten(0, 1)}

    # -- token ids ------------------------------------------------------------------------------
    def image_prefix_ids(self, num_images: int) -> list[int]:
        """Token ids of the image part of a prompt for `num_images` cameras, from the real processor."""
        if num_images not in self._prefix_cache:
            dummy = [np.full((self.image_size, self.image_size, 3), 128, np.uint8) for _ in range(num_images)]
            text = self._image_text(num_images)
            ids = self.processor(text=[text], images=[dummy], return_tensors="pt")["input_ids"][0].tolist()
            self._prefix_cache[num_images] = ids
        return self._prefix_cache[num_images]

    def _image_text(self, n: int) -> str:
        return (self.facts.image_text or self.processor.image_token) * n

    def text_ids(self, text: str) -> list[int]:
        """Token ids of plain text (cached: instructions repeat across a dataset)."""
        ids = self._text_cache.get(text)
        if ids is None:
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            if len(self._text_cache) < 100_000:
                self._text_cache[text] = ids
        return ids

    @property
    def pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return pad if pad is not None else self.tokenizer.eos_token_id

    def add_tokens(self, tokens: list[str]) -> list[int]:
        """Adds new vocabulary entries (idempotent) and grows the embeddings; returns their ids."""
        self.tokenizer.add_tokens(tokens, special_tokens=True)
        ids = self.tokenizer.convert_tokens_to_ids(tokens)
        # never shrink: some checkpoints (Qwen, PaliGemma) pad the embedding matrix past the tokenizer
        needed = max(max(ids) + 1, self.hf.get_input_embeddings().weight.shape[0])
        if needed != self.hf.get_input_embeddings().weight.shape[0]:
            self.hf.resize_token_embeddings(needed, mean_resizing=False)
            self._init_new_rows(ids)
        return ids

    @torch.no_grad()
    def _init_new_rows(self, ids: list[int]) -> None:
        """New rows ~ N(mean, small) of the old rows, a cheap form of mean resizing."""
        emb = self.hf.get_input_embeddings().weight
        old = torch.ones(emb.shape[0], dtype=torch.bool)
        old[ids] = False
        mean, std = emb[old].float().mean(0), emb[old].float().std(0).mean()
        gen = torch.Generator().manual_seed(0)
        noise = torch.randn(len(ids), emb.shape[1], generator=gen) * std * 0.5
        emb[ids] = (mean + noise).to(emb.dtype)
        out = self.hf.get_output_embeddings()
        if out is not None and out.weight.data_ptr() != emb.data_ptr():
            out.weight[ids] = (mean + noise).to(out.weight.dtype)

    # -- training setup ---------------------------------------------------------------------------
    def configure_training(self) -> None:
        """Freezing and LoRA, from the config."""
        if self.cfg.lora_rank > 0 and not self._lora:
            from peft import LoraConfig, inject_adapter_in_model

            lcfg = LoraConfig(
                r=self.cfg.lora_rank,
                lora_alpha=self.cfg.lora_alpha,
                lora_dropout=self.cfg.lora_dropout,
                target_modules=list(self.cfg.lora_targets),
            )
            inject_adapter_in_model(lcfg, self._language_model())  # edits modules in place
            self._lora = True
        lm = self._language_model()
        for name, p in self.hf.named_parameters():
            is_vision = "vision" in name or "visual" in name
            if is_vision and "merger" not in name:
                p.requires_grad_(not self.cfg.freeze_vision)
        if self.cfg.freeze_lm:
            for name, p in lm.named_parameters():
                p.requires_grad_("lora_" in name)
            # new action-token rows must still learn: keep the embedding trainable
            self.hf.get_input_embeddings().weight.requires_grad_(True)

    def _language_model(self) -> nn.Module:
        inner = self.hf.model
        return getattr(inner, "text_model", None) or inner.language_model

    # -- forward --------------------------------------------------------------------------------
    def hidden_states(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        pixels: dict[str, torch.Tensor] | None = None,
        past_key_values: Any = None,
        use_cache: bool = False,
    ) -> tuple[torch.Tensor, Any]:
        """(B, L) ids -> last hidden states (B, L, H) and the KV cache (when use_cache)."""
        kwargs: dict[str, Any] = {**(pixels or {}), **self._token_types(input_ids)}
        out = self.hf.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            past_key_values=past_key_values,
            use_cache=use_cache,
            **kwargs,
        )
        return out.last_hidden_state, out.past_key_values

    def _token_types(self, input_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        causal = self.facts.causal_token_types
        return {"token_type_ids": torch.ones_like(input_ids)} if causal else {}

    def step_decoder(self, cache: Any, attention_mask: torch.Tensor, max_new: int) -> LlamaStepDecoder | None:
        """A lean one-token decoder continuing `cache` (Llama-architecture LMs), else None."""
        lm = self._language_model()
        return LlamaStepDecoder(lm, cache, attention_mask, max_new) if supports_lean_decoding(lm) else None

    def output_rows(self, ids: torch.Tensor) -> torch.Tensor:
        """Rows of the LM head for `ids` (A,) -> (A, H): logits restricted to action tokens."""
        return self.hf.get_output_embeddings().weight[ids]

    @torch.no_grad()
    def generate_baseline(
        self, input_ids: torch.Tensor, pixels: dict[str, torch.Tensor], allowed: torch.Tensor, num_tokens: int
    ) -> torch.Tensor:
        """transformers' model.generate() on the same prompt, constrained to `allowed` ids (benchmark)."""
        kwargs: dict[str, Any] = {**pixels, **self._token_types(input_ids)}
        out = self.hf.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=num_tokens,
            min_new_tokens=num_tokens,
            do_sample=False,
            logits_processor=LogitsProcessorList([_AllowOnly(allowed)]),
            pad_token_id=self.pad_id,
            **kwargs,
        )
        return out[:, input_ids.shape[1] :]

    # -- saving ---------------------------------------------------------------------------------
    def save_architecture(self, directory: str | Path) -> None:
        """config.json + processor/tokenizer files (no weights: the VLA checkpoint stores them)."""
        self.hf.config.save_pretrained(directory)
        self.processor.save_pretrained(directory)


class _AllowOnly(LogitsProcessor):
    def __init__(self, allowed: torch.Tensor):
        self.allowed = allowed

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        masked = torch.full_like(scores, float("-inf"))
        masked[:, self.allowed] = scores[:, self.allowed]
        return masked
