"""Scene question answering with the VLA (vla/model/qa.py, VLAPolicy.answer, `vla ask`): a tiny model
overfits four questions on two images and answers them through policy.answer, after a save/load round
trip, and through `vla ask`; the QA loss is on answer tokens only and ignores padding; answering never
writes the VLA's own tokens; a mixed batch trains both heads while the action loss stays what it was."""

import numpy as np
import pytest
import torch
from PIL import Image

from policies.vla.policy import VLAPolicy
from tests.vla.model.conftest import ACTION_DIM, CAMERAS, STATE_DIM, make_batch
from tests.vla.model.conftest import stats as stats  # the fixture
from vla.apps import ask
from vla.constants import image_key
from vla.model import qa
from vla.model.decode import greedy_decode

SIZE = 48
QUESTIONS = ("what colour is the cube on the left?", "how many cubes are there?")
ANSWERS = (("red", "3"), ("blue", "2"))  # image 0, image 1: four distinct answers


def build(stats, **cfg) -> VLAPolicy:
    torch.manual_seed(0)
    base = {"backbone": {"image_size": SIZE}, "chunk_size": 4, "n_action_steps": 4}
    return VLAPolicy.from_config({**base, **cfg}, stats, CAMERAS, STATE_DIM, ACTION_DIM)


def scenes() -> list[dict[str, np.ndarray]]:
    """Two scenes, each one (H, W, 3) uint8 image per camera (uint8 so that a png round trip is exact)."""
    rng = np.random.default_rng(0)
    return [{c: rng.integers(0, 256, (SIZE, SIZE, 3), np.uint8) for c in CAMERAS} for _ in range(2)]


def qa_batch(images: list[dict[str, np.ndarray]]) -> dict:
    """Every (scene, question) pair: 4 samples."""
    pairs = [(s, q) for s in range(len(images)) for q in range(len(QUESTIONS))]
    batch = {
        image_key(c): torch.stack([torch.from_numpy(images[s][c]).permute(2, 0, 1) for s, _ in pairs]) / 255.0
        for c in CAMERAS
    }
    batch[qa.QUESTION] = [QUESTIONS[q] for _, q in pairs]
    batch[qa.ANSWER] = [ANSWERS[s][q] for s, q in pairs]
    return batch


@pytest.fixture(scope="module")
def overfit(tmp_path_factory: pytest.TempPathFactory, stats) -> tuple[VLAPolicy, list, object]:
    """A tiny policy trained on the QA pairs alone until they are learnt, saved as <tmp>/pretrained."""
    torch.set_num_threads(1)
    policy, images = build(stats), scenes()
    batch = qa_batch(images)
    opt = torch.optim.AdamW(policy.parameters(), lr=3e-3)
    for _ in range(40):  # ~25 steps reach token accuracy 1 (measured); 40 leaves a margin
        loss, metrics = policy.compute_qa_loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert metrics["qa_token_acc"] == 1.0, metrics
    path = tmp_path_factory.mktemp("qa") / "pretrained"
    policy.eval().save_pretrained(path)
    return policy, images, path


def test_a_tiny_model_overfits_four_questions_and_answers_them(overfit) -> None:
    policy, images, _ = overfit
    for s, scene in enumerate(images):
        obs = {image_key(c): img for c, img in scene.items()}
        assert [policy.answer(obs, q) for q in QUESTIONS] == list(ANSWERS[s])
    batch = qa_batch(images)
    assert policy.answer_batch(batch) == batch[qa.ANSWER]  # batched: left-padded prompts, same answers


def test_checkpoint_round_trip_answers_the_same(overfit) -> None:
    policy, images, path = overfit
    loaded = VLAPolicy.from_pretrained(path)
    batch = qa_batch(images)
    assert loaded.answer_batch(batch) == policy.answer_batch(batch) == batch[qa.ANSWER]


def test_vla_ask_answers_from_png_files(overfit, tmp_path, capsys) -> None:
    _, images, path = overfit
    pngs = {}
    for c, img in images[1].items():
        pngs[c] = tmp_path / f"{c}.png"
        Image.fromarray(img).save(pngs[c])
    argv = [f"policy_path={path}", f"image.front={pngs['front']}", f"image.wrist={pngs['wrist']}"]
    ask.main([*argv, f"question={QUESTIONS[0]}"])
    ask.main([*argv, f"question={QUESTIONS[1]}", "max_new_tokens=4"])
    assert capsys.readouterr().out.split() == list(ANSWERS[1])
    with pytest.raises(SystemExit, match=r"2 cameras .* image.front=<png> image.wrist=<png>"):
        ask.main([f"policy_path={path}", f"image={pngs['front']}", "question=how many cubes?"])


def test_ask_reads_any_question_text_verbatim() -> None:
    args = ask.parse_args(["policy_path=p", "image=a.png", "question=is the red cube, or 'the' blue = left?"])
    assert args["question"] == "is the red cube, or 'the' blue = left?" and args["images"] == {"": "a.png"}
    with pytest.raises(ask.AskError, match="unknown key 'qestion'"):
        ask.parse_args(["policy_path=p", "image=a.png", "qestion=x"])


def test_qa_loss_is_on_answer_tokens_only_and_ignores_padding(stats) -> None:
    """The loss of a batch whose answers differ in length (left-padded prompts of differing questions,
    right-padded answers) is the token-weighted mean of each sample's loss alone."""
    policy = build(stats).eval()
    batch = qa_batch(scenes())
    batch[qa.QUESTION][1] = "how many cubes are there on the table in front of the robot?"
    batch[qa.ANSWER][1] = "three cubes of three colours"
    model = policy.model
    images = policy._images(batch)
    with torch.no_grad():
        together, _ = qa.qa_loss(model, images, batch[qa.QUESTION], batch[qa.ANSWER])
        alone, counts = [], []
        for i in range(4):
            loss, _ = qa.qa_loss(
                model, [x[i : i + 1] for x in images], [batch[qa.QUESTION][i]], [batch[qa.ANSWER][i]]
            )
            alone.append(loss)
            counts.append(int((qa.answer_ids(model, [batch[qa.ANSWER][i]]) != -100).sum()))
    expected = sum(c * loss for c, loss in zip(counts, alone, strict=True)) / sum(counts)
    assert torch.allclose(together, expected, atol=1e-5)
    ids = qa.answer_ids(model, ["red"])[0]
    assert ids[-1] == model.backbone.tokenizer.eos_token_id  # the answer ends with eos


def test_answers_never_use_the_vla_tokens_and_decode_as_uncached(stats) -> None:
    """The LM head over the backbone's own vocabulary: action/query/state tokens at -inf; the lean KV-cached
    answer equals transformers' cached forward."""
    policy = build(stats, decoder="ar").eval()
    bb = policy.model.backbone
    logits = bb.lm_logits(torch.randn(3, bb.hf.config.get_text_config().hidden_size))
    assert torch.isinf(logits[:, bb.added_ids]).all() and torch.isfinite(logits[:, : min(bb.added_ids)]).all()
    batch = qa_batch(scenes())
    ids, mask, pixels = qa.qa_prompt(policy.model, policy._images(batch), batch[qa.QUESTION])
    eos = bb.tokenizer.eos_token_id
    runs = [
        greedy_decode(
            bb,
            ids,
            mask,
            pixels,
            6,
            choose=lambda h, _: bb.lm_logits(h).argmax(-1),
            to_ids=lambda t: t,
            ends=lambda t: t == eos,
            lean=lean,
        )
        for lean in (True, False)
    ]
    assert torch.equal(runs[0], runs[1])
    assert not set(runs[0].flatten().tolist()) & set(bb.added_ids)


def test_a_mixed_batch_trains_both_heads_and_keeps_the_action_loss(stats) -> None:
    """compute_loss(action batch + "qa") = action loss (unchanged) + n_qa / n_action x QA loss; a few
    steps lower both; actions still decode to valid chunks."""
    policy = build(stats)
    action = make_batch(4, chunk=4, image_size=SIZE, seed=3)
    mixed = {**action, qa.QA_BATCH: qa_batch(scenes())}
    with torch.no_grad():
        only_actions, plain = policy.compute_loss(action)
        total, metrics = policy.compute_loss(mixed)
    assert metrics["action_loss"] == plain["loss"] == float(only_actions)
    assert torch.allclose(total, only_actions + 4 / 4 * torch.tensor(metrics["qa_loss"]))
    assert set(plain) == {"loss", "token_acc"}  # action-only metrics as before
    opt = torch.optim.AdamW(policy.parameters(), lr=3e-3)
    history = []
    for _ in range(6):
        loss, metrics = policy.compute_loss(mixed)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append((metrics["action_loss"], metrics["qa_loss"]))
    assert all(np.isfinite(history).flat)
    assert history[-1][0] < history[0][0] and history[-1][1] < history[0][1], history
    chunk = policy.eval().predict_batch(action)
    assert chunk.shape == (4, 4, ACTION_DIM) and np.isfinite(chunk).all()


def test_answer_length_is_capped(stats) -> None:
    policy = build(stats).eval()
    obs = {image_key(c): img for c, img in scenes()[0].items()}
    assert isinstance(policy.answer(obs, QUESTIONS[0], max_new_tokens=2), str)
    with pytest.raises(ValueError, match="max_new_tokens=0"):
        policy.answer(obs, QUESTIONS[0], max_new_tokens=0)
