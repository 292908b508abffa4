"""Action tokenizers: uniform bins (RT-2/OpenVLA) and FAST (DCT + BPE). `make_action_tokenizer` picks one."""

from vla.model.tokenizers.base import ActionDecodeError, ActionTokenizer
from vla.model.tokenizers.bins import BinActionTokenizer
from vla.model.tokenizers.fast import FastActionTokenizer

__all__ = [
    "ActionDecodeError",
    "ActionTokenizer",
    "BinActionTokenizer",
    "FastActionTokenizer",
    "make_action_tokenizer",
]


def make_action_tokenizer(kind: str, chunk_size: int, action_dim: int, **options: float) -> ActionTokenizer:
    """kind: "bins" (options: num_bins) or "fast" (options: scale, vocab_size)."""
    if kind == "bins":
        return BinActionTokenizer(chunk_size, action_dim, num_bins=int(options.get("num_bins", 256)))
    if kind == "fast":
        return FastActionTokenizer(
            chunk_size,
            action_dim,
            scale=float(options.get("scale", 10.0)),
            vocab_size=int(options.get("vocab_size", 1024)),
        )
    raise ValueError(f"unknown action tokenizer {kind!r}; use 'bins' or 'fast' (conf/tokenizer/)")
