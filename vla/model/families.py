"""What differs between VLM families, as one table: `Backbone` reads nothing else about the family.

A checkpoint's family is picked by its `config.model_type` (the first row with a matching prefix);
a model type that no row names gets GENERIC: the model's own image processor and image token, which
is right for any image-text-to-text model that follows transformers' conventions. Supporting a new
family that needs more is one row here. No transformers import: the rules read config and processor
objects that the loader built.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch

from vla.model import pixels

# (model config, processor, backbone config) -> the side fed to the vision encoder (the full side before
# tiling when SmolVLM splits images); configures the processor to match, so the prompt's image tokens
# (from the processor) and our torch pixels (vla/model/pixels.py) agree
SizeRule = Callable[[Any, Any, Any], int]
# (B, 3, H, W) frames in [0, 1], image processor, resampling kernel -> (B, V, 3, h, w) views
Views = Callable[[torch.Tensor, Any, str], torch.Tensor]
# (model config, backbone config, frame shapes (H, W) of the cameras) -> (prompt tokens of the images,
# patches through the vision encoder), without a processor: what train.dry_run counts
TokenRule = Callable[[Any, Any, list[tuple[int, int]]], tuple[int, int]]


def _patch_grid(config: Any, processor: Any, cfg: Any) -> int:
    """Idefics3/SmolVLM: one square view per camera of any multiple of patch_size * scale_factor, or,
    with backbone.image_splitting, tiles of the encoder's native size plus the whole frame."""
    vision = config.vision_config
    ip = processor.image_processor
    if cfg.image_splitting:
        tile = vision.image_size
        size = cfg.image_size or 2 * tile
        if size % tile:
            raise ValueError(
                f"backbone.image_size={size} with image_splitting: must be a multiple of the encoder's "
                f"{tile} px tiles (e.g. {2 * tile}: 2x2 tiles + the whole frame)"
            )
    else:
        tile = size = cfg.image_size or vision.image_size
        unit = vision.patch_size * config.scale_factor
        if size % unit:
            raise ValueError(f"backbone.image_size={size}: must be a multiple of patch * scale = {unit}")
    ip.do_image_splitting = bool(cfg.image_splitting)
    ip.size = {"longest_edge": size}
    ip.max_image_size = {"longest_edge": tile}
    processor.image_seq_len = (tile // vision.patch_size) ** 2 // config.scale_factor**2
    return size


def _native(config: Any, processor: Any, cfg: Any) -> int:
    """PaliGemma: the encoder's fixed input size; asking for another one is an error."""
    native = config.vision_config.image_size
    if cfg.image_size not in (None, native):
        raise ValueError(
            f"backbone.image_size={cfg.image_size}: PaliGemma's encoder is fixed at {native}; use null"
        )
    processor.image_processor.size = {"height": native, "width": native}
    return native


def _pixel_budget(config: Any, processor: Any, cfg: Any) -> int:
    """Qwen2-VL / 2.5-VL: dynamic resolution (14 px patches merged 2x2) at a budget of image_size^2
    pixels: a square frame becomes image_size^2, others keep their aspect (the processor's smart_resize)."""
    size = cfg.image_size or 224
    if size % 28:
        raise ValueError(f"backbone.image_size={size} must be a multiple of 28 for Qwen2.5-VL")
    processor.image_processor.size = {"shortest_edge": size * size, "longest_edge": size * size}
    return size


def _any(config: Any, processor: Any, cfg: Any) -> int:
    return cfg.image_size or 224


def _idefics_tokens(config: Any, cfg: Any, frames: list[tuple[int, int]]) -> tuple[int, int]:
    """Per view (S / patch)^2 / scale^2 image tokens, wrapped in <fake_token_around_image><global-img>
    ... <fake_token_around_image>; split: rows x cols tiles (each <fake><row_r_col_c>), a newline per
    row, then the whole frame."""
    vision = config.vision_config
    tile = vision.image_size
    if not cfg.image_splitting:
        side = cfg.image_size or tile
        per_view = (side // vision.patch_size) ** 2
        return len(frames) * (per_view // config.scale_factor**2 + 3), len(frames) * per_view
    per_view, tokens, patches = (tile // vision.patch_size) ** 2, 0, 0
    for h, w in frames:
        full = pixels.tile_multiple_size(*pixels.longest_edge_size(h, w, cfg.image_size or 2 * tile), tile)
        rows, cols = full[0] // tile, full[1] // tile
        views = rows * cols + 1 if rows * cols > 1 else 1
        tokens += (
            views * (per_view // config.scale_factor**2)
            + (2 * rows * cols + rows + 1 if views > 1 else 0)
            + 3
        )
        patches += views * per_view
    return tokens, patches


def _paligemma_tokens(config: Any, cfg: Any, frames: list[tuple[int, int]]) -> tuple[int, int]:
    """(224 / 14)^2 = 256 tokens per camera, then <bos>."""
    patches = (config.vision_config.image_size // config.vision_config.patch_size) ** 2
    return len(frames) * patches + 1, len(frames) * patches


def _qwen_tokens(config: Any, cfg: Any, frames: list[tuple[int, int]]) -> tuple[int, int]:
    """smart_resize at the pixel budget; 14 px patches, merged 2x2 into tokens, in <|vision_start|> ...
    <|vision_end|>."""
    budget = (cfg.image_size or 224) ** 2
    sizes = [pixels.smart_resize(h, w, 28, budget, budget) for h, w in frames]
    patches = sum((h // 14) * (w // 14) for h, w in sizes)
    return patches // 4 + 2 * len(frames), patches


def _generic_tokens(config: Any, cfg: Any, frames: list[tuple[int, int]]) -> tuple[int, int]:
    """Unknown family: a guess of one token per 14 px patch."""
    patches = ((cfg.image_size or 224) // 14) ** 2
    return len(frames) * patches, len(frames) * patches


ANSWER_MARKER = "Answer:"  # what follows a question when the checkpoint has no format of its own


@dataclass(frozen=True)
class QAFormat:
    """How a scene question is put to the backbone (vla/model/qa.py):

    [lead] [image tokens] [question.format(q)] [family separator] [cue] | [answer_prefix][answer] <eos>

    (the question before the images with cfg.instruction_first). PLAIN for a backbone without a format
    of its own (the tiny ones); a chat template's user turn and assistant opening for a checkpoint that
    ships one; PaliGemma's VQA prefix for PaliGemma."""

    lead: str = ""
    question: str = "{}"
    cue: str = ANSWER_MARKER
    answer_prefix: str = " "  # "Answer: red": byte-level BPE has " red" as one token


PLAIN = QAFormat()


@dataclass(frozen=True)
class Family:
    name: str
    model_types: tuple[str, ...]  # prefixes of config.model_type
    image_size: SizeRule
    tokens: TokenRule
    # the processor's geometry in torch (resize, tiles); None: the processor does everything (generic)
    views: Views | None
    # how the model takes pixels: "stacked" (B, V, 3, h, w), "flat" (B * V, 3, h, w), both normalised
    # in torch; "processor": our resized views through the model's own processor (Qwen2.5-VL
    # patchifies and returns grid sizes)
    pixels: Literal["stacked", "flat", "processor"]
    # prompt text of one image, expanded by the processor; None: the processor's image_token
    image_text: str | None = None
    # a prefix-LM (PaliGemma): bidirectional attention over the prompt (token_type_ids 0: image +
    # prefix text), causal over the suffix (1: action tokens or query slots), as it was pretrained
    # and as pi0 runs it
    prefix_lm: bool = False
    # text that ends the prefix in pretraining, which the processor appends after the prompt text
    # (PaliGemma: "<image>...<bos>{prefix}\n"); the VLA puts it after the instruction and state tokens
    separator: str | None = None
    # the family's question format when the checkpoint ships no chat template (PaliGemma's pretraining
    # VQA prompt: "answer en {question}\n" -> answer); None: PLAIN
    qa: QAFormat | None = None


IDEFICS = Family(
    "smolvlm", ("smolvlm", "idefics3"), _patch_grid, _idefics_tokens, pixels.idefics_views, "stacked"
)
PALIGEMMA = Family(
    "paligemma", ("paligemma",), _native, _paligemma_tokens, pixels.square_views, "flat", prefix_lm=True,
    separator="\n", qa=QAFormat(question="answer en {}", cue="", answer_prefix=""),
)  # fmt: skip
QWEN_VL = Family(
    "qwen_vl", ("qwen",), _pixel_budget, _qwen_tokens, pixels.budget_views, "processor",
    "<|vision_start|><|image_pad|><|vision_end|>",
)  # fmt: skip
GENERIC = Family("generic", (), _any, _generic_tokens, None, "processor")
FAMILIES: tuple[Family, ...] = (IDEFICS, PALIGEMMA, QWEN_VL)


def family_of(model_type: str) -> Family:
    return next((f for f in FAMILIES if model_type.startswith(f.model_types)), GENERIC)


def qa_format(processor: Any, family: Family) -> QAFormat:
    """The checkpoint's own chat template (the processor's, else the tokenizer's) when it has one,
    else the family's format, else PLAIN."""
    image = family.image_text or getattr(processor, "image_token", None)
    for owner in (processor, getattr(processor, "tokenizer", None)):
        if owner is not None and getattr(owner, "chat_template", None):
            chat = _chat_format(owner, image)
            if chat is not None:
                return chat
    return family.qa or PLAIN


def _chat_format(owner: Any, image: str | None) -> QAFormat | None:
    """A chat template rendered around stand-ins: a user turn of an image and the question, then the same
    with the assistant's answer; what surrounds the stand-ins is the format (the image's own text is where
    the VLA's image tokens go). Falls back to a text-only turn (content parts, then a plain string: text
    templates take one); None when nothing renders."""
    question, answer = "\x00Q\x00", "\x00A\x00"
    forms: list[tuple[Any, str | None]] = [([{"type": "text", "text": question}], None), (question, None)]
    if image:
        forms.insert(0, ([{"type": "image"}, {"type": "text", "text": question}], image))
    for content, image_text in forms:
        reply = answer if isinstance(content, str) else [{"type": "text", "text": answer}]
        user = [{"role": "user", "content": content}]
        try:
            ask = owner.apply_chat_template(user, add_generation_prompt=True, tokenize=False)
            full = owner.apply_chat_template([*user, {"role": "assistant", "content": reply}], tokenize=False)
        except Exception:  # jinja, or the template's own raise_exception: try the next form
            continue
        if not isinstance(ask, str) or ask.count(question) != 1:
            continue
        before, cue = ask.split(question)
        lead, between = before, ""
        if image_text is not None:
            if before.count(image_text) != 1:
                continue
            lead, between = before.split(image_text)
        prefix = full[len(ask) : full.index(answer)] if full.startswith(ask) and answer in full else " "
        escaped = between.replace("{", "{{").replace("}", "}}")  # the question is str.format'ted in
        return QAFormat(lead=lead, question=escaped + "{}", cue=cue, answer_prefix=prefix)
    return None


def soft_capped(config: Any) -> bool:
    """Whether the language model soft-caps attention logits (Gemma 2: tanh(x / 50) * 50), which
    transformers' sdpa attention drops (only eager, flex and flash attention apply it)."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return getattr(text, "attn_logit_softcapping", None) is not None
