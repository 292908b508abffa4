"""Scene QA on the real architectures of the three families (tiny random weights, written with
save_pretrained as a hub snapshot looks): the QA loss trains, ignores padding, and the KV-cached answer
(PaliGemma: bidirectional prefix prefill, then causal steps) equals greedy decoding by full uncached
forwards."""

import pytest
import torch

from policies.vla.policy import VLAPolicy
from tests.vla.model.conftest import ACTION_DIM, CAMERAS, STATE_DIM
from tests.vla.model.test_families import IMAGE_SIZE
from tests.vla.model.tiny_families import TINY_FAMILIES, save_tiny_family
from vla.model import qa
from vla.model.decode import greedy_decode

QUESTIONS = ["what colour is the cube on the left?", "how many cubes?"]
ANSWERS = ["red", "three cubes of three colours"]  # different lengths: the answers are right-padded


@pytest.fixture(scope="module", params=TINY_FAMILIES)
def family_policy(request, tmp_path_factory, stats) -> VLAPolicy:
    path = save_tiny_family(request.param, tmp_path_factory.mktemp(request.param))
    torch.manual_seed(0)
    backbone = {"name": request.param, "pretrained": str(path), "image_size": IMAGE_SIZE[request.param]}
    cfg = {"backbone": backbone, "chunk_size": 4, "n_action_steps": 4}
    return VLAPolicy.from_config(cfg, stats, CAMERAS, STATE_DIM, ACTION_DIM)


def _images(seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.rand(2, 3, 64, 64, generator=gen) for _ in CAMERAS]


def test_qa_loss_ignores_padding_and_trains(family_policy: VLAPolicy) -> None:
    model, images = family_policy.model, _images()
    with torch.no_grad():
        together, _ = qa.qa_loss(model, images, QUESTIONS, ANSWERS)
        prefix = model.backbone.qa_format.answer_prefix  # PaliGemma's: none; the plain format's: a space
        counts = [len(model.backbone.text_ids(prefix + a)) + 1 for a in ANSWERS]
        alone = [
            qa.qa_loss(model, [x[i : i + 1] for x in images], QUESTIONS[i : i + 1], ANSWERS[i : i + 1])[0]
            for i in range(2)
        ]
    assert torch.allclose(
        together, sum(c * a for c, a in zip(counts, alone, strict=True)) / sum(counts), atol=1e-4
    )
    params = [p for p in family_policy.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=3e-3)
    losses = []
    for _ in range(4):
        loss, _ = qa.qa_loss(model, images, QUESTIONS, ANSWERS)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0], losses


def test_cached_answers_equal_uncached_greedy(family_policy: VLAPolicy) -> None:
    model = family_policy.eval().model
    bb, images, steps = model.backbone, _images(1), 5
    ids, mask, pixels = qa.qa_prompt(model, images, QUESTIONS)
    never = lambda t: torch.zeros_like(t, dtype=torch.bool)  # noqa: E731  (all steps: compare every token)
    cached = greedy_decode(
        bb, ids, mask, pixels, steps, lambda h, _: bb.lm_logits(h).argmax(-1), lambda t: t, never
    )
    seq, msk, out = ids, mask, []
    with torch.no_grad():
        for _ in range(
            steps
        ):  # full forward each step: the prompt is the prefix, the answer so far the suffix
            hidden, _ = bb.hidden_states(seq, msk, pixels, prefix_len=ids.shape[1])
            token = bb.lm_logits(hidden[:, -1]).argmax(-1)
            out.append(token)
            seq, msk = torch.cat([seq, token[:, None]], 1), torch.cat([msk, torch.ones_like(msk[:, :1])], 1)
    assert torch.equal(cached, torch.stack(out, 1))


def test_lora_adapters_learn_answers_and_their_checkpoint_answers_the_same(stats, tmp_path) -> None:
    """LoRA over a frozen LM (adapter checkpoints hold the trainable tensors only): the QA loss trains the
    adapters through the frozen LM head, and the reloaded adapter checkpoint answers the same."""
    from tests.vla.model.test_adapters import lora_backbone

    torch.manual_seed(0)
    path = save_tiny_family("smolvlm", tmp_path / "base")
    cfg = {"backbone": lora_backbone("smolvlm", path), "chunk_size": 4, "n_action_steps": 4}
    policy = VLAPolicy.from_config(cfg, stats, CAMERAS, STATE_DIM, ACTION_DIM)
    batch = {f"observation.images.{c}": x for c, x in zip(CAMERAS, _images(2), strict=True)}
    batch |= {qa.QUESTION: QUESTIONS, qa.ANSWER: ["red", "3"]}
    opt = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(30):
        loss, _ = policy.compute_qa_loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert policy.eval().answer_batch(batch) == ["red", "3"]
    policy.save_pretrained(tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / "adapter.safetensors").exists()
    assert VLAPolicy.from_pretrained(tmp_path / "ckpt").answer_batch(batch) == ["red", "3"]
