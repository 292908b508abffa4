"""The VLM backbone: the ONLY module of vla that imports `transformers`.

`load_backbone(cfg)` serves any generative VLM that transformers loads as image-text-to-text
(AutoModelForImageTextToText + AutoProcessor) from a hub id or a local folder, or builds the `tiny`
default: a real SmolVLM (Idefics3-family) architecture from a config, random weights, and the byte-level
BPE tokenizer shipped in vla/model/assets/. The `Backbone` wrapper gives the VLA model what it needs
and nothing more: the token ids of the image part of a prompt (computed once through the real
processor), pixel tensors for a batch (vla/model/pixels.py: each family's processor geometry and
resampling, in torch), new vocabulary entries, and hidden states (with PaliGemma's prefix-LM mask).
What differs between VLM families (the prompt text of an image, the pixel path, the image size rule,
attention quirks) is one table: vla/model/families.py. LoRA and adapter-only checkpoints:
vla/model/adapters.py; weights missing offline: vla/model/hub.py.
"""

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
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

from vla.model import adapters, architectures, hub, pixels, tiny_configs
from vla.model.backbone_config import BackboneConfig
from vla.model.families import family_of, qa_format, soft_capped
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


def load_backbone(
    cfg: BackboneConfig, checkpoint_dir: str | Path | None = None, base_weights: bool = False
) -> "Backbone":
    """Builds the backbone: from a VLA checkpoint's backbone/ folder (its processor, and the architecture
    only: the checkpoint's weights follow; with `base_weights`, an adapter checkpoint's, the frozen
    pretrained weights come from `cfg.pretrained`), from `cfg.pretrained` (hub id or local folder,
    weights included), or the tiny default."""
    dtype, attn = getattr(torch, cfg.dtype), cfg.attn_implementation
    processor = None if checkpoint_dir is None else AutoProcessor.from_pretrained(checkpoint_dir)
    if checkpoint_dir is not None and not base_weights:
        config = AutoConfig.from_pretrained(checkpoint_dir, trust_remote_code=False)
        model = AutoModelForImageTextToText.from_config(config, dtype=dtype, attn_implementation=attn)
    elif cfg.pretrained:
        hub.require_weights(cfg.pretrained)  # one line naming the model and the fixes, not a hub traceback
        processor = processor or AutoProcessor.from_pretrained(cfg.pretrained, trust_remote_code=False)
        model = AutoModelForImageTextToText.from_pretrained(
            cfg.pretrained, dtype=dtype, attn_implementation=attn, trust_remote_code=False
        )
    else:
        processor = tiny_processor(cfg)
        config = tiny_model_config(cfg, processor.tokenizer)
        model = AutoModelForImageTextToText.from_config(config, dtype=dtype, attn_implementation=attn)
    if soft_capped(model.config) and attn == "sdpa":
        log.warning(
            "backbone %s soft-caps attention logits (Gemma 2) and sdpa attention skips that: attention "
            "differs from pretraining wherever a logit nears the cap; backbone.attn_implementation=eager "
            "keeps it (docs/model.md, Gemma 2 soft-capping)",
            cfg.name,
        )
    return Backbone(model, processor, cfg)


def meta_model(cfg: BackboneConfig) -> tuple[nn.Module, str]:
    """The backbone's architecture on the meta device (no memory, no weights), LoRA injected as in
    training, for train.dry_run; the architecture comes from the checkpoint's config.json when it is on
    disk, else from vla/model/architectures.py. Returns (model, where the architecture came from)."""
    folder = hub.local_folder(cfg.pretrained) if cfg.pretrained else None
    if cfg.pretrained is None:
        config, source = tiny_model_config(cfg, tiny_processor(cfg).tokenizer), "the tiny config"
    elif folder is not None:
        config, source = AutoConfig.from_pretrained(folder), str(folder / "config.json")
    elif cfg.pretrained in architectures.ARCHITECTURES:
        card = dict(architectures.ARCHITECTURES[cfg.pretrained])
        config, source = AutoConfig.for_model(**card), "vla/model/architectures.py (weights not on disk)"
    else:
        raise hub.MissingWeightsError(
            f"backbone.pretrained={cfg.pretrained}: no config.json on disk and no entry in "
            "vla/model/architectures.py to size it from; download it once (HF_HUB_OFFLINE=0)"
        )
    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(
            config, dtype=getattr(torch, cfg.dtype), attn_implementation=cfg.attn_implementation
        )
    if cfg.lora_rank > 0:
        inner = model.model
        adapters.inject_lora(getattr(inner, "text_model", None) or inner.language_model, cfg)
    return model, source


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
        self.image_size = self.facts.image_size(model.config, processor, cfg)
        self.kernel = pixels.kernel_of(processor.image_processor) if self.facts.views else None
        self._prefix_cache: dict[tuple[tuple[int, int], ...], list[int]] = {}
        self._text_cache: dict[str, list[int]] = {}
        self.separator_ids = self.text_ids(self.facts.separator) if self.facts.separator else []
        self.qa_format = qa_format(processor, self.facts)  # how scene questions are asked (qa.py)
        self.added_ids: list[int] = []  # the VLA's new vocabulary entries, in order
        self.rows: adapters.TokenRows | None = None  # their trainable rows in adapter mode
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
        """One (B, 3, H, W) float tensor in [0, 1] per camera -> the model's pixel kwargs: the pixels the
        family's own processor makes of these frames (vla/model/pixels.py; tests/vla/model/test_parity.py)."""
        ip = self.processor.image_processor
        if self.facts.views is None:  # generic family: the processor does it all
            return self._through_processor([[x[b] for x in images] for b in range(len(images[0]))], True)
        views = [self.facts.views(x.float(), ip, self.kernel) for x in images]  # (B, V, 3, h, w) each
        if self.facts.pixels == "processor":  # views of cameras may differ in shape (dynamic resolution)
            per_sample = [[v for x in views for v in x[b]] for b in range(len(views[0]))]
            return self._through_processor(per_sample, False)  # resized already: only patchify
        pix = pixels.normalise(torch.cat(views, 1), ip).to(self.hf.dtype)  # (B, N * V, 3, h, w)
        return {"pixel_values": pix if self.facts.pixels == "stacked" else pix.flatten(0, 1)}

    def _through_processor(self, per_sample: list[list[torch.Tensor]], resize: bool) -> dict[str, Any]:
        flat = [img.cpu() for sample in per_sample for img in sample]
        device = per_sample[0][0].device
        ip = self.processor.image_processor
        out = ip(images=flat, do_rescale=False, do_resize=resize, return_tensors="pt")
        return {k: v.to(device) for k, v in out.items()}

    # -- token ids ------------------------------------------------------------------------------
    def image_prefix_ids(self, frame_shapes: Sequence[tuple[int, int]]) -> list[int]:
        """Token ids of the image part of a prompt, one camera per (H, W) frame shape, from the real
        processor (the number of image tokens can depend on the shape: tiles, dynamic resolution)."""
        key = tuple((int(h), int(w)) for h, w in frame_shapes)
        if key not in self._prefix_cache:
            dummy = [np.full((h, w, 3), 128, np.uint8) for h, w in key]
            text = (self.facts.image_text or self.processor.image_token) * len(key)
            ids = self.processor(text=[text], images=[dummy], return_tensors="pt")["input_ids"][0].tolist()
            sep = self.separator_ids
            if sep and ids[-len(sep) :] == sep:  # the VLA places it after the instruction (build_prompt)
                ids = ids[: -len(sep)]
            self._prefix_cache[key] = ids
        return self._prefix_cache[key]

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
        """Adds new vocabulary entries (idempotent), grows the embeddings, gives the new entries their
        initial rows (deterministic: a resume rebuilds them from the base checkpoint); returns their ids."""
        known = set(self.tokenizer.get_vocab())
        self.tokenizer.add_tokens(tokens, special_tokens=True)
        ids = self.tokenizer.convert_tokens_to_ids(tokens)
        # never shrink: some checkpoints (Qwen, PaliGemma) pad the embedding matrix past the tokenizer
        rows = self.hf.get_input_embeddings().weight.shape[0]
        if max(ids) + 1 > rows:
            self.hf.resize_token_embeddings(max(ids) + 1, mean_resizing=False)
        fresh = [i for t, i in zip(tokens, ids, strict=True) if t not in known or i >= rows]
        if fresh:
            self._init_new_rows(fresh)
        self.added_ids += [i for i in ids if i not in self.added_ids]
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
        """Freezing and LoRA, from the config (the rule: adapters.trains); in adapter mode the new
        vocabulary rows become their own parameters (adapters.TokenRows). Call after add_tokens."""
        if self.cfg.lora_rank > 0 and not self._lora:
            adapters.inject_lora(self._language_model(), self.cfg)
            self._lora = True
        if adapters.adapter_mode(self.cfg) and self.rows is None and self.added_ids:
            self.rows = adapters.TokenRows(
                self.hf.get_input_embeddings(), self.added_ids, self.hf.get_output_embeddings()
            )
            self._language_model().set_input_embeddings(self.rows)
        for name, p in self.hf.named_parameters():
            p.requires_grad_(adapters.trains(name, self.cfg))

    def merge_adapters(self) -> int:
        """Folds LoRA and the new-token rows into plain weights (vla export --merge); afterwards the
        backbone is an ordinary full-weights one (self.cfg: lora_rank 0, freeze_lm false). Returns the
        number of LoRA layers merged."""
        if self.rows is not None:
            base = self.rows.merge_into(self.hf.get_output_embeddings())
            self._language_model().set_input_embeddings(base)
            self.rows = None
        merged = adapters.unload_lora(self._language_model())
        self._lora = False
        self.cfg.lora_rank, self.cfg.freeze_lm = 0, False
        return merged

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
        prefix_len: int | None = None,
    ) -> tuple[torch.Tensor, Any]:
        """(B, L) ids -> last hidden states (B, L, H) and the KV cache (when use_cache). prefix_len: the
        first positions that form the prompt (None: all of them; 0: a continuation through the cache),
        the rest being the suffix; only a prefix-LM family (PaliGemma) attends differently to the two."""
        kwargs: dict[str, Any] = {**(pixels or {}), **self._token_types(input_ids, prefix_len)}
        out = self.hf.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            past_key_values=past_key_values,
            use_cache=use_cache,
            **kwargs,
        )
        return out.last_hidden_state, out.past_key_values

    def _token_types(self, input_ids: torch.Tensor, prefix_len: int | None) -> dict[str, torch.Tensor]:
        """PaliGemma's token_type_ids: 0 over the prefix (bidirectional: image, instruction, state,
        <act_start>), 1 over the suffix (causal: action tokens or query slots), as pi0 and PaliGemma's
        own processor (text + suffix) make them."""
        if not self.facts.prefix_lm:
            return {}
        length = input_ids.shape[1]
        start = length if prefix_len is None else prefix_len
        positions = torch.arange(length, device=input_ids.device)
        return {"token_type_ids": (positions >= start).long().expand_as(input_ids)}

    def step_decoder(self, cache: Any, attention_mask: torch.Tensor, max_new: int) -> LlamaStepDecoder | None:
        """A lean one-token decoder continuing `cache` (Llama-architecture LMs), else None."""
        lm = self._language_model()
        return LlamaStepDecoder(lm, cache, attention_mask, max_new) if supports_lean_decoding(lm) else None

    def output_rows(self, ids: torch.Tensor) -> torch.Tensor:
        """Rows of the LM head for `ids` (A,) -> (A, H): logits restricted to action tokens."""
        if self.rows is not None:
            return self.rows.output_rows(ids)
        return self.hf.get_output_embeddings().weight[ids]

    def lm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(..., H) -> (..., V) logits of the full LM head over the backbone's own vocabulary: the VLA's
        added tokens (actions, queries, state bins) and rows past the tokenizer (padded embedding
        matrices) at -inf, so text is never written with them; the family's final soft-cap applied
        (Gemma 2: tanh(x / 30) * 30), as its own generation does."""
        logits = self.hf.get_output_embeddings()(hidden)
        cap = getattr(self.hf.config.get_text_config(), "final_logit_softcapping", None)
        if cap:
            logits = torch.tanh(logits / cap) * cap
        blocked = torch.zeros(logits.shape[-1], dtype=torch.bool, device=logits.device)
        blocked[self.added_ids] = True
        blocked[len(self.tokenizer) :] = True
        return logits.masked_fill(blocked, float("-inf"))

    @torch.no_grad()
    def generate_baseline(
        self, input_ids: torch.Tensor, pixels: dict[str, torch.Tensor], allowed: torch.Tensor, num_tokens: int
    ) -> torch.Tensor:
        """transformers' model.generate() on the same prompt, constrained to `allowed` ids (benchmark)."""
        kwargs: dict[str, Any] = {**pixels, **self._token_types(input_ids, None)}
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
