"""Scene question answering with the VLA's backbone: the language model stays generative.

A QA prompt is the action prompt with the question in the instruction's place, no state tokens, and the
answer cue in <act_start>'s place, in the backbone's own question format (families.QAFormat):

    [lead] [image tokens per camera] [question] [separator] [cue]  | [answer] <eos>
    (cfg.instruction_first: [lead] [question] [image tokens] [separator] [cue])

- a checkpoint with a chat template (SmolVLM2, Qwen2.5-VL instruct): its user turn and assistant opening,
  e.g. "<|im_start|>User:" [images] "what colour?<end_of_utterance>\\nAssistant:" | " red" <eos>;
- PaliGemma (no template): its pretraining VQA prompt, [images] "answer en what colour?" "\\n" | "red";
- otherwise (the tiny backbones) plain text: [images] "what colour?" "Answer:" | " red" <eos>.

The separator is the family's end-of-prefix text (PaliGemma's "\\n"; none for SmolVLM and Qwen), and a
prefix-LM family attends both ways over the prompt and causally over the answer, as for actions. The
format is text, not new tokens: the vocabulary (and so every checkpoint's shapes) is the one the action
head already has, and any tokenizer spells it.

The loss is the language-model loss over the backbone's own vocabulary (its full LM head; the VLA's
added tokens, and rows past the tokenizer, at -inf) on the answer tokens only, the answer ending with the
tokenizer's eos. Answering is greedy through the same KV-cached decode loop as actions (decode.py), over
the same vocabulary, until eos. Actions stay constrained to action tokens (vla.py): the two heads are
different rows of the same LM head.
"""

from typing import Any

import torch
import torch.nn.functional as F

from vla.model.decode import greedy_decode
from vla.model.vla import IGNORE, VLAModel, left_padded

# a co-training batch carries its scene QA samples under QA_BATCH (vla/training/cotrain.py): the camera
# image keys, QUESTION and ANSWER (lists of str)
QA_BATCH, QUESTION, ANSWER = "qa", "question", "answer"


def qa_prompt(
    model: VLAModel, images: list[torch.Tensor], questions: list[str]
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """-> input_ids (B, P) left-padded so every prompt ends at P, attention_mask (B, P), pixel kwargs."""
    bb, fmt = model.backbone, model.backbone.qa_format
    rows = model.images_and_text(images, [fmt.question.format(q) for q in questions])
    if fmt.lead:
        rows = [_after_lead(bb.text_ids(fmt.lead), row, bb.tokenizer.bos_token_id) for row in rows]
    ids, mask = left_padded(rows, bb.pad_id)
    device = model.action_ids.device
    end = torch.tensor([*bb.separator_ids, *bb.text_ids(fmt.cue)], dtype=torch.long, device=device)
    end = end.expand(len(questions), -1)  # (B, E)
    input_ids = torch.cat([ids.to(device), end], 1)
    return input_ids, torch.cat([mask.to(device), torch.ones_like(end)], 1), bb.image_inputs(images)


def _after_lead(lead: list[int], row: list[int], bos: int | None) -> list[int]:
    """The lead, then the row; one bos: a chat template's lead opens with it, so the image part's own
    leading bos (added by the processor) is dropped."""
    if bos is not None and lead[:1] == [bos] and row[:1] == [bos]:
        row = row[1:]
    return lead + row


def answer_ids(model: VLAModel, answers: list[str]) -> torch.Tensor:
    """Answers -> (B, L) token ids ending with eos, right-padded with IGNORE. The format's answer prefix
    comes first (PLAIN: a space, as text after "Answer:" is written; byte-level BPE has " red" as one
    token)."""
    eos, prefix = eos_id(model), model.backbone.qa_format.answer_prefix
    rows = [[*model.backbone.text_ids(prefix + a.strip()), eos] for a in answers]
    out = torch.full((len(rows), max(len(r) for r in rows)), IGNORE, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out.to(model.action_ids.device)


def eos_id(model: VLAModel) -> int:
    eos = model.backbone.tokenizer.eos_token_id
    if eos is None:
        raise ValueError(
            f"backbone {model.backbone.cfg.name!r}: its tokenizer has no eos token, which ends an answer; "
            "use a checkpoint whose tokenizer sets eos_token"
        )
    return int(eos)


def qa_loss(
    model: VLAModel, images: list[torch.Tensor], questions: list[str], answers: list[str]
) -> tuple[torch.Tensor, dict[str, float]]:
    """Language-model cross-entropy on the answer tokens (eos included), teacher forced."""
    ids, mask, pixels = qa_prompt(model, images, questions)
    labels = answer_ids(model, answers)  # (B, L)
    p, length = ids.shape[1], labels.shape[1]
    fed = labels[:, : length - 1]  # the answer's tokens but the last are inputs (teacher forcing)
    fed_mask = (fed != IGNORE).long()  # right padding: after each row's real tokens, never attended by them
    hidden, _ = model.backbone.hidden_states(
        torch.cat([ids, fed.masked_fill(fed == IGNORE, model.backbone.pad_id)], 1),
        torch.cat([mask, fed_mask], 1),
        pixels,
        prefix_len=p,
    )  # (B, P + L - 1, H): the prompt is the prefix, the answer the suffix
    logits = model.backbone.lm_logits(hidden[:, p - 1 :])  # (B, L, V): position i predicts answer token i
    loss = F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE)
    with torch.no_grad():
        known = labels != IGNORE
        acc = (logits.argmax(-1) == labels)[known].float().mean()
    return loss, {"qa_loss": float(loss.detach()), "qa_token_acc": float(acc)}


@torch.no_grad()
def generate_answers(
    model: VLAModel, images: list[torch.Tensor], questions: list[str], max_new_tokens: int = 16
) -> list[str]:
    """Greedy answers, KV-cached, each cut at its first eos (at most max_new_tokens tokens)."""
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens={max_new_tokens}: must be >= 1")
    ids, mask, pixels = qa_prompt(model, images, questions)
    eos, bb = eos_id(model), model.backbone
    tokens = greedy_decode(
        bb, ids, mask, pixels, max_new_tokens,
        choose=lambda hidden, step: bb.lm_logits(hidden).argmax(-1),
        to_ids=lambda token: token, ends=lambda token: token == eos,
    )  # fmt: skip
    return [_text_before(bb.tokenizer, row, eos) for row in tokens.tolist()]


def _text_before(tokenizer: Any, row: list[int], eos: int) -> str:
    row = row[: row.index(eos)] if eos in row else row
    return tokenizer.decode(row, skip_special_tokens=True).strip()
