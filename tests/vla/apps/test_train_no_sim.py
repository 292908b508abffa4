"""`vla train env=none`: a dataset written by lerobot's own writer in the shape of a real SO-101 recording
(two cameras `laptop` and `phone`, 6 joints, 30 fps, lerobot's default encoding), trained on with no
simulator and evaluated offline on a held-out episode; a dataset error reaches the CLI user without a
traceback. The fast suite uses 96x128 cameras; the slow one the real 480x640."""

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.vla.apps.conftest import compose_train
from tests.vla.lerobot_datasets import SO101_NAMES, write_so101_dataset
from vla import checkpoint as ckpt
from vla.apps.train import train
from vla.data.dataset import make_dataset
from vla.logging_utils import read_metrics
from vla.training.offline_eval import heldout_episodes
from vla.training.validate import ConfigError

pytestmark = pytest.mark.filterwarnings("ignore:Cannot enable progress bars")


@pytest.fixture(scope="module")
def so101(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small cameras: the same code path as a real recording at a fraction of the encoding time."""
    root = tmp_path_factory.mktemp("so101") / "so101"
    return write_so101_dataset(root, episodes=3, frames=10, height=96, width=128)


@pytest.fixture(scope="module")
def so101_full(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real SO-101's camera size: two 480x640 cameras."""
    return write_so101_dataset(tmp_path_factory.mktemp("so101") / "so101_full", episodes=3, frames=10)


def _config(root: Path, run: Path, *extra: str):
    return compose_train(
        "env=none", f"dataset.root={root}", f"run_dir={run}", "train.steps=3", "train.batch_size=4",
        "train.warmup_steps=1", "train.log_every=1", "train.save_every=3", "wandb.mode=disabled",
        "eval.offline.heldout_episodes=1", *extra,
    )  # fmt: skip


def test_heldout_episodes_are_spread_over_the_recording() -> None:
    assert heldout_episodes(10, 0.1) == [4] and heldout_episodes(10, 3) == [2, 4, 7]
    assert heldout_episodes(3, 1) == [1] and heldout_episodes(5, 0) == []
    with pytest.raises(ValueError, match="leaves none to train on"):
        heldout_episodes(1, 0.5)


def test_train_without_a_sim_on_a_lerobot_so101_recording(
    so101: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _train_and_check(so101, tmp_path / "run", caplog)


@pytest.mark.slow
def test_train_without_a_sim_on_480x640_cameras(
    so101_full: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _train_and_check(so101_full, tmp_path / "run", caplog)


def _train_and_check(so101: Path, run: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        train(_config(so101, run))
    assert "is av1 with a keyframe every 2 frames" in caplog.text  # lerobot's default encoding is named
    from policies.registry import load_checkpoint

    policy = load_checkpoint(run / "checkpoints/last/pretrained")
    assert tuple(policy.cfg.cameras) == ("laptop", "phone") and policy.cfg.action_dim == 6
    assert ckpt.trained_fps(run / "checkpoints/last/pretrained") == 30  # vla deploy runs it at 30 Hz
    # the offline metrics are the policy's own predictions on the held-out episode 1, recomputed here
    (record,) = [r for r in read_metrics(run) if r["split"] == "eval"]
    held = make_dataset(so101, policy.cfg.chunk_size, episodes=[1])
    batch = held.__getitems__(list(range(len(held))))
    with torch.no_grad():
        err = policy.predict_batch(batch) - batch["action"].numpy()  # (10, T, 6)
    err = err[~batch["action_is_pad"].numpy()]
    for d, name in enumerate(SO101_NAMES):
        assert record[f"val/action_mse/{name}"] == pytest.approx(float((err[:, d] ** 2).mean()), rel=1e-4)
        assert record[f"val/action_l1/{name}"] == pytest.approx(float(np.abs(err[:, d]).mean()), rel=1e-4)
    assert 0 <= record["val/token_acc"] <= 1 and np.isfinite(record["val/loss"])
    out = run / "eval/step_000003"
    assert json.loads((out / "metrics.json").read_text())["val/action_mse"] == record["val/action_mse"]
    assert (out / "open_loop_episode_000001.png").stat().st_size > 10_000 and "shoulder_pan.pos" in (
        out / "report.md"
    ).read_text()


def test_cli_dataset_error_has_no_traceback_and_leaves_no_run_folder(so101: Path, tmp_path: Path) -> None:
    broken = Path(__import__("shutil").copytree(so101, tmp_path / "so101"))
    info = json.loads((broken / "meta/info.json").read_text())
    info["features"].pop("action")
    (broken / "meta/info.json").write_text(json.dumps(info))
    run = tmp_path / "hydra_run"
    proc = subprocess.run(
        [sys.executable, "-m", "vla.cli", "train", "env=none", f"dataset.root={broken}",
         f"hydra.run.dir={run}"], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert f"vla train: dataset error: {broken}/meta/info.json has no feature 'action'" in proc.stderr
    assert not run.exists()


def test_env_none_without_a_dataset_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"env=none has no simulator to record one.*LeRobotDataset v3"):
        train(_config(tmp_path / "nothing", tmp_path / "run"))
    assert not (tmp_path / "run").exists()
