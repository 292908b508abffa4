"""Round trips with stated error bounds, and malformed sequences that raise or are counted."""

import logging

import numpy as np
import pytest
import torch

from tests.vla.model.conftest import smooth_chunks
from vla.model.tokenizers import (
    ActionDecodeError,
    BinActionTokenizer,
    FastActionTokenizer,
    make_action_tokenizer,
)


def _normalised(n: int, seed: int = 0) -> np.ndarray:
    return np.clip(smooth_chunks(n, 10, seed=seed), -1, 1)


def test_bins_round_trip_within_half_a_bin():
    tok = BinActionTokenizer(10, 6, num_bins=256)
    x = torch.from_numpy(_normalised(64))
    tokens, valid = tok.encode(x)
    assert tokens.shape == (64, 60) and valid.all()
    assert tokens.min() >= 0 and tokens.max() < 256
    err = np.abs(tok.decode(tokens.tolist()) - x.numpy()).max()
    assert err <= tok.error_bound + 1e-6
    assert tok.error_bound == pytest.approx(1 / 256)


def test_bins_clip_outside_the_quantile_range():
    tok = BinActionTokenizer(1, 2, num_bins=4)
    tokens, _ = tok.encode(torch.tensor([[[-5.0, 5.0]]]))
    assert tokens.tolist() == [[0, 3]]
    np.testing.assert_allclose(tok.decode(tokens.tolist()), [[[-0.75, 0.75]]])


def test_bins_malformed_sequences_raise_or_are_counted(caplog):
    tok = BinActionTokenizer(2, 2, num_bins=8)
    with pytest.raises(ActionDecodeError, match="expected 4 tokens"):
        tok.decode_one([1, 2, 3])
    with pytest.raises(ActionDecodeError, match="expected 4 tokens"):
        tok.decode_one([1, 2, 3, 8])
    with pytest.raises(ActionDecodeError, match="empty"):
        tok.decode_one([], strict=False)
    with caplog.at_level(logging.WARNING):
        out = tok.decode_one([1, 2, 3], strict=False)
    assert tok.num_decode_failures == 1 and "failure #1" in caplog.text
    assert out[1, 1] == out[1, 0]  # repaired by repeating the last token, not zeros


def test_fast_round_trip_within_stated_bound_and_compresses():
    train, test = _normalised(2000, seed=1), _normalised(200, seed=2)
    tok = FastActionTokenizer(10, 6, scale=10.0, vocab_size=1024)
    tok.fit(train)
    tokens, valid = tok.encode(torch.from_numpy(test))
    seqs = [t[v].tolist() for t, v in zip(tokens, valid, strict=True)]
    decoded = tok.decode(seqs)
    err = np.abs(decoded - test)
    assert err.max() <= tok.error_bound  # sqrt(T) / (2 * scale) = 0.158
    assert err.mean() < 0.02  # typical error is far below the worst case
    lengths = valid.sum(1).float()
    assert lengths.mean() < 0.5 * 60  # smooth chunks: fewer than half the tokens of bins (T * D = 60)
    assert tok.max_tokens <= 60 and lengths.max() <= tok.max_tokens


def test_fast_save_load_gives_identical_tokens(tmp_path):
    tok = FastActionTokenizer(10, 6)
    tok.fit(_normalised(500))
    tok.save(tmp_path)
    again = FastActionTokenizer(10, 6)
    again.load(tmp_path)
    x = torch.from_numpy(_normalised(32, seed=5))
    assert torch.equal(tok.encode(x)[0], again.encode(x)[0])
    assert again.max_tokens == tok.max_tokens


def test_fast_malformed_sequences_raise_or_are_counted(caplog):
    tok = FastActionTokenizer(10, 6)
    tok.fit(_normalised(500))
    tokens, valid = tok.encode(torch.from_numpy(_normalised(1, seed=9)))
    seq = tokens[0][valid[0]].tolist()
    with pytest.raises(ActionDecodeError, match="expected 60"):
        tok.decode_one(seq[:-1])
    with pytest.raises(ActionDecodeError, match="empty"):
        tok.decode_one([], strict=False)
    with pytest.raises(ActionDecodeError, match="outside the fitted BPE"):
        tok.decode_one([10**6])
    with caplog.at_level(logging.WARNING):
        repaired = tok.decode_one(seq + seq, strict=False)  # too many coefficients: extra dropped
    assert tok.num_decode_failures == 1 and "expected 60" in caplog.text
    np.testing.assert_allclose(repaired, tok.decode_one(seq), atol=1e-6)


def test_fast_needs_fitting_and_checks_shapes():
    tok = FastActionTokenizer(10, 6)
    with pytest.raises(RuntimeError, match="not fitted"):
        tok.encode(torch.zeros(1, 10, 6))
    with pytest.raises(ValueError, match=r"\(B, 10, 6\)"):
        tok.fit(np.zeros((4, 8, 6)))
    with pytest.raises(ValueError, match="vocab_size=16 is smaller"):
        FastActionTokenizer(10, 6, vocab_size=16)


def test_factory_rejects_unknown_kind():
    assert isinstance(make_action_tokenizer("bins", 4, 2), BinActionTokenizer)
    with pytest.raises(ValueError, match="unknown action tokenizer 'vq'"):
        make_action_tokenizer("vq", 4, 2)
