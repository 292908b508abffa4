"""`vla train ... --dry-run` / `train.dry_run=true`: the CLI sends the command line to vla/apps/dry_run.py,
which prints the plan of vla/model/memory.py for the composed config and starts nothing."""

import sys

import pytest

from vla import cli


def test_vla_train_dry_run_sizes_a_preset_without_its_weights_or_a_dataset(tmp_path, capsys, monkeypatch):
    """The SmolVLM2-256M preset, weights not on disk, no dataset: the env gives 2 cameras at 96 px."""
    monkeypatch.chdir(tmp_path)  # anything written would land here
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # cli.main sets it, as Hydra apps need
    args = ["backbone=smolvlm2_256m", "train.batch_size=8", f"dataset.root={tmp_path}/none", "--dry-run"]
    cli.main(["train", *args])
    out = capsys.readouterr().out
    assert "architecture from vla/model/architectures.py (weights not on disk)" in out
    assert "257.1 M total" in out  # 256.5 M + the 574 new vocabulary rows (embedding, head)
    # 512 px, no splitting: per camera 64 tokens + 3 wrappers; 12 instruction, 6 state, <act_start>, 60 slots
    assert "tokens       213 per sample (134 image tokens)" in out
    assert "at batch 8" in out and "2 cameras (96x96, 96x96), state 6, action 6: from env" in out
    assert list(tmp_path.iterdir()) == []  # nothing recorded, no run dir


def test_train_dry_run_key_routes_too_and_a_bad_value_fails_with_its_key(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    cli.main(["train", "train.dry_run=true", f"dataset.root={tmp_path}/none"])
    assert "dry run: backbone tiny, architecture from the tiny config" in capsys.readouterr().out
    with pytest.raises(SystemExit, match=r"train\.batch_size"):
        cli.main(["train", "train.batch_size=0", "--dry-run"])


def test_dry_run_counts_the_scene_qa_samples_of_co_training(tmp_path, capsys, monkeypatch):
    """qa_fraction 0.5 adds as many QA samples as action samples: memory planned at twice the batch."""
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    args = [
        "train.batch_size=8",
        "train.cotrain.qa_fraction=0.5",
        f"dataset.root={tmp_path}/none",
        "--dry-run",
    ]
    cli.main(["train", *args])
    out = capsys.readouterr().out
    assert "at batch 16" in out
    assert (
        "co-training  batch 16 = 8 action + 8 scene-QA samples per step (train.cotrain.qa_fraction=0.5)"
        in out
    )
