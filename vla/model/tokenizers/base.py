"""The interface both action tokenizers honour.

An action tokenizer maps a normalised action chunk (B, T, D) with values in [-1, 1] (the dataset's
q01..q99 range, see vla/data/normalize.py "quantile") to integer action-token indices in
[0, vocab_size) and back. The VLA model offsets these indices onto new vocabulary entries of the
backbone, so index i is the model token f"<act_{i}>".
"""

import logging
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)


class ActionDecodeError(ValueError):
    """A token sequence that is not a valid encoding of one action chunk."""


class ActionTokenizer(ABC):
    """Encodes normalised action chunks to token indices and decodes them back, failing loudly."""

    name: str
    fixed_length: bool  # True: every chunk is exactly max_tokens tokens (no end token needed)

    def __init__(self, chunk_size: int, action_dim: int):
        if chunk_size < 1 or action_dim < 1:
            raise ValueError(f"chunk_size ({chunk_size}) and action_dim ({action_dim}) must be >= 1")
        self.chunk_size = chunk_size
        self.action_dim = action_dim
        self.num_decode_failures = 0  # malformed sequences seen by decode(strict=False)

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of distinct action-token indices."""

    @property
    def valid_vocab_size(self) -> int:
        """Indices [0, valid_vocab_size) decode; decoders mask the rest (a FAST BPE may use < vocab_size)."""
        return self.vocab_size

    @property
    @abstractmethod
    def max_tokens(self) -> int:
        """Longest token sequence of one chunk (without an end token)."""

    @abstractmethod
    def encode(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """actions (B, T, D) normalised -> tokens (B, L) long and valid (B, L) bool, L <= max_tokens."""

    @abstractmethod
    def decode_one(self, tokens: list[int], strict: bool = True) -> np.ndarray:
        """One sequence of indices -> (T, D) float32; raises ActionDecodeError when malformed."""

    def decode(self, sequences: list[list[int]], strict: bool = True) -> np.ndarray:
        """B sequences -> (B, T, D) float32."""
        return np.stack([self.decode_one(list(seq), strict=strict) for seq in sequences])

    def fit(self, actions: np.ndarray) -> None:  # noqa: B027  (optional hook: bins needs no fitting)
        """Learns from normalised chunks (N, T, D); a no-op unless the tokenizer is data-dependent."""

    @abstractmethod
    def save(self, directory: str | Path) -> None: ...

    def _check_chunks(self, actions: torch.Tensor | np.ndarray) -> None:
        if actions.ndim != 3 or tuple(actions.shape[1:]) != (self.chunk_size, self.action_dim):
            raise ValueError(
                f"{self.name} tokenizer expects action chunks (B, {self.chunk_size}, {self.action_dim}), got "
                f"{tuple(actions.shape)}; set policy.chunk_size / the dataset's action dim to match"
            )

    def _fail(self, message: str, strict: bool) -> None:
        """Raises in strict mode; otherwise counts and logs (the caller repairs the sequence)."""
        if strict:
            raise ActionDecodeError(message)
        self.num_decode_failures += 1
        n = self.num_decode_failures
        if n <= 10 or n % 100 == 0:  # every failure is counted; the log is rate-limited after the first 10
            log.warning("%s tokenizer: %s (failure #%d, repaired)", self.name, message, n)
