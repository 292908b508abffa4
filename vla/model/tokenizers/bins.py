"""Uniform bins per action dimension (RT-2 / OpenVLA).

Actions arrive normalised so that the dataset's q01..q99 range is [-1, 1]; values outside are
clipped (as OpenVLA clips to its 1st-99th percentile range). 256 bins per dim, as RT-2/OpenVLA.
Token t of a chunk is bin index of action[t // D, t % D] (time-major), so a chunk is T * D tokens.
Round-trip error bound: |decode(encode(x)) - clip(x)| <= 1 / num_bins (half a bin of width 2 / num_bins).
"""

from pathlib import Path

import numpy as np
import torch

from vla.model.tokenizers.base import ActionDecodeError, ActionTokenizer


class BinActionTokenizer(ActionTokenizer):
    name = "bins"
    fixed_length = True

    def __init__(self, chunk_size: int, action_dim: int, num_bins: int = 256):
        super().__init__(chunk_size, action_dim)
        if num_bins < 2:
            raise ValueError(
                f"tokenizer.num_bins={num_bins}: needs at least 2 bins (256 is the RT-2 default)"
            )
        self.num_bins = num_bins

    @property
    def vocab_size(self) -> int:
        return self.num_bins

    @property
    def max_tokens(self) -> int:
        return self.chunk_size * self.action_dim

    @property
    def error_bound(self) -> float:
        """Largest round-trip error inside [-1, 1], in normalised units."""
        return 1.0 / self.num_bins

    def to_bins(self, x: torch.Tensor) -> torch.Tensor:
        """Any shape of values in normalised units -> bin indices (same shape), clipped to the range."""
        scaled = (x.clamp(-1.0, 1.0) + 1.0) / 2.0 * self.num_bins
        return scaled.long().clamp_(0, self.num_bins - 1)

    def from_bins(self, idx: torch.Tensor | np.ndarray) -> np.ndarray:
        """Bin indices -> bin centres in [-1, 1]."""
        return ((np.asarray(idx, dtype=np.float32) + 0.5) / self.num_bins * 2.0 - 1.0).astype(np.float32)

    def encode(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_chunks(actions)
        tokens = self.to_bins(actions).flatten(1)  # (B, T * D), time-major
        return tokens, torch.ones_like(tokens, dtype=torch.bool)

    def decode_one(self, tokens: list[int], strict: bool = True) -> np.ndarray:
        n = self.max_tokens
        arr = np.asarray(tokens, dtype=np.int64)
        if len(arr) == 0:
            raise ActionDecodeError(f"{self.name} tokenizer: an empty token sequence cannot be decoded")
        if len(arr) != n or (arr.size and (arr.min() < 0 or arr.max() >= self.num_bins)):
            self._fail(
                f"expected {n} tokens in [0, {self.num_bins}), got {len(arr)}: {arr[:8].tolist()}...", strict
            )
            # repair: clip indices, repeat the last token to length (never a silent all-zero chunk)
            arr = np.clip(
                np.concatenate([arr, np.full(max(0, n - len(arr)), arr[-1])])[:n], 0, self.num_bins - 1
            )
        return self.from_bins(arr).reshape(self.chunk_size, self.action_dim)

    def save(self, directory: str | Path) -> None:
        """Nothing to save beyond the config (num_bins, chunk_size, action_dim)."""
