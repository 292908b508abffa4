"""Co-training with scene questions on a real recorded dataset (train.cotrain.qa_fraction), QA accuracy in
`vla eval` (eval.qa_dataset), `vla ask` on a trained run, and the config errors.

The QA rows are written here with write_qa (the generator, `vla dataset qa`, is tested on its own): two
frames per episode, one question type per split, answers that differ between the episodes."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from tests.vla.apps.conftest import compose_train
from vla import checkpoint as ckpt
from vla.apps import ask
from vla.apps.train import train
from vla.data.dataset import make_dataset
from vla.data.qa_format import write_qa
from vla.logging_utils import read_metrics
from vla.training.cotrain import QABatches, qa_count
from vla.training.validate import ConfigError

QUICK = ("experiment=debug", "train.eval_at_end=false")


def qa_rows(episodes: int = 2) -> pd.DataFrame:
    rows = []
    for ep in range(episodes):
        for frame in (0, 2):
            rows.append((ep, frame, "colour", "train", "what colour is the target?", ["red", "blue"][ep % 2]))
            rows.append((ep, frame, "count", "heldout", "count the cubes", "3"))
    return pd.DataFrame(rows, columns=["episode_index", "frame_index", "type", "split", "question", "answer"])


@pytest.fixture(scope="module")
def qa_dataset(debug_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = Path(shutil.copytree(debug_dataset, tmp_path_factory.mktemp("qa") / "touch2"))
    write_qa(root, qa_rows())
    return root


@pytest.fixture(scope="module")
def cotrained(qa_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 debug steps at qa_fraction 0.5, evaluated at the end with the dataset's questions."""
    run = tmp_path_factory.mktemp("runs") / "cotrain"
    train(
        compose_train(
            "experiment=debug", f"dataset.root={qa_dataset}", f"run_dir={run}",
            "train.cotrain.qa_fraction=0.5", f"eval.qa_dataset={qa_dataset}", "eval.qa_max_rows=6",
        )
    )  # fmt: skip
    return run


def _losses(run: Path) -> list[float]:
    return [r["loss"] for r in read_metrics(run) if r["split"] == "train"]


def test_cotraining_logs_both_losses_and_evaluates_qa_accuracy(cotrained: Path) -> None:
    records = [r for r in read_metrics(cotrained) if r["split"] == "train"]
    assert len(records) == 4
    for r in records:
        assert {"action_loss", "qa_loss", "qa_token_acc"} <= r.keys()
        assert r["loss"] == pytest.approx(
            r["action_loss"] + 1.0 * r["qa_loss"], rel=1e-5
        )  # 4 QA per 4 actions
    report = json.loads((cotrained / "eval" / "step_000004" / "report.json").read_text())
    rows = {(r["split"], r["type"]): r for r in report["qa"]["rows"]}
    assert set(rows) == {("train", "colour"), ("train", "all"), ("heldout", "count"), ("heldout", "all")}
    assert sum(rows[(s, "all")]["questions"] for s in ("train", "heldout")) == 6  # eval.qa_max_rows
    assert all(r["ci95_low"] - 1e-9 <= r["accuracy"] <= r["ci95_high"] + 1e-9 for r in rows.values())
    assert len(report["qa"]["answers"]) == 6 and report["rows"][0]["episodes"] == 1  # task success as before
    markdown = (cotrained / "eval" / "step_000004" / "report.md").read_text()
    assert "| split | type | accuracy | 95% CI (Wilson) | questions |" in markdown
    assert "| task | split | success |" in markdown
    evals = [r for r in read_metrics(cotrained) if r["split"] == "eval"]
    assert {"qa_accuracy/train", "qa_accuracy/heldout", "success/train"} <= evals[0].keys()
    summary = next(r for r in read_metrics(cotrained) if r["split"] == "summary")
    assert summary["qa_samples_per_step"] == 4  # counted in samples_per_s beside the 4 action samples


def test_resume_draws_the_same_qa_samples(cotrained: Path, qa_dataset: Path, tmp_path: Path) -> None:
    """4 co-trained steps straight == 2 steps + resume + 2 steps: same weights, same losses."""
    half = cotrained / ckpt.CHECKPOINTS / "step_000002"
    resumed = tmp_path / "resumed"
    cotrain = "train.cotrain.qa_fraction=0.5"  # train() from Python inherits nothing: give the run's setting
    train(
        compose_train(*QUICK, cotrain, f"dataset.root={qa_dataset}", f"run_dir={resumed}", f"resume={half}")
    )
    weights = [
        load_file(str(run / ckpt.CHECKPOINTS / "step_000004" / "pretrained" / "model.safetensors"))
        for run in (cotrained, resumed)
    ]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert _losses(resumed) == _losses(cotrained)[2:]


def test_vla_ask_answers_with_a_cotrained_run(
    cotrained: Path, qa_dataset: Path, tmp_path: Path, capsys
) -> None:
    batch = make_dataset(qa_dataset, chunk_size=1).__getitems__([0])
    pngs = []
    for cam in ("front", "wrist"):
        pixels = (batch[f"observation.images.{cam}"][0].permute(1, 2, 0) * 255).round().byte().numpy()
        pngs.append(f"image.{cam}={tmp_path / cam}.png")
        Image.fromarray(pixels).save(tmp_path / f"{cam}.png")
    ask.main([f"policy_path={cotrained}", *pngs, "question=what colour is the target?", "max_new_tokens=3"])
    assert len(capsys.readouterr().out.splitlines()) == 1  # 4 steps learn little: an answer, not a right one


def test_qa_batches_draw_train_rows_by_step_alone(qa_dataset: Path) -> None:
    dataset = make_dataset(qa_dataset, chunk_size=10)
    source = QABatches(dataset, [qa_dataset], None, size=5, seed=0)
    assert set(source.rows["split"]) == {"train"} and len(source.rows) == 4  # held-out templates never
    first, again, other = source(7), source(7), source(8)
    assert first["question"] == again["question"] and first["answer"] == again["answer"]
    assert (first["observation.images.front"] == again["observation.images.front"]).all()
    assert first["observation.images.front"].shape == (5, 3, 96, 96) and len(other["answer"]) == 5
    # a row's sample is its frame in the training dataset: episode 1, frame 2 = the 3rd row of episode 1
    row = source.rows[(source.rows["episode_index"] == 1) & (source.rows["frame_index"] == 2)].iloc[0]
    assert row["sample"] == int(dataset.frames.ep_start.max()) + 2
    assert qa_count(32, 0.2) == 8 and qa_count(4, 0.01) == 1


def test_held_out_episodes_are_left_out_of_qa(qa_dataset: Path) -> None:
    dataset = make_dataset(qa_dataset, chunk_size=10, episodes=[1])
    source = QABatches(dataset, [qa_dataset], [1], size=2, seed=0)
    assert set(source.rows["episode_index"]) == {1}
    assert source.rows["sample"].max() < len(dataset)


def test_episodes_appended_after_the_qa_file_are_named_with_the_fix(
    debug_dataset: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`vla record` appended episode 1 after `vla dataset qa` ran: its frames train actions, it has no
    questions, and the warning names it and the command that regenerates the file."""
    root = Path(shutil.copytree(debug_dataset, tmp_path / "appended"))
    write_qa(root, qa_rows(episodes=1))
    dataset = make_dataset(root, chunk_size=10)
    with caplog.at_level("WARNING", logger="vla.training.qa_data"):
        source = QABatches(dataset, [root], None, size=2, seed=0)
    assert set(source.rows["episode_index"]) == {0}
    assert "no questions for 1 of 2 episodes (1)" in caplog.text and f"vla dataset qa {root}" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="vla.training.qa_data"):
        QABatches(make_dataset(root, chunk_size=10, episodes=[0]), [root], [0], size=2, seed=0)
    assert caplog.text == ""  # episode 1 is not trained on: nothing is missing


def test_qa_fraction_zero_ignores_the_qa_file_bit_for_bit(
    qa_dataset: Path, debug_dataset: Path, tmp_path: Path
) -> None:
    """qa_fraction=0 (the default): the same losses with or without a QA file, and no QA metric."""
    with_file, without = tmp_path / "with", tmp_path / "without"
    train(compose_train(*QUICK, f"dataset.root={qa_dataset}", f"run_dir={with_file}"))
    train(compose_train(*QUICK, f"dataset.root={debug_dataset}", f"run_dir={without}"))
    assert _losses(with_file) == _losses(without) and len(_losses(without)) == 4
    assert not any("qa_loss" in r for r in read_metrics(with_file))


def test_qa_fraction_without_a_qa_file_names_the_command(debug_dataset: Path, tmp_path: Path) -> None:
    cfg = compose_train(
        *QUICK, f"dataset.root={debug_dataset}", f"run_dir={tmp_path}", "train.cotrain.qa_fraction=0.3"
    )
    with pytest.raises(ConfigError, match=rf"vla dataset qa {debug_dataset}"):
        train(cfg)


@pytest.mark.parametrize("value", ["1.0", "-0.1"])
def test_bad_qa_fraction_is_rejected(value: str, qa_dataset: Path, tmp_path: Path) -> None:
    cfg = compose_train(
        *QUICK, f"dataset.root={qa_dataset}", f"run_dir={tmp_path}", f"train.cotrain.qa_fraction={value}"
    )
    with pytest.raises(ConfigError, match=r"train.cotrain.qa_fraction=.*must be in \[0, 1\)"):
        train(cfg)


def test_qa_accuracy_needs_a_policy_that_writes_text(qa_dataset: Path, tmp_path: Path) -> None:
    """A policy without text cannot answer: refused before any episode runs (eval), any step (train)."""
    from vla.apps.eval import evaluate

    eval_cfg = {"qa_dataset": str(qa_dataset), "n_episodes": 1, "seed_base": 0, "splits": ["train"]}
    with pytest.raises(ConfigError, match="expert writes no text"):
        evaluate(None, "expert", {"id": "vla/TouchCube-v0", "kwargs": {}}, eval_cfg, tmp_path)
    cfg = compose_train(
        *QUICK,
        "policy=act",
        f"dataset.root={qa_dataset}",
        f"eval.qa_dataset={qa_dataset}",
        f"run_dir={tmp_path}",
    )
    with pytest.raises(ConfigError, match="policy=act writes no text"):
        train(cfg)
