"""Greedy KV-cached decoding shared by the action decoder and scene-question answering.

The prompt (images included) is prefilled through transformers once; each next token then goes through
vla/model/fast_decode.py when the language model is a Llama (tiny, SmolVLM2), else through transformers'
cached forward. What a step may choose (action tokens only, or the backbone's own vocabulary) is the
caller's `choose`; this loop only feeds tokens and stops.
"""

from collections.abc import Callable
from typing import Any

import torch

# (last hidden (B, H), step) -> chosen index (B,); index -> the token id fed next (B,); index -> ended (B,)
Choose = Callable[[torch.Tensor, int], torch.Tensor]
ToIds = Callable[[torch.Tensor], torch.Tensor]
Ends = Callable[[torch.Tensor], torch.Tensor]


@torch.no_grad()
def greedy_decode(
    backbone: Any,
    ids: torch.Tensor,
    mask: torch.Tensor,
    pixels: dict[str, torch.Tensor],
    max_new: int,
    choose: Choose,
    to_ids: ToIds,
    ends: Ends,
    lean: bool = True,
) -> torch.Tensor:
    """-> (B, steps) chosen indices, steps <= max_new: stops once every row has ended.
    lean: continue with the exact lean step (vla/model/fast_decode.py) where the LM supports it."""
    hidden, cache = backbone.hidden_states(ids, mask, pixels, use_cache=True)  # (B, P, H)
    stepper = backbone.step_decoder(cache, mask, max_new) if lean else None
    out = []
    done = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
    for step in range(max_new):
        token = choose(hidden[:, -1], step)  # (B,)
        out.append(token)
        done |= ends(token)
        if done.all() or step == max_new - 1:
            break
        next_ids = to_ids(token)[:, None]  # (B, 1)
        if stepper is not None:
            hidden = stepper.step(next_ids)  # (B, 1, H)
        else:
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)  # (B, P + step + 1)
            hidden, cache = backbone.hidden_states(
                next_ids, mask, past_key_values=cache, use_cache=True, prefix_len=0
            )
    return torch.stack(out, 1)
