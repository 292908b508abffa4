"""The VLA model: a VLM backbone that writes action tokens. Read this file first.

A prompt is   [image tokens per camera] [instruction] [state tokens] <act_start>   (or the instruction
first, `cfg.instruction_first`; a prefix-LM family, PaliGemma, ends its prefix text with "\n" before
<act_start>, as in its pretraining, and attends bidirectionally over the whole prompt) and the model
continues it with action tokens: new vocabulary entries <act_0> ... <act_{V-1}> (+ <act_end> for the
variable-length FAST tokenizer). Two decoders, chosen by `cfg.decoder`:

- "ar": autoregressive, RT-2/OpenVLA/pi0-FAST style. Training input = prompt + action tokens (teacher
  forcing); inference prefills the prompt once and feeds one token per step through the KV cache.
- "parallel": OpenVLA-OFT style. The prompt is followed by learned query tokens <aq_0> ... <aq_{L-1}>
  and every query position predicts its action token in the same single forward pass.

Either way the logits are computed only over the action tokens (the rows of the LM head for them):
decoding is constrained to action tokens and the loss is on action tokens only.

Inputs are normalised (the policy owns the Normalizer): images (B, 3, H, W) in [0, 1] per camera,
state (B, D_s) and actions (B, T, D_a) with the dataset's q01..q99 range at [-1, 1].
"""

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vla.model.backbone import Backbone
from vla.model.config import VLAModelConfig
from vla.model.decode import greedy_decode
from vla.model.tokenizers.base import ActionTokenizer

IGNORE = -100  # label of positions without a loss


def action_slots(act_tok: ActionTokenizer) -> int:
    """Action positions per chunk: the tokenizer's longest sequence, + <act_end> when variable."""
    return act_tok.max_tokens + (0 if act_tok.fixed_length else 1)


def new_vocabulary(cfg: VLAModelConfig, act_tok: ActionTokenizer) -> list[str]:
    """The entries the VLA adds to the backbone's vocabulary, in order: the V action tokens, <act_end>
    (used by variable-length tokenizers), <act_start>, the query slots, the state bins."""
    names = [f"<act_{i}>" for i in range(act_tok.vocab_size)] + ["<act_end>", "<act_start>"]
    names += [f"<aq_{i}>" for i in range(action_slots(act_tok))]
    return names + ([f"<state_{i}>" for i in range(cfg.state_bins)] if cfg.state_tokens else [])


def left_padded(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id lists -> ids (B, W) left-padded so every row ends at W, attention_mask (B, W)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r) :] = torch.tensor(r, dtype=torch.long)
        mask[i, width - len(r) :] = 1
    return ids, mask


class VLAModel(nn.Module):
    def __init__(self, cfg: VLAModelConfig, backbone: Backbone, action_tokenizer: ActionTokenizer):
        super().__init__()
        self.cfg = cfg
        self.backbone = backbone
        self.act_tok = action_tokenizer
        vocab = action_tokenizer.vocab_size
        # restricted vocabulary: the V action tokens, then <act_end>
        self.end_index = vocab
        self.num_slots = action_slots(action_tokenizer)
        ids = torch.tensor(backbone.add_tokens(new_vocabulary(cfg, action_tokenizer)), dtype=torch.long)
        self.register_buffer("action_ids", ids[: vocab + 1], persistent=False)  # (V + 1,)
        self.act_start_id = int(ids[vocab + 1])
        self.register_buffer("query_ids", ids[vocab + 2 : vocab + 2 + self.num_slots], persistent=False)
        self.register_buffer("state_ids", ids[vocab + 2 + self.num_slots :], persistent=False)

    # -- prompt -------------------------------------------------------------------------------------
    def build_prompt(
        self, images: list[torch.Tensor], state: torch.Tensor | None, tasks: list[str]
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """-> input_ids (B, P) left-padded so every prompt ends at P, attention_mask (B, P), pixel kwargs."""
        bb = self.backbone
        texts = self.images_and_text(images, tasks)
        ids, mask = left_padded(texts, bb.pad_id)
        device = self.action_ids.device
        # the family's end-of-prefix text (PaliGemma's "\n", after which it was pretrained to answer)
        end = torch.tensor([*bb.separator_ids, self.act_start_id], device=device).expand(len(texts), -1)
        tail = [end]
        if self.cfg.state_tokens:
            if state is None:
                raise ValueError("policy.state_tokens=true but the batch has no 'observation.state'")
            bins = (
                ((state.clamp(-1, 1) + 1) / 2 * self.cfg.state_bins).long().clamp(0, self.cfg.state_bins - 1)
            )
            tail.insert(0, self.state_ids[bins])  # (B, D_s), same binning as the bins action tokenizer
        tail_ids = torch.cat(tail, dim=1)  # (B, D_s + separator + 1)
        input_ids = torch.cat([ids.to(device), tail_ids], dim=1)  # (B, P)
        attention_mask = torch.cat([mask.to(device), torch.ones_like(tail_ids)], dim=1)  # (B, P)
        return input_ids, attention_mask, bb.image_inputs(images)

    def images_and_text(self, images: list[torch.Tensor], texts: list[str]) -> list[list[int]]:
        """Token ids of each row's image part and text, in the prompt's order (cfg.instruction_first)."""
        bb = self.backbone
        prefix = bb.image_prefix_ids([tuple(img.shape[-2:]) for img in images])
        if self.cfg.instruction_first:
            return [bb.text_ids(t) + prefix for t in texts]
        return [prefix + bb.text_ids(t) for t in texts]

    # -- training -----------------------------------------------------------------------------------
    def action_labels(self, actions: torch.Tensor) -> torch.Tensor:
        """(B, T, D) normalised actions -> labels (B, num_slots) in [0, V], IGNORE where no loss."""
        tokens, valid = self.act_tok.encode(actions.cpu())  # (B, L), (B, L)
        labels = torch.where(valid, tokens, torch.full_like(tokens, IGNORE))
        if not self.act_tok.fixed_length:
            lengths = valid.sum(1)  # (B,)
            labels = F.pad(labels, (0, self.num_slots - labels.shape[1]), value=IGNORE)  # (B, S)
            labels[torch.arange(len(labels)), lengths] = self.end_index
            if self.cfg.decoder == "parallel":  # every slot after the end predicts <act_end>
                after = torch.arange(self.num_slots)[None] > lengths[:, None]
                labels[after] = self.end_index
        return labels.to(self.action_ids.device)

    def compute_loss(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        """Cross-entropy over action tokens. batch: normalised "images" list, "state", "task", "action"."""
        ids, mask, pixels = self.build_prompt(batch["images"], batch.get("state"), batch["task"])
        labels = self.action_labels(batch["action"])  # (B, S)
        b, p, s = ids.shape[0], ids.shape[1], labels.shape[1]
        if self.cfg.decoder == "parallel":
            tail = self.query_ids[:s].expand(b, s)  # (B, S) query slots
            first = p  # slot i's hidden state predicts action token i
        else:
            tail = self.action_ids[labels[:, : s - 1].clamp(min=0)]  # (B, S-1) teacher forcing
            first = p - 1  # token i is predicted from the position before it
        tail_mask = torch.ones_like(tail)
        hidden, _ = self.backbone.hidden_states(
            torch.cat([ids, tail], 1), torch.cat([mask, tail_mask], 1), pixels, prefix_len=p
        )  # (B, P + S[-1], H); the prompt is the prefix, the action tokens / queries the suffix
        logits = self.action_logits(hidden[:, first : first + s])  # (B, S, V + 1)
        known = labels != IGNORE
        sigma = self.cfg.tokenizer.label_sigma
        if sigma > 0:  # soft labels: a Gaussian over the neighbouring bins of each target bin
            log_probs = F.log_softmax(logits[known].float(), -1)  # (N, V + 1)
            loss = -(self._gaussian_targets(labels[known], sigma) * log_probs).sum(-1).mean()
        else:
            loss = F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE)
        with torch.no_grad():
            acc = (logits.argmax(-1) == labels)[known].float().mean()
        return loss, {"loss": float(loss.detach()), "token_acc": float(acc)}

    def _gaussian_targets(self, labels: torch.Tensor, sigma: float) -> torch.Tensor:
        """(N,) bin labels -> (N, V + 1) target distributions, exp(-(j - label)^2 / 2 sigma^2) normalised."""
        bins = torch.arange(self.end_index + 1, device=labels.device, dtype=torch.float32)
        targets = torch.exp(-0.5 * ((bins[None] - labels[:, None].float()) / sigma) ** 2)
        targets[:, self.act_tok.valid_vocab_size :] = 0.0  # <act_end> and padding bins get nothing
        return targets / targets.sum(-1, keepdim=True)

    def action_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, S, H) -> (B, S, V + 1) logits over the action tokens (+ <act_end>) only."""
        return hidden @ self.backbone.output_rows(self.action_ids).T

    # -- inference ----------------------------------------------------------------------------------
    @torch.no_grad()
    def predict_action_chunk(self, batch: dict[str, Any]) -> np.ndarray:
        """-> (B, T, D) normalised actions (numpy float32), greedy decoding."""
        ids, mask, pixels = self.build_prompt(batch["images"], batch.get("state"), batch["task"])
        if self.cfg.decoder == "parallel":
            tokens = self._decode_parallel(ids, mask, pixels)
        else:
            tokens = self._decode_ar(ids, mask, pixels)
        return self.act_tok.decode(self._split_at_end(tokens), strict=self.cfg.strict_decode)

    def _allowed(self, step: int | None = None) -> torch.Tensor:
        """(V + 1,) additive mask: -inf on indices the tokenizer cannot decode, and on a bad <act_end>."""
        bias = torch.zeros(self.end_index + 1, device=self.action_ids.device)
        bias[self.act_tok.valid_vocab_size : self.end_index] = float("-inf")
        if self.act_tok.fixed_length or step == 0:
            bias[self.end_index] = float("-inf")  # fixed length: never; variable: never an empty chunk
        return bias

    def _decode_parallel(self, ids: torch.Tensor, mask: torch.Tensor, pixels: dict) -> torch.Tensor:
        b, p, s = ids.shape[0], ids.shape[1], self.num_slots
        queries = self.query_ids.expand(b, s)  # (B, S)
        hidden, _ = self.backbone.hidden_states(
            torch.cat([ids, queries], 1), torch.cat([mask, torch.ones_like(queries)], 1), pixels, prefix_len=p
        )  # (B, P + S, H)
        logits = self.action_logits(hidden[:, p:]) + self._allowed()  # (B, S, V + 1)
        logits[:, 0] += self._allowed(step=0)
        return logits.argmax(-1)  # (B, S)

    def _decode_ar(
        self, ids: torch.Tensor, mask: torch.Tensor, pixels: dict, lean: bool = True
    ) -> torch.Tensor:
        """Greedy, one token per step through the KV cache (vla/model/decode.py), constrained to action
        tokens; stops once every row has ended. lean: the exact lean step where the LM supports it."""
        return greedy_decode(
            self.backbone, ids, mask, pixels, self.num_slots,
            choose=lambda hidden, step: (self.action_logits(hidden) + self._allowed(step)).argmax(-1),
            to_ids=lambda token: self.action_ids[token], ends=lambda token: token == self.end_index,
            lean=lean,
        )  # fmt: skip

    def _split_at_end(self, tokens: torch.Tensor) -> list[list[int]]:
        """(B, S) indices -> one list per row, cut before the first <act_end>."""
        rows = tokens.tolist()
        if self.act_tok.fixed_length:
            return rows
        return [row[: row.index(self.end_index)] if self.end_index in row else row for row in rows]

    def generate_baseline(self, batch: dict[str, Any]) -> torch.Tensor:
        """The same greedy constrained decoding through transformers' generate() (benchmark baseline)."""
        ids, _, pixels = self.build_prompt(batch["images"], batch.get("state"), batch["task"])
        allowed = self.action_ids[: self.act_tok.valid_vocab_size]
        return self.backbone.generate_baseline(ids, pixels, allowed, self.act_tok.max_tokens)
