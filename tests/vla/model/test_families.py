"""The real loading path, for three VLM families.

The hub is unreachable here (a fake for the hub only): tiny random-weight SmolVLM, PaliGemma and
Qwen2.5-VL models are written with save_pretrained, exactly as a downloaded hub snapshot looks, and
loaded through `BackboneConfig(pretrained=<folder>)` -- the same code a user runs with
`pretrained: HuggingFaceTB/SmolVLM2-500M-Video-Instruct`. Each then trains one VLA step.
"""

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer

from policies.vla.policy import VLAPolicy, fake_observation
from tests.vla.model.conftest import ACTION_DIM, CAMERAS, STATE_DIM, make_batch
from tests.vla.model.tiny_families import TINY_FAMILIES, save_tiny_family
from vla.model.backbone import load_backbone
from vla.model.backbone_config import BackboneConfig
from vla.model.tiny_tokenizer import ASSET as TINY_TOKENIZER_FILE

IMAGE_SIZE = {"smolvlm": 48, "paligemma": None, "qwen2_5_vl": 56}


@pytest.fixture(scope="module", params=TINY_FAMILIES)
def family_dir(request, tmp_path_factory):
    return request.param, save_tiny_family(request.param, tmp_path_factory.mktemp(request.param))


def test_tokenizer_and_processor_survive_save_pretrained(family_dir):
    family, path = family_dir
    bb = load_backbone(BackboneConfig(name=family, pretrained=str(path), image_size=IMAGE_SIZE[family]))
    assert bb.family == family and bb.facts.name == {"qwen2_5_vl": "qwen_vl"}.get(family, family)
    text = "Pick up the red cube, then push it 3 cm left."
    ids = bb.text_ids(text)
    assert ids == Tokenizer.from_file(str(TINY_TOKENIZER_FILE)).encode(text).ids  # same ids as before saving
    assert bb.tokenizer.decode(ids) == text
    reloaded = load_backbone(BackboneConfig(name=family, pretrained=str(path), image_size=IMAGE_SIZE[family]))
    assert reloaded.text_ids(text) == ids
    assert reloaded.image_prefix_ids([(64, 64)] * 2) == bb.image_prefix_ids([(64, 64)] * 2)


def test_family_trains_one_vla_step_and_reloads(family_dir, stats, tmp_path):
    family, path = family_dir
    torch.manual_seed(0)
    cfg = {
        "backbone": {"name": family, "pretrained": str(path), "image_size": IMAGE_SIZE[family]},
        "chunk_size": 4,
        "n_action_steps": 4,
        "decoder": "ar",
    }
    policy = VLAPolicy.from_config(cfg, stats, CAMERAS, STATE_DIM, ACTION_DIM)
    batch = make_batch(2, chunk=4, image_size=64)
    before = {n: p.detach().clone() for n, p in policy.named_parameters() if p.requires_grad}
    opt = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=1e-3)
    loss, metrics = policy.compute_loss(batch)
    loss.backward()
    opt.step()
    assert np.isfinite(metrics["loss"]) and metrics["loss"] > 0
    changed = sum(not torch.equal(before[n], p) for n, p in policy.named_parameters() if p.requires_grad)
    assert changed > 0.5 * len(before)
    policy.eval()
    obs = fake_observation(CAMERAS, image_size=64)
    actions = policy.predict_action_chunk(obs)
    assert actions.shape == (4, ACTION_DIM) and np.isfinite(actions).all()
    policy.save_pretrained(tmp_path / "ckpt")
    np.testing.assert_array_equal(
        VLAPolicy.from_pretrained(tmp_path / "ckpt").predict_action_chunk(obs), actions
    )


def test_family_is_found_by_model_type_and_unknown_types_get_the_generic_path():
    from vla.model.families import GENERIC, IDEFICS, PALIGEMMA, QWEN_VL, family_of

    assert family_of("smolvlm") is family_of("idefics3") is IDEFICS
    assert family_of("paligemma") is PALIGEMMA
    assert family_of("qwen2_5_vl") is family_of("qwen2_vl") is QWEN_VL
    assert family_of("llava") is GENERIC and GENERIC.pixels == "processor" and GENERIC.image_text is None
