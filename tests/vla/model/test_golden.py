"""Golden-output regression test: a fixed-seed tiny policy reproduces tests/artifacts/vla_golden.safetensors.

A change in these numbers means the model, prompt, tokenizer or initialisation changed: explain it in the
commit, then regenerate with
    VLA_REGENERATE_GOLDEN=1 .venv/bin/python -m pytest tests/vla/model/test_golden.py
"""

import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from policies.vla.policy import VLAPolicy
from tests.vla.model.conftest import ACTION_DIM, CAMERAS, STATE_DIM, make_batch, smooth_chunks

GOLDEN = Path(__file__).resolve().parents[2] / "artifacts" / "vla_golden.safetensors"


def golden_outputs(stats) -> dict[str, torch.Tensor]:
    out = {}
    for tokenizer, decoder in (("bins", "parallel"), ("fast", "ar")):
        torch.manual_seed(0)
        cfg = {
            "tokenizer": {"type": tokenizer},
            "decoder": decoder,
            "chunk_size": 4,
            "n_action_steps": 4,
            "backbone": {"image_size": 48},
        }
        policy = VLAPolicy.from_config(
            cfg, stats, CAMERAS, STATE_DIM, ACTION_DIM, action_chunks=smooth_chunks(500, 4, seed=7)
        )
        batch = make_batch(2, chunk=4, image_size=48, seed=11)
        opt = torch.optim.SGD(policy.parameters(), lr=0.1)
        loss, _ = policy.compute_loss(batch)
        loss.backward()
        opt.step()  # one step, so gradients are covered too
        policy.eval()
        with torch.no_grad():
            mb = policy._model_batch(batch)
            ids, mask, pixels = policy.model.build_prompt(mb["images"], mb["state"], mb["task"])
            hidden, _ = policy.model.backbone.hidden_states(ids, mask, pixels)
            logits = policy.model.action_logits(hidden[:, -1])[:, :32]  # (B, 32)
        key = f"{tokenizer}_{decoder}"
        out[f"{key}/loss"] = loss.detach().reshape(1)
        out[f"{key}/prompt_ids"] = ids
        out[f"{key}/logits"] = logits
        out[f"{key}/actions"] = torch.from_numpy(policy.predict_batch(batch))
    return out


def test_outputs_match_the_golden_file(stats):
    got = golden_outputs(stats)
    if os.environ.get("VLA_REGENERATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in got.items()}, str(GOLDEN))
        pytest.skip(f"regenerated {GOLDEN}")
    want = load_file(str(GOLDEN))
    assert sorted(got) == sorted(want)
    for key, value in want.items():
        if value.dtype == torch.long:
            assert torch.equal(got[key], value), key
        else:
            torch.testing.assert_close(got[key], value, rtol=1e-4, atol=1e-5, msg=key)
