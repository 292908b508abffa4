"""LoRA over a frozen pretrained backbone: adapter-only checkpoints that reload and resume exactly, and
`vla export --merge` writing full weights that act the same without the base checkpoint.

The base checkpoints are tiny random-weight families saved as hub snapshots (tiny_families.py):
SmolVLM (tied LM head), Qwen2.5-VL (untied head), PaliGemma (Gemma's scaled embedding).
"""

import shutil

import numpy as np
import pytest
import torch
import yaml
from accelerate import Accelerator
from safetensors.torch import load_file, save_model
from torch.utils.data import DataLoader

from policies.vla.policy import ADAPTER, WEIGHTS, VLAPolicy, fake_observation
from tests.vla.model.conftest import ACTION_DIM, CAMERAS, STATE_DIM, make_batch
from tests.vla.model.tiny_families import save_tiny_family
from tests.vla.training.ckpt_worker import train_cfg
from vla import checkpoint as ckpt
from vla.apps import export
from vla.model.backbone import load_backbone
from vla.model.backbone_config import BackboneConfig
from vla.training.loop import Trainer

IMAGE = {"smolvlm": 48, "qwen2_5_vl": 56, "paligemma": None}


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    root = tmp_path_factory.mktemp("bases")
    return {f: save_tiny_family(f, root / f) for f in IMAGE}


def lora_backbone(family: str, path) -> dict:
    return {
        "name": family, "pretrained": str(path), "image_size": IMAGE[family],
        "lora_rank": 4, "lora_alpha": 8, "freeze_lm": True, "freeze_vision": True,
    }  # fmt: skip


def make_policy(stats, family: str, path) -> VLAPolicy:
    torch.manual_seed(0)
    cfg = {"backbone": lora_backbone(family, path), "chunk_size": 4, "n_action_steps": 4}
    return VLAPolicy.from_config(cfg, stats, CAMERAS, STATE_DIM, ACTION_DIM)


def train(policy: VLAPolicy, steps: int) -> None:
    opt = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=1e-2)
    for step in range(steps):
        loss, _ = policy.compute_loss(make_batch(2, chunk=4, image_size=64, seed=step))
        loss.backward()
        opt.step()
        opt.zero_grad()


@pytest.mark.parametrize("family", ["smolvlm", "paligemma", "qwen2_5_vl"])
def test_new_token_rows_and_fresh_lora_change_nothing_until_trained(bases, family):
    bb = load_backbone(BackboneConfig(**lora_backbone(family, bases[family])))
    new = bb.add_tokens(["<act_0>", "<act_1>", "<act_2>"])
    ids = torch.tensor([bb.text_ids("push the cube") + new])
    before, _ = bb.hidden_states(ids, torch.ones_like(ids))
    rows_before = bb.output_rows(torch.tensor(new)).detach().clone()
    bb.configure_training()  # LoRA (B = 0 at init) + TokenRows holding the new rows
    assert bb.rows is not None and (bb.rows.out_rows is None) == (family != "qwen2_5_vl")  # Qwen: untied
    after, _ = bb.hidden_states(ids, torch.ones_like(ids))
    torch.testing.assert_close(after, before, rtol=0, atol=1e-6)
    torch.testing.assert_close(bb.output_rows(torch.tensor(new)), rows_before, rtol=0, atol=0)
    trainable = {n for n, p in bb.hf.named_parameters() if p.requires_grad}
    assert any("lora_A" in n for n in trainable) and any(n.endswith("embed_tokens.rows") for n in trainable)
    assert not any("embed_tokens.base" in n or n == "lm_head.weight" for n in trainable)  # vocabulary frozen


@pytest.mark.parametrize("family", ["smolvlm", "qwen2_5_vl"])
def test_adapter_checkpoint_holds_only_trainable_tensors_and_reloads_exactly(stats, bases, family, tmp_path):
    policy = make_policy(stats, family, bases[family])
    frozen = {n: p.detach().clone() for n, p in policy.named_parameters() if not p.requires_grad}
    train(policy, 2)
    assert all(torch.equal(p, frozen[n]) for n, p in policy.named_parameters() if not p.requires_grad)
    policy.save_pretrained(tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / ADAPTER).exists() and not (tmp_path / "ckpt" / WEIGHTS).exists()
    saved = load_file(str(tmp_path / "ckpt" / ADAPTER))
    assert set(saved) == {n for n, p in policy.model.named_parameters() if p.requires_grad}
    save_model(policy, str(tmp_path / "full.safetensors"))
    adapter_bytes = (tmp_path / "ckpt" / ADAPTER).stat().st_size
    assert adapter_bytes < 0.6 * (tmp_path / "full.safetensors").stat().st_size
    reloaded = VLAPolicy.from_pretrained(tmp_path / "ckpt")
    want = policy.state_dict()
    got = reloaded.state_dict()
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    obs = fake_observation(CAMERAS, image_size=64)
    np.testing.assert_array_equal(reloaded.predict_action_chunk(obs), policy.eval().predict_action_chunk(obs))


def run(policy: VLAPolicy, run_dir, until: int | None = None, resume: bool = False) -> Trainer:
    """The real Trainer on 8 fixed samples, 6 steps of 2, a checkpoint every 3 steps."""
    data = [{k: v[i] for k, v in make_batch(8, chunk=4, image_size=64, seed=3).items()} for i in range(8)]

    def loader(epoch: int) -> DataLoader:
        return DataLoader(data, batch_size=2, shuffle=True, generator=torch.Generator().manual_seed(epoch))

    cfg = train_cfg(6, save_every=3, ema=False)
    trainer = Trainer(
        cfg=cfg, accelerator=Accelerator(cpu=True), policy=policy,
        make_loader=loader, run_dir=run_dir, config_yaml="adapter: 1\n",
    )  # fmt: skip
    if resume:
        trainer.resume(run_dir)
    trainer.fit(until=until)
    return trainer


def test_resume_from_an_adapter_checkpoint_is_exact(stats, bases, tmp_path):
    """6 steps straight == 3 steps, an adapter checkpoint, a fresh process's reload, 3 steps."""
    straight = make_policy(stats, "smolvlm", bases["smolvlm"])
    torch.manual_seed(1)
    a = run(straight, tmp_path / "a")
    torch.manual_seed(1)
    b1 = run(make_policy(stats, "smolvlm", bases["smolvlm"]), tmp_path / "b", until=3)
    saved = ckpt.resolve_checkpoint(tmp_path / "b") / ckpt.PRETRAINED
    assert (saved / ADAPTER).exists() and not (saved / WEIGHTS).exists()
    resumed = VLAPolicy.from_pretrained(saved)
    b2 = run(resumed, tmp_path / "b", resume=True)
    assert b1.history + b2.history == a.history
    want, got = straight.state_dict(), resumed.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)


def test_export_merge_writes_full_weights_that_act_the_same_without_the_base(stats, bases, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(bases["paligemma"], base)
    policy = make_policy(stats, "paligemma", base)
    train(policy, 2)
    policy.save_pretrained(tmp_path / "ckpt")
    obs = fake_observation(CAMERAS, image_size=64)
    want = policy.eval().predict_action_chunk(obs)
    export.main([str(tmp_path / "ckpt"), str(tmp_path / "plain")])  # as saved: still an adapter
    assert (tmp_path / "plain" / ADAPTER).exists()
    export.main([str(tmp_path / "ckpt"), str(tmp_path / "merged"), "--merge"])
    assert (tmp_path / "merged" / WEIGHTS).exists() and not (tmp_path / "merged" / ADAPTER).exists()
    meta = yaml.safe_load((tmp_path / "merged" / "config.yaml").read_text())["policy"]["backbone"]
    assert meta["lora_rank"] == 0 and meta["freeze_lm"] is False
    keys = load_file(str(tmp_path / "merged" / WEIGHTS)).keys()
    assert not any("lora_" in k or "embed_tokens.rows" in k for k in keys)
    shutil.rmtree(base)  # the merged model needs no base checkpoint and no peft
    merged = VLAPolicy.from_pretrained(tmp_path / "merged")
    np.testing.assert_allclose(merged.predict_action_chunk(obs), want, atol=1e-5)
