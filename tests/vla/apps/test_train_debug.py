"""The `debug` experiment end to end with the real VLA policy: train a few steps, checkpoint, resume
exactly, evaluate in the sim, and evaluate the checkpoint twice with the same seeds."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from tests.vla.apps.conftest import compose_train
from vla import checkpoint as ckpt
from vla.apps.eval import evaluate, load_policy
from vla.apps.train import train
from vla.logging_utils import read_metrics
from vla.training.validate import ConfigError

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def debug_run(tmp_path_factory: pytest.TempPathFactory, debug_dataset: Path) -> Path:
    run = tmp_path_factory.mktemp("runs") / "straight"
    train(compose_train("experiment=debug", f"dataset.root={debug_dataset}", f"run_dir={run}"))
    return run


def test_debug_run_writes_checkpoints_metrics_plots_and_an_eval(debug_run: Path) -> None:
    root = debug_run / ckpt.CHECKPOINTS
    assert sorted(p.name for p in root.iterdir()) == ["last", "step_000002", "step_000004"]
    assert ckpt.resolve_checkpoint(debug_run).name == "step_000004"
    state = json.loads((root / "step_000004" / "training_state" / "state.json").read_text())
    assert state["step"] == 4 and {"epoch", "batch_in_epoch"} <= state.keys()
    records = read_metrics(debug_run)
    train_losses = [r["loss"] for r in records if r["split"] == "train"]
    assert len(train_losses) == 4 and all(torch.isfinite(torch.tensor(train_losses)))
    evals = [r for r in records if r["split"] == "eval"]
    report = json.loads((debug_run / "eval" / "step_000004" / "report.json").read_text())
    by_split = {r["split"]: r["success_rate"] for r in report["rows"]}
    assert len(evals) == 1 and evals[0]["success/train"] == by_split["train"]  # the metric is the report's
    assert report["rows"][0]["episodes"] == 1 and report["episodes"][0]["length"] <= 10
    assert (debug_run / "plots" / "loss.png").exists() and (debug_run / "plots" / "success.png").exists()
    assert (root / "step_000004" / "config.yaml").read_text().count("backbone:") >= 1


def test_resume_from_half_way_matches_the_straight_run(
    debug_run: Path, debug_dataset: Path, tmp_path: Path
) -> None:
    """4 steps straight == 2 steps + resume (from the step-2 checkpoint) + 2 steps: same weights (CPU)."""
    half = debug_run / ckpt.CHECKPOINTS / "step_000002"
    resumed = tmp_path / "resumed"
    train(
        compose_train(
            "experiment=debug",
            f"dataset.root={debug_dataset}",
            f"run_dir={resumed}",
            f"resume={half}",
            "train.eval_at_end=false",
        )
    )
    a = load_file(str(debug_run / ckpt.CHECKPOINTS / "step_000004" / "pretrained" / "model.safetensors"))
    b = load_file(str(resumed / ckpt.CHECKPOINTS / "step_000004" / "pretrained" / "model.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    first = load_file(str(half / "pretrained" / "model.safetensors"))
    assert not all(torch.equal(a[k], first[k]) for k in a)  # steps 3-4 changed the weights
    straight = [r["loss"] for r in read_metrics(debug_run) if r["split"] == "train"]
    again = [r["loss"] for r in read_metrics(resumed) if r["split"] == "train"]
    assert again == straight[2:]


def test_cli_resume_takes_the_run_settings_without_repeating_overrides(
    debug_run: Path, tmp_path: Path
) -> None:
    """`vla train resume=<ckpt>` alone: the experiment, dataset and step count come from the run's
    saved config (not conf/ defaults), and training continues where the run stopped."""
    half = debug_run / ckpt.CHECKPOINTS / "step_000002"
    resumed = tmp_path / "resumed"
    cmd = [
        sys.executable, "-m", "vla.cli", "train", f"resume={half}", f"run_dir={resumed}",
        "train.eval_at_end=false", "wandb.mode=disabled",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    output = proc.stdout + proc.stderr
    assert re.search(r"threads: torch \d+ of \d+ cores \(runtime.torch_threads=auto", output)  # at start-up
    warned = [line for line in output.splitlines() if "differ from the run's" in line]
    assert len(warned) == 1 and "train.eval_at_end" in warned[0]  # given here, and true in the run
    assert "train.steps" not in warned[0] and "dataset" not in warned[0]
    name = f"{ckpt.CHECKPOINTS}/step_000004/pretrained/model.safetensors"
    a, b = load_file(str(debug_run / name)), load_file(str(resumed / name))
    # the same continuation; not bit-equal here, as the child process may use another torch thread
    # count than this one (a different summation order: ~1e-8; exactness is tested in-process above)
    assert all(torch.allclose(a[k], b[k], rtol=0, atol=1e-6) for k in a)
    assert sorted(p.name for p in (resumed / ckpt.CHECKPOINTS).iterdir()) == ["last", "step_000004"]
    saved, again = (
        yaml.safe_load((run / name).parent.parent.joinpath("config.yaml").read_text())
        for run in (debug_run, resumed)
    )
    for config in (saved, again):  # what this command line set
        del config["resume"], config["run_dir"], config["train"]["eval_at_end"], config["wandb"]["mode"]
    assert again == saved


def test_resume_names_settings_that_differ_from_the_run(debug_run: Path, debug_dataset: Path) -> None:
    """From Python the composed cfg is taken as given: compared with the run's, never overwritten."""
    from vla.training.setup import inherit_run_config

    cfg = compose_train("experiment=debug", f"dataset.root={debug_dataset}", "train.steps=6")
    half = debug_run / ckpt.CHECKPOINTS / "step_000002"
    assert inherit_run_config(cfg, half) == ["train.steps"]
    assert cfg.train.steps == 6


def test_checkpoint_eval_is_deterministic(debug_run: Path, tmp_path: Path) -> None:
    policy, label = load_policy(str(debug_run), None)
    env = {"id": "vla/TouchCube-v0", "kwargs": {"image_size": 96, "cameras": ["front", "wrist"]}}
    cfg = {
        "n_episodes": 2, "n_envs": 2, "splits": ["heldout_phrasing"], "seed_base": 7, "max_steps": 6,
        "n_videos": 0, "video_size": 128,
    }  # fmt: skip
    first = evaluate(policy, label, env, cfg, tmp_path / "a")
    second = evaluate(policy, label, env, cfg, tmp_path / "b")
    assert first["episodes"] == second["episodes"] and first["rows"] == second["rows"]
    assert first["latency"]["calls"] >= 1


def test_eval_n_action_steps_overrides_the_checkpoint(debug_run: Path, tmp_path: Path) -> None:
    """eval.n_action_steps=1 re-plans every step: one inference call per env step (closed loop)."""
    policy, label = load_policy(str(debug_run), None)
    env = {"id": "vla/TouchCube-v0", "kwargs": {"image_size": 96, "cameras": ["front", "wrist"]}}
    cfg = {
        "n_episodes": 1, "n_envs": 1, "splits": ["train"], "seed_base": 7, "max_steps": 5,
        "n_videos": 0, "video_size": 128, "n_action_steps": 1,
    }  # fmt: skip
    own = policy.n_action_steps
    report = evaluate(policy, label, env, cfg, tmp_path / "closed_loop")
    assert report["latency"]["calls"] == sum(e["length"] for e in report["episodes"]) == 5
    assert policy.n_action_steps == own  # restored: training's periodic evals leave the policy as it was
    with pytest.raises(ConfigError, match="chunk_size"):
        evaluate(policy, label, env, {**cfg, "n_action_steps": 99}, tmp_path / "bad")


def test_probe_gives_the_loss_with_each_input_swapped(debug_run: Path, debug_dataset: Path) -> None:
    from vla.apps.probe import probe

    results = probe(str(debug_run), str(debug_dataset), num_samples=8)
    assert set(results) == {"episode starts", "random frames"}
    for losses in results.values():
        assert list(losses) == [
            "as is", "images.front swapped", "images.wrist swapped", "state swapped", "task swapped"
        ]  # fmt: skip
        assert all(torch.isfinite(torch.tensor(list(losses.values()))))
    frames = results["random frames"]
    assert frames["state swapped"] != frames["as is"]  # the swap reached the model: other state tokens
