"""How scene questions are put to a backbone (vla/model/families.py, QAFormat): a checkpoint's own chat
template when it ships one, PaliGemma's VQA prefix, plain text otherwise. Real tiny checkpoints of the
three families, saved with save_pretrained (the SmolVLM one with SmolVLM2's template as transformers
defines it, the Qwen one with Qwen2.5-VL's template abridged to images and text), loaded as `vla` loads
a hub checkpoint."""

import pytest
import torch
from transformers import PreTrainedTokenizerFast
from transformers.models.smolvlm.processing_smolvlm import DEFAULT_CHAT_TEMPLATE as SMOLVLM2_TEMPLATE

from policies.vla.policy import VLAPolicy
from tests.vla.model.conftest import ACTION_DIM, CAMERAS, STATE_DIM
from tests.vla.model.test_families import IMAGE_SIZE
from tests.vla.model.tiny_families import save_tiny_family
from vla.model import qa
from vla.model.families import GENERIC, PALIGEMMA, PLAIN, QAFormat, qa_format
from vla.model.tiny_tokenizer import ASSET as TINY_TOKENIZER_FILE

QWEN25_VL_TEMPLATE = (  # Qwen2.5-VL-Instruct's chat_template, without its video and vision-id branches
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n{% else %}"
    "{% for content in message['content'] %}{% if content['type'] == 'image' %}"
    "<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] == 'text' %}{{ content['text'] }}"
    "{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CHATML_TEXT = (  # a text-only template: content is a string
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
QUESTION = "what colour is the cube on the left?"
FORMATS = {
    "smolvlm": (
        SMOLVLM2_TEMPLATE,
        QAFormat(lead="<|im_start|>User:", cue="<end_of_utterance>\nAssistant:", answer_prefix=" "),
    ),
    "qwen2_5_vl": (
        QWEN25_VL_TEMPLATE,
        QAFormat(
            lead="<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n",
            cue="<|im_end|>\n<|im_start|>assistant\n",
            answer_prefix="",
        ),
    ),
    "paligemma": (None, QAFormat(question="answer en {}", cue="", answer_prefix="")),
}


def _tokenizer(template: str | None) -> PreTrainedTokenizerFast:
    tok = PreTrainedTokenizerFast(tokenizer_file=str(TINY_TOKENIZER_FILE), eos_token="<|endoftext|>")
    tok.chat_template = template
    return tok


def test_without_a_template_the_family_format_or_plain_text() -> None:
    assert qa_format(_tokenizer(None), GENERIC) == PLAIN
    assert qa_format(_tokenizer(None), PALIGEMMA) == PALIGEMMA.qa
    assert PLAIN.cue == "Answer:" and PLAIN.answer_prefix == " "  # the tiny backbones, as before formats


def test_a_text_only_template_is_read_from_its_string_form() -> None:
    """A template that concatenates content as a string fails on content parts: the string form is used."""
    fmt = qa_format(_tokenizer(CHATML_TEXT), GENERIC)
    assert fmt == QAFormat(
        lead="<|im_start|>user\n", cue="<|im_end|>\n<|im_start|>assistant\n", answer_prefix=""
    )


@pytest.mark.parametrize("family", FORMATS)
def test_a_checkpoint_is_asked_in_its_own_format(family: str, tmp_path, stats) -> None:
    """The format read from the saved checkpoint, the prompt it gives (one bos), the answer's tokens,
    and a QA loss that trains through it."""
    template, expected = FORMATS[family]
    path = save_tiny_family(family, tmp_path / family, chat_template=template)
    backbone = {"name": family, "pretrained": str(path), "image_size": IMAGE_SIZE[family]}
    policy = VLAPolicy.from_config(
        {"backbone": backbone, "chunk_size": 4, "n_action_steps": 4}, stats, CAMERAS, STATE_DIM, ACTION_DIM
    )
    model, bb = policy.model, policy.model.backbone
    assert bb.qa_format == expected
    images = [
        torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(i)) for i in range(len(CAMERAS))
    ]
    ids, mask, _ = qa.qa_prompt(model, images, [QUESTION])
    prompt = bb.tokenizer.decode(ids[0][mask[0].bool()])
    assert prompt.startswith(expected.lead)
    assert prompt.endswith(expected.question.format(QUESTION) + (bb.facts.separator or "") + expected.cue)
    if expected.lead and (bos := bb.tokenizer.bos_token):
        assert prompt.count(bos) == expected.lead.count(bos)  # the image part's own bos is not repeated
    eos = bb.tokenizer.eos_token_id
    assert qa.answer_ids(model, ["red"])[0].tolist() == [*bb.text_ids(expected.answer_prefix + "red"), eos]
    opt = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    for _ in range(3):
        loss, _ = qa.qa_loss(model, images, [QUESTION], ["red"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0], losses
