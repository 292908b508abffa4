"""train.dry_run's numbers against the real thing: tokens and parameters exactly, memory within a factor.

"Measured" is what one training step holds on the CPU, counted tensor by tensor: the parameters, their
gradients, AdamW's moments, and every tensor autograd saves for the backward pass (torch's
saved_tensors_hooks; unique storages, parameters excluded). The activation estimate must be within
0.7x - 1.3x of it (0.84x sdpa, 0.92x eager measured); the rest must be exact.
"""

from pathlib import Path

import pytest
import torch
import yaml

from policies.vla.config import VLAConfig
from policies.vla.policy import VLAPolicy
from tests.vla.model.conftest import ACTION_DIM, CAMERAS, STATE_DIM, make_batch
from tests.vla.model.tiny_families import save_tiny_family
from vla.config import CONF_DIR
from vla.model.architectures import ARCHITECTURES
from vla.model.memory import GIB, plan_vla

TASK = "pick up the red cube"


def tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def measured_step(policy: VLAPolicy, batch: dict) -> dict[str, int]:
    """Bytes a training step holds: weights, grads, AdamW state, activations saved for backward."""
    params = {p.untyped_storage().data_ptr() for p in policy.parameters()}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    trainable = [p for p in policy.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-3)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss, _ = policy.compute_loss(batch)
    loss.backward()
    opt.step()
    moments = [v for state in opt.state.values() for k, v in state.items() if k != "step"]
    return {
        "weights": tensor_bytes(policy.model.parameters()),
        "gradients": tensor_bytes(p.grad for p in trainable),
        "optimizer": tensor_bytes(moments),
        "activations": sum(saved.values()),
    }


def build(stats, backbone: dict, decoder: str = "parallel") -> tuple[VLAPolicy, VLAConfig]:
    torch.manual_seed(0)
    cfg = {"backbone": backbone, "chunk_size": 10, "n_action_steps": 10, "decoder": decoder}
    policy = VLAPolicy.from_config(cfg, stats, CAMERAS, STATE_DIM, ACTION_DIM)
    return policy, VLAConfig.from_dict({**cfg, "cameras": list(CAMERAS)})


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_estimate_holds_against_what_a_tiny_training_step_holds(stats, attn):
    policy, cfg = build(stats, {"image_size": 96, "attn_implementation": attn})
    batch = make_batch(8, chunk=10, image_size=96)
    batch["task"] = [TASK] * 8
    instruction = len(policy.model.backbone.text_ids(TASK))
    plan = plan_vla(cfg, [(96, 96)] * len(CAMERAS), STATE_DIM, ACTION_DIM, instruction_tokens=instruction)
    got = measured_step(policy, batch)
    assert (plan.weights, plan.gradients, plan.optimizer) == (
        got["weights"],
        got["gradients"],
        got["optimizer"],
    )
    ratio = 8 * plan.activations / got["activations"]
    assert 0.7 < ratio < 1.3, (
        f"activations estimated {8 * plan.activations} B, measured {got['activations']} B"
    )


@pytest.mark.parametrize(("family", "image_size", "frame"), [
    ("smolvlm", 48, 64), ("paligemma", None, 64), ("qwen2_5_vl", 56, 64),
])  # fmt: skip
@pytest.mark.parametrize("decoder", ["parallel", "ar"])
def test_tokens_and_parameters_are_exact(stats, tmp_path, family, image_size, frame, decoder):
    """From the checkpoint's own config.json (on disk), LoRA included: tokens per sample equal the
    training sequence, parameter counts equal the built policy's."""
    path = save_tiny_family(family, tmp_path / family)
    backbone = {"name": family, "pretrained": str(path), "image_size": image_size}
    backbone |= {"lora_rank": 4, "freeze_lm": True, "freeze_vision": True}
    policy, cfg = build(stats, backbone, decoder)
    mb = policy._model_batch({**make_batch(1, chunk=10, image_size=frame), "task": [TASK]})
    ids, _, _ = policy.model.build_prompt(mb["images"], mb["state"], mb["task"])
    suffix = policy.model.num_slots - (decoder == "ar")
    instruction = len(policy.model.backbone.text_ids(TASK))
    plan = plan_vla(
        cfg, [(frame, frame)] * len(CAMERAS), STATE_DIM, ACTION_DIM, instruction_tokens=instruction
    )
    assert plan.tokens == ids.shape[1] + suffix
    params = list(policy.model.parameters())
    assert plan.total_params == sum(p.numel() for p in params)
    assert plan.trainable_params == sum(p.numel() for p in params if p.requires_grad)


def test_presets_are_sized_without_their_weights():
    """The numbers docs/model.md quotes: the presets' architectures (weights not on disk)."""
    sizes = {}
    for name, pretrained in [("smolvlm2_256m", "HuggingFaceTB/SmolVLM2-256M-Video-Instruct"),
                             ("paligemma2_3b", "google/paligemma2-3b-pt-224")]:  # fmt: skip
        backbone = yaml.safe_load((Path(CONF_DIR) / "backbone" / f"{name}.yaml").read_text())
        cfg = VLAConfig.from_dict({"backbone": backbone, "cameras": list(CAMERAS)})
        sizes[name] = plan_vla(cfg, [(96, 96)] * 2, STATE_DIM, ACTION_DIM)
        assert pretrained in ARCHITECTURES
    assert 256e6 < sizes["smolvlm2_256m"].total_params < 258e6
    assert 3.0e9 < sizes["paligemma2_3b"].total_params < 3.1e9
    assert sizes["paligemma2_3b"].trainable_params < 0.01 * sizes["paligemma2_3b"].total_params  # LoRA
    assert sizes["paligemma2_3b"].image_tokens == 2 * 256 + 1
    assert sizes["paligemma2_3b"].max_batch(80) < sizes["smolvlm2_256m"].max_batch(24)
    assert sizes["paligemma2_3b"].total(1) > 5.5 * GIB  # bf16 weights alone are 5.7 GiB


@pytest.mark.parametrize(("family", "image_size"), [("paligemma", None), ("qwen2_5_vl", 56)])
def test_bf16_lora_weights_and_gradients_are_exact(stats, tmp_path, family, image_size):
    """The 3B presets' setting (bf16 weights, LoRA over a frozen LM): the adapters are bf16 too (peft
    follows its base layer), and the plan's bytes equal the built policy's."""
    path = save_tiny_family(family, tmp_path / family)
    backbone = {"name": family, "pretrained": str(path), "image_size": image_size, "dtype": "bfloat16"}
    backbone |= {"lora_rank": 4, "freeze_lm": True, "freeze_vision": True}
    policy, cfg = build(stats, backbone)
    plan = plan_vla(cfg, [(64, 64)] * len(CAMERAS), STATE_DIM, ACTION_DIM)
    params = list(policy.model.parameters())
    trainable = [p for p in params if p.requires_grad]
    assert {p.dtype for p in trainable} == {torch.bfloat16}
    assert plan.weights == tensor_bytes(params)
    assert plan.gradients == tensor_bytes(trainable) and plan.optimizer == 2 * plan.gradients
