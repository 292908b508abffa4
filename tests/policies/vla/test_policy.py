"""VLAPolicy: save -> load gives identical actions, safe loading, the action queue, temporal ensembling."""

import numpy as np
import pytest
import torch
import yaml

from policies.registry import make_policy
from policies.vla.policy import VLAPolicy, _hold_last, collect_action_chunks, fake_observation
from tests.vla.model.conftest import ACTION_DIM, CAMERAS, STATE_DIM, make_batch, smooth_chunks
from tests.vla.model.conftest import stats as stats  # the fixture


def build(stats, **cfg) -> VLAPolicy:
    torch.manual_seed(0)
    base = {"backbone": {"image_size": 48}, "chunk_size": 6, "n_action_steps": 4}
    chunks = smooth_chunks(500, 6, seed=7)
    return VLAPolicy.from_config({**base, **cfg}, stats, CAMERAS, STATE_DIM, ACTION_DIM, action_chunks=chunks)


def _train_a_little(policy, steps=3):
    opt = torch.optim.AdamW(policy.parameters(), lr=1e-3)
    for i in range(steps):
        loss, _ = policy.compute_loss(make_batch(2, chunk=6, image_size=48, seed=i))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return policy.eval()


@pytest.mark.parametrize(("tokenizer", "decoder"), [("bins", "parallel"), ("fast", "ar")])
def test_save_load_gives_identical_actions(stats, tmp_path, tokenizer, decoder):
    policy = _train_a_little(build(stats, tokenizer={"type": tokenizer}, decoder=decoder))
    obs = fake_observation(CAMERAS, image_size=48)
    before = policy.predict_action_chunk(obs)
    policy.save_pretrained(tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == sorted(
        ["config.yaml", "model.safetensors", "normalizer.safetensors", "backbone"]
        + (["action_tokenizer"] if tokenizer == "fast" else [])
    )
    assert not any(p.suffix in (".bin", ".pt", ".pkl") for p in (tmp_path / "ckpt").rglob("*"))
    loaded = make_policy("vla", path=tmp_path / "ckpt")
    assert isinstance(loaded, VLAPolicy) and loaded.cfg == policy.cfg
    np.testing.assert_array_equal(loaded.predict_action_chunk(obs), before)
    batch = make_batch(2, chunk=6, image_size=48)
    assert loaded.compute_loss(batch)[1]["loss"] == pytest.approx(
        policy.compute_loss(batch)[1]["loss"], abs=1e-6
    )


def test_save_replaces_an_existing_checkpoint_atomically(stats, tmp_path):
    policy = build(stats)
    policy.save_pretrained(tmp_path / "ckpt")
    policy.save_pretrained(tmp_path / "ckpt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no temporary folders left


def test_untrusted_target_is_refused(stats, tmp_path):
    build(stats).save_pretrained(tmp_path / "ckpt")
    meta = yaml.safe_load((tmp_path / "ckpt" / "config.yaml").read_text())
    meta["_target_"] = "os.system"
    (tmp_path / "ckpt" / "config.yaml").write_text(yaml.safe_dump(meta))
    with pytest.raises(ValueError, match=r"'os\.system' is not in"):
        VLAPolicy.from_pretrained(tmp_path / "ckpt")
    with pytest.raises(FileNotFoundError, match="not a VLA checkpoint"):
        VLAPolicy.from_pretrained(tmp_path)


def test_checkpoint_written_before_the_move_to_policies_vla_loads(stats, tmp_path):
    """Checkpoints name the class they were written by; before policies/vla/ it was policies.vla_policy."""
    policy = build(stats).eval()
    policy.save_pretrained(tmp_path / "ckpt")
    meta = yaml.safe_load((tmp_path / "ckpt" / "config.yaml").read_text())
    assert meta["_target_"] == "policies.vla.policy.VLAPolicy"
    meta["_target_"] = "policies.vla_policy.VLAPolicy"
    (tmp_path / "ckpt" / "config.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    obs = fake_observation(CAMERAS, image_size=48)
    reloaded = VLAPolicy.from_pretrained(tmp_path / "ckpt")
    np.testing.assert_array_equal(reloaded.predict_action_chunk(obs), policy.predict_action_chunk(obs))


def test_select_action_pops_n_action_steps_per_chunk(stats):
    policy = build(stats).eval()
    obs = fake_observation(CAMERAS, image_size=48)
    chunk = policy.predict_action_chunk(obs)
    calls = []
    original = policy.predict_action_chunk
    policy.predict_action_chunk = lambda o: calls.append(1) or original(o)
    actions = [policy.select_action(obs) for _ in range(8)]
    assert len(calls) == 2  # n_action_steps=4: a new chunk every 4 steps
    np.testing.assert_array_equal(np.stack(actions[:4]), chunk[:4])
    policy.reset()
    policy.select_action(obs)
    assert len(calls) == 3


def test_temporal_ensembling_averages_overlapping_chunks(stats):
    policy = build(stats, n_action_steps=1, temporal_ensemble_coeff=0.5).eval()
    chunks = [
        np.full((6, ACTION_DIM), float(i), np.float32) + np.arange(6, dtype=np.float32)[:, None]
        for i in range(3)
    ]
    it = iter(chunks)
    policy.predict_action_chunk = lambda obs: next(it)
    obs = fake_observation(CAMERAS, image_size=48)
    a0, a1, a2 = (policy.select_action(obs) for _ in range(3))
    w = np.exp(-0.5 * np.arange(3))
    np.testing.assert_allclose(a0, chunks[0][0])
    np.testing.assert_allclose(a1, (w[0] * chunks[0][1] + w[1] * chunks[1][0]) / w[:2].sum(), rtol=1e-6)
    expect = (w[0] * chunks[0][2] + w[1] * chunks[1][1] + w[2] * chunks[2][0]) / w.sum()
    np.testing.assert_allclose(a2, expect, rtol=1e-6)


def test_padded_steps_hold_the_last_real_action():
    actions = torch.arange(8, dtype=torch.float32).view(1, 4, 2)
    is_pad = torch.tensor([[False, False, True, True]])
    held = _hold_last(actions, is_pad)
    assert held[0, :, 0].tolist() == [0.0, 2.0, 2.0, 2.0]
    chunks = collect_action_chunks([{"action": actions, "action_is_pad": is_pad}] * 3)
    assert chunks.shape == (3, 4, 2) and chunks[0, 3, 1] == 3.0


def test_bad_inputs_are_named(stats):
    with pytest.raises(ValueError, match="action_chunks=collect_action_chunks"):
        VLAPolicy.from_config({"tokenizer": {"type": "fast"}}, stats, CAMERAS, STATE_DIM, ACTION_DIM)
    with pytest.raises(ValueError, match="stats\\['action'\\] has dim 6 but the policy was given 7"):
        VLAPolicy.from_config({}, stats, CAMERAS, STATE_DIM, 7)
    policy = build(stats)
    batch = make_batch(2, chunk=6, image_size=48)
    del batch["observation.images.wrist"]
    with pytest.raises(ValueError, match=r"lacks \['observation\.images\.wrist'\]"):
        policy.compute_loss(batch)
    with pytest.raises(ValueError, match="build the dataloader with chunk_size=6"):
        policy.compute_loss(make_batch(2, chunk=10, image_size=48))


def test_fps_is_saved_with_the_policy_and_old_checkpoints_load_without_it(stats, tmp_path):
    """`vla deploy` runs a policy at the rate of its data: the checkpoint carries the dataset's fps."""
    policy = VLAPolicy.from_config(
        {"backbone": {"image_size": 48}}, stats, CAMERAS, STATE_DIM, ACTION_DIM, fps=30
    )
    policy.save_pretrained(tmp_path / "ckpt")
    assert yaml.safe_load((tmp_path / "ckpt" / "config.yaml").read_text())["policy"]["fps"] == 30
    assert VLAPolicy.from_pretrained(tmp_path / "ckpt").fps == 30
    meta = yaml.safe_load((tmp_path / "ckpt" / "config.yaml").read_text())
    del meta["policy"]["fps"]  # as written before checkpoints recorded it
    (tmp_path / "ckpt" / "config.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    # vla deploy then assumes 10 Hz, and says so (tests/bridge/test_timing.py)
    assert VLAPolicy.from_pretrained(tmp_path / "ckpt").fps is None
    with pytest.raises(ValueError, match=r"policy\.fps=0"):
        VLAPolicy.from_config({"fps": 0}, stats, CAMERAS, STATE_DIM, ACTION_DIM)
