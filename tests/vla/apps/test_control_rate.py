"""The env's control_hz through the apps: `vla record env.kwargs.control_hz=30` writes a 30 fps dataset
that the loader chunks at 30 fps, and `vla eval` takes the env's step limit and video rate at 30 Hz."""

from pathlib import Path

import av
import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from vla.apps.eval import evaluate, load_policy
from vla.apps.record import record_dataset
from vla.config import CONF_DIR
from vla.constants import ACTION
from vla.data import meta
from vla.data.dataset import make_dataset
from vla.data.stats import read_vectors

pytestmark = pytest.mark.filterwarnings("ignore:Cannot enable progress bars")  # lerobot vs our quiet default


def _env_config(*overrides: str) -> dict:
    """conf/record.yaml's env group with command-line overrides, as `vla record` composes it."""
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        cfg = compose("record", overrides=list(overrides))
    return OmegaConf.to_container(cfg.env, resolve=True)


def test_record_at_30_hz_writes_fps_30_and_the_loader_chunks_at_30_fps(tmp_path: Path) -> None:
    env = _env_config("env=touch_cube", "env.kwargs.control_hz=30", "env.kwargs.image_size=32")
    assert env["kwargs"]["control_hz"] == 30
    root = tmp_path / "touch30"
    record_dataset(env["id"], root, 2, "train", 0, env_kwargs=env["kwargs"], progress=False)
    info = meta.read_info(root)
    assert info["fps"] == 30
    lengths = [row["length"] for row in meta.read_sidecar(root)]
    assert all(8 <= n <= 18 for n in lengths), lengths  # ~3x the 3-6 steps of a 10 Hz TouchCube episode
    assert info["total_frames"] == sum(lengths)
    # the loader's action chunk is the next 4 recorded actions (delta_timestamps k / 30 s), in both modes
    actions = read_vectors(root, [ACTION])[ACTION]  # (N, 6)
    video = make_dataset(root, chunk_size=4, mode="video")
    assert video.dataset.delta_timestamps[ACTION] == pytest.approx([0, 1 / 30, 2 / 30, 3 / 30])
    memory = make_dataset(root, chunk_size=4, mode="memory")
    for dataset in (video, memory):
        np.testing.assert_allclose(np.asarray(dataset[0][ACTION]), actions[:4], atol=1e-6)


def test_eval_at_30_hz_uses_the_30_hz_step_limit_and_video_rate(tmp_path: Path) -> None:
    env = {"id": "vla/PickCube-v0", "kwargs": {"image_size": 32, "cameras": ["front"], "control_hz": 30}}
    cfg = {
        "n_episodes": 1, "n_envs": 1, "splits": ["train"], "seed_base": 500, "max_steps": None,
        "n_videos": 1, "video_size": 64,
    }  # fmt: skip
    policy, label = load_policy(None, "expert")
    report = evaluate(policy, label, env, cfg, tmp_path)
    assert report["max_steps"] == 150  # 5 s at 30 Hz (50 at 10 Hz)
    (episode,) = report["episodes"]
    assert episode["success"] and 20 <= episode["length"] <= 40  # ~3x a 10 Hz PickCube episode
    with av.open(report["files"]["videos"][0]) as container:
        assert container.streams.video[0].average_rate == 30
