"""The VLM backbone: the ONLY module of vla that imports `transformers`.

`load_backbone(cfg)` serves any generative VLM that transformers loads as image-text-to-text
(AutoModelForImageTextToText + AutoProcessor) from a hub id or a local folder, or builds the `tiny`
default: a real SmolVLM (Idefics3-family) architecture from a config, random weights, and the byte-level
BPE tokenizer shipped in vla/model/assets/. The `Backbone` wrapper gives the VLA model what it needs
and nothing more: the token ids of the image part of a prompt (computed once through the real
processor), pixel tensors for a batch (fast torch path for SmolVLM/Idefics3/PaliGemma, the processor
otherwise), new vocabulary entries, and hidden states.
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
from vla.model.fast_decode import LlamaStepDecoder, supports_lean_decoding
from vla.model.tiny_tokenizer import ASSET as TINY_TOKENIZER_FILE

log = logging.getLogger(__name__)

_IDEFICS = ("smolvlm", "idefics3")  # same prompt layout and pixel format


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
        self.image_size = self._configure_images(cfg.image_size)
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
    def _configure_images(self, requested: int | None) -> int:
        """Square image side fed to the vision encoder; turns off image splitting (one view per camera)."""
        vision = getattr(self.hf.config, "vision_config", None)
        native = getattr(vision, "image_size", None)
        ip = self.processor.image_processor
        if self.family in _IDEFICS:
            size = requested or native
            unit = vision.patch_size * self.hf.config.scale_factor
            if size % unit:
                raise ValueError(
                    f"backbone.image_size={size} must be a multiple of patch_size*scale_factor={unit}"
                )
            ip.do_image_splitting = False
            ip.size = {"longest_edge": size}
            ip.max_image_size = {"longest_edge": size}
            self.processor.image_seq_len = (size // vision.patch_size) ** 2 // self.hf.config.scale_factor**2
            return size
        if self.family == "paligemma":
            if requested not in (None, native):
                raise ValueError(
                    f"backbone.image_size={requested}: PaliGemma's encoder is fixed at {native}; use null"
                )
            return native
        size = requested or 224  # dynamic-resolution families (Qwen2.5-VL): we resize to a square
        if self.family.startswith("qwen") and size % 28:
            raise ValueError(f"backbone.image_size={size} must be a multiple of 28 for Qwen2.5-VL")
        return size

    def image_inputs(self, images: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """One (B, 3, H, W) float tensor in [0, 1] per camera -> the model's pixel kwargs."""
        x = torch.stack(list(images), dim=1)  # (B, N, 3, H, W)
        b, n = x.shape[:2]
        if x.shape[-2:] != (self.image_size, self.image_size):
            x = F.interpolate(x.flatten(0, 1), size=(self.image_size,) * 2, mode="bilinear", antialias=True)
            x = x.unflatten(0, (b, n))  # (B, N, 3, S, S)
        dtype = self.hf.dtype
        if self.family in _IDEFICS or self.family == "paligemma":
            ip = self.processor.image_processor
            mean = torch.tensor(ip.image_mean, dtype=x.dtype, device=x.device).view(3, 1, 1)
            std = torch.tensor(ip.image_std, dtype=x.dtype, device=x.device).view(3, 1, 1)
            pix = ((x - mean) / std).to(dtype)  # (B, N, 3, S, S)
            return {"pixel_values": pix if self.family in _IDEFICS else pix.flatten(0, 1)}
        # generic path: the model's own image processor (Qwen2.5-VL patchifies and returns grid sizes)
        flat = [img for img in x.flatten(0, 1).cpu()]
        out = self.processor.image_processor(images=flat, do_rescale=False, return_tensors="pt")
        return {k: v.to(x.device) for k, v in out.items()}

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
        if self.family.startswith("qwen"):
            return "<|vision_start|><|image_pad|><|vision_end|>" * n
        return self.processor.image_token * n

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
        kwargs: dict[str, Any] = dict(pixels or {})
        if self.family == "paligemma":
            kwargs["token_type_ids"] = torch.ones_like(input_ids)  # plain causal attention, train == test
        out = self.hf.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            past_key_values=past_key_values,
            use_cache=use_cache,
            **kwargs,
        )
        return out.last_hidden_state, out.past_key_values

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
        kwargs: dict[str, Any] = dict(pixels)
        if self.family == "paligemma":
            kwargs["token_type_ids"] = torch.ones_like(input_ids)
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


# -- tiny models of other families, saved like a hub checkpoint (tests of the real loading path) --------
TINY_FAMILIES = ("smolvlm", "paligemma", "qwen2_5_vl")


def save_tiny_family(family: str, directory: str | Path) -> Path:
    """Writes a random-weight model + processor of `family` with save_pretrained, exactly as a hub
    checkpoint folder looks; load it with BackboneConfig(pretrained=directory). For offline tests."""
    torch.manual_seed(0)
    if family == "smolvlm":
        cfg = BackboneConfig(image_size=48, patch_size=12, text_layers=2, vision_layers=1)
        processor = tiny_processor(cfg)
        model = AutoModelForImageTextToText.from_config(tiny_model_config(cfg, processor.tokenizer))
    elif family == "paligemma":
        processor, model = _tiny_paligemma()
    elif family == "qwen2_5_vl":
        processor, model = _tiny_qwen()
    else:
        raise ValueError(f"unknown tiny family {family!r}; use one of {TINY_FAMILIES}")
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return Path(directory)


def _bpe_tokenizer(**special: str) -> PreTrainedTokenizerFast:
    """The shipped byte-level BPE as a generic fast tokenizer: it round-trips save_pretrained exactly
    (wrapped as a Gemma tokenizer it does not: 269 vs 287 ids after reload)."""
    tok = PreTrainedTokenizerFast(tokenizer_file=str(TINY_TOKENIZER_FILE), **special)
    tok.add_tokens(
        ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"], special_tokens=True
    )
    return tok


def _tiny_paligemma() -> tuple[Any, nn.Module]:
    from transformers import PaliGemmaConfig, PaliGemmaProcessor, SiglipImageProcessor

    tok = _bpe_tokenizer(bos_token="<|im_start|>", eos_token="<end_of_utterance>", pad_token="<|endoftext|>")
    size = tiny_configs.PALIGEMMA_IMAGE
    image_processor = SiglipImageProcessor(size={"height": size, "width": size})
    image_processor.image_seq_length = (size // 14) ** 2
    processor = PaliGemmaProcessor(image_processor, tok)  # adds <image>, <loc*>, <seg*> tokens
    config = PaliGemmaConfig(**tiny_configs.paligemma(len(tok), processor.image_token_id))
    return processor, AutoModelForImageTextToText.from_config(config)


def _tiny_qwen() -> tuple[Any, nn.Module]:
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLProcessor, Qwen2VLImageProcessor
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    tok = _bpe_tokenizer(eos_token="<end_of_utterance>", pad_token="<|endoftext|>")
    processor = Qwen2_5_VLProcessor(Qwen2VLImageProcessor(), tok, Qwen2VLVideoProcessor())
    ids = tok.convert_tokens_to_ids(["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"])
    config = Qwen2_5_VLConfig(**tiny_configs.qwen2_5_vl(len(tok), ids))
    return processor, AutoModelForImageTextToText.from_config(config)


class _AllowOnly(LogitsProcessor):
    def __init__(self, allowed: torch.Tensor):
        self.allowed = allowed

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        masked = torch.full_like(scores, float("-inf"))
        masked[:, self.allowed] = scores[:, self.allowed]
        return masked
