"""FAST: DCT along time + scale-and-round + BPE over the coefficient stream (Pertsch et al. 2025, pi0-FAST).

Encoding one normalised chunk x (T, D), values clipped to [-1, 1]:
  1. c = DCT-II (orthonormal) of x along time            # (T, D), energy in the low frequencies
  2. q = round(c * scale), clipped to [-Q, Q]            # Q = ceil(scale * sqrt(2T)) bounds |c| for |x| <= 1
  3. flatten frequency-major (all dims of frequency 0, then 1, ...) and map each integer to one
     character; a byte-pair encoding, fitted on the dataset, merges frequent runs (mostly zeros).
Decoding inverts each step. A sequence that does not decode to exactly T * D integers is malformed:
decode(strict=True) raises; strict=False counts + logs it and repairs it (missing high frequencies
are zero, extra ones dropped) — never a silent all-zero chunk.

Round-trip error bound (no clipping): the orthonormal inverse DCT preserves L2 norms, so per action
dimension ||x_hat - x||_2 over time <= sqrt(T) * 0.5 / scale, hence max |x_hat - x| <= sqrt(T) / (2 * scale).
"""

import math
from pathlib import Path

import numpy as np
import torch
import yaml
from scipy.fft import dct, idct
from tokenizers import Tokenizer, models, trainers

from vla.model.tokenizers.base import ActionDecodeError, ActionTokenizer

_CHAR0 = 0xE000  # Unicode private-use area: one character per quantised coefficient value


class FastActionTokenizer(ActionTokenizer):
    name = "fast"
    fixed_length = False

    def __init__(self, chunk_size: int, action_dim: int, scale: float = 10.0, vocab_size: int = 1024):
        super().__init__(chunk_size, action_dim)
        if scale <= 0:
            raise ValueError(f"tokenizer.scale={scale}: must be > 0 (FAST uses 10)")
        self.scale = float(scale)
        self.q_max = math.ceil(self.scale * math.sqrt(2 * chunk_size))
        alphabet = 2 * self.q_max + 1
        if vocab_size < alphabet:
            raise ValueError(
                f"tokenizer.vocab_size={vocab_size} is smaller than the {alphabet} quantised coefficient "
                f"values "
                f"(scale={scale}, chunk_size={chunk_size}); raise vocab_size or lower scale"
            )
        self._vocab_size = vocab_size
        self.bpe: Tokenizer | None = None
        self._max_tokens = chunk_size * action_dim  # worst case: no merges

    @property
    def vocab_size(self) -> int:
        return self._vocab_size

    @property
    def valid_vocab_size(self) -> int:
        return self.bpe.get_vocab_size() if self.bpe is not None else self._vocab_size

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    @property
    def error_bound(self) -> float:
        """Largest round-trip error (normalised units) for chunks inside [-1, 1]."""
        return math.sqrt(self.chunk_size) / (2 * self.scale)

    # -- coefficients <-> strings -------------------------------------------------------------------
    def _to_string(self, chunk: np.ndarray) -> str:
        coeff = dct(np.clip(chunk, -1.0, 1.0), type=2, norm="ortho", axis=0)  # (T, D)
        q = np.clip(np.rint(coeff * self.scale), -self.q_max, self.q_max).astype(np.int64)
        return "".join(chr(_CHAR0 + int(v) + self.q_max) for v in q.reshape(-1))  # frequency-major

    def _from_ints(self, q: np.ndarray) -> np.ndarray:
        coeff = q.reshape(self.chunk_size, self.action_dim).astype(np.float64) / self.scale  # (T, D)
        return idct(coeff, type=2, norm="ortho", axis=0).astype(np.float32)

    def fit(self, actions: np.ndarray) -> None:
        """Trains the BPE on normalised chunks (N, T, D) and sets max_tokens from the data."""
        actions = np.asarray(actions, dtype=np.float64)
        self._check_chunks(actions)
        strings = [self._to_string(a) for a in actions]
        alphabet = [chr(_CHAR0 + i) for i in range(2 * self.q_max + 1)]
        bpe = Tokenizer(models.BPE())
        trainer = trainers.BpeTrainer(
            vocab_size=self._vocab_size,
            initial_alphabet=alphabet,
            show_progress=False,
            max_token_length=32,
            min_frequency=2,  # a merge must recur: on small datasets BPE would memorise whole chunks
        )
        bpe.train_from_iterator(strings, trainer)
        self._set_bpe(bpe)
        lengths = [len(e.ids) for e in bpe.encode_batch(strings)]
        # 1.5x the longest training chunk leaves room for unseen (rougher) chunks; never above T * D
        self._max_tokens = min(self.chunk_size * self.action_dim, math.ceil(1.5 * max(lengths)))

    def _set_bpe(self, bpe: Tokenizer) -> None:
        if bpe.get_vocab_size() > self._vocab_size:
            raise ValueError(f"fitted BPE has {bpe.get_vocab_size()} tokens > vocab_size {self._vocab_size}")
        self.bpe = bpe

    def _require_fit(self) -> Tokenizer:
        if self.bpe is None:
            raise RuntimeError(
                "the fast tokenizer is not fitted: call fit(normalised action chunks) or build the policy "
                "with "
                "VLAPolicy.from_config(..., action_chunks=collect_action_chunks(dataloader))"
            )
        return self.bpe

    # -- public API ---------------------------------------------------------------------------------
    def encode(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_chunks(actions)
        bpe = self._require_fit()
        arr = actions.detach().cpu().double().numpy()
        ids = [e.ids[: self._max_tokens] for e in bpe.encode_batch([self._to_string(a) for a in arr])]
        length = max(len(s) for s in ids)
        tokens = torch.zeros(len(ids), length, dtype=torch.long)
        valid = torch.zeros(len(ids), length, dtype=torch.bool)
        for i, seq in enumerate(ids):
            tokens[i, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            valid[i, : len(seq)] = True
        return tokens, valid

    def token_counts(self, actions: np.ndarray) -> np.ndarray:
        """Tokens per chunk (N,) before truncation, for the benchmark."""
        bpe = self._require_fit()
        return np.array([len(e.ids) for e in bpe.encode_batch([self._to_string(a) for a in actions])])

    def decode_one(self, tokens: list[int], strict: bool = True) -> np.ndarray:
        bpe = self._require_fit()
        if len(tokens) == 0:
            raise ActionDecodeError("fast tokenizer: an empty token sequence cannot be decoded")
        pieces = [bpe.id_to_token(int(t)) for t in tokens]
        if any(p is None for p in pieces):
            raise ActionDecodeError(
                f"fast tokenizer: token ids outside the fitted BPE vocabulary in {tokens[:8]}..."
            )
        q = np.array([ord(ch) - _CHAR0 - self.q_max for ch in "".join(pieces)], dtype=np.int64)
        n = self.chunk_size * self.action_dim
        if len(q) != n:
            self._fail(f"sequence decodes to {len(q)} coefficients, expected {n}", strict)
            q = np.concatenate([q, np.zeros(max(0, n - len(q)), dtype=np.int64)])[:n]
        return self._from_ints(q)

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self._require_fit().save(str(directory / "fast_bpe.json"))
        meta = {"max_tokens": self._max_tokens, "q_max": self.q_max}
        (directory / "fast.yaml").write_text(yaml.safe_dump(meta))

    def load(self, directory: str | Path) -> None:
        directory = Path(directory)
        if not (directory / "fast_bpe.json").exists():
            raise FileNotFoundError(
                f"{directory / 'fast_bpe.json'} missing: the checkpoint's fast tokenizer was not saved"
            )
        meta = yaml.safe_load((directory / "fast.yaml").read_text())
        if int(meta["q_max"]) != self.q_max:
            raise ValueError(
                f"fast tokenizer in {directory} has q_max {meta['q_max']}, config gives {self.q_max}"
            )
        self._set_bpe(Tokenizer.from_file(str(directory / "fast_bpe.json")))
        self._max_tokens = int(meta["max_tokens"])
