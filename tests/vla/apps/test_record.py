"""vla record: real PickCube/TouchCube envs + scripted expert -> LeRobotDataset files on disk."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.vla.conftest import ENV_ID, ENV_KWARGS
from vla.apps.record import record_dataset
from vla.apps.rollout import make_env, replay
from vla.constants import ACTION, OBS_STATE, image_key
from vla.data import meta, writer
from vla.data.memory import load_frames
from vla.data.stats import read_vectors

pytestmark = pytest.mark.filterwarnings("ignore:Cannot enable progress bars")  # lerobot vs our quiet default


def _episode_slices(root: Path) -> list[slice]:
    return [slice(e["dataset_from_index"], e["dataset_to_index"]) for e in meta.read_episodes(root)]


def test_lerobot_loads_what_we_recorded(recorded: Path) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ds = LeRobotDataset("local/pick", root=recorded)
    rows = meta.read_sidecar(recorded)
    assert ds.meta.total_episodes == 4 and ds.fps == 10
    assert len(ds) == ds.meta.total_frames == sum(r["length"] for r in rows)
    assert set(ds.meta.tasks.index) == {r["task"] for r in rows}
    item = ds[0]
    assert item[image_key("front")].shape == (3, 64, 64) and item[image_key("wrist")].shape == (3, 64, 64)
    assert item[OBS_STATE].shape == (6,) and item[ACTION].shape == (6,)
    assert item["task"] == rows[0]["task"]
    assert [e["episode_index"] for e in meta.read_episodes(recorded)] == [0, 1, 2, 3]


def test_sidecar_records_seed_env_and_success(recorded: Path) -> None:
    rows = meta.read_sidecar(recorded)
    assert [r["seed"] for r in rows] == [0, 1, 2, 3]
    assert all(r["env_id"] == ENV_ID and r["split"] == "train" and r["success"] for r in rows)
    assert [r["episode_index"] for r in rows] == [0, 1, 2, 3]


def test_replaying_actions_from_the_recorded_seed_reproduces_the_states(recorded: Path) -> None:
    data = read_vectors(recorded, [OBS_STATE, ACTION])
    env = make_env(ENV_ID, {**ENV_KWARGS, "split": "train"})
    for row, sl in zip(meta.read_sidecar(recorded), _episode_slices(recorded), strict=True):
        states = replay(env, row["seed"], data[ACTION][sl])
        np.testing.assert_allclose(states, data[OBS_STATE][sl], atol=1e-6)
    env.close()


def _hashes(root: Path) -> dict[str, str]:
    files = [p for p in root.rglob("*") if p.is_file() and p.parts[len(root.parts)] in ("data", "videos")]
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_rerun_appends_continuing_seeds_without_touching_old_files(dataset_copy: Path) -> None:
    before = _hashes(dataset_copy)
    result = record_dataset(ENV_ID, dataset_copy, 2, "train", env_kwargs=ENV_KWARGS, progress=False)
    assert result.recorded == 2 and result.total_episodes == 6
    after = _hashes(dataset_copy)
    assert {k: after[k] for k in before} == before  # committed files are never rewritten
    assert [r["seed"] for r in meta.read_sidecar(dataset_copy)] == [0, 1, 2, 3, 4, 5]
    assert [e["episode_index"] for e in meta.read_episodes(dataset_copy)] == list(range(6))
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    assert LeRobotDataset("local/pick", root=dataset_copy).meta.total_episodes == 6


def test_explicit_seed_list_and_several_tasks(tmp_path: Path) -> None:
    tasks = [ENV_ID, "vla/TouchCube-v0"]
    result = record_dataset(tasks, tmp_path / "multi", 4, seeds=[7, 3], env_kwargs=ENV_KWARGS, progress=False)
    rows = meta.read_sidecar(tmp_path / "multi")
    assert result.recorded == 4
    assert [(r["env_id"], r["seed"]) for r in rows] == [
        (ENV_ID, 7),
        (tasks[1], 7),
        (ENV_ID, 3),
        (tasks[1], 3),
    ]
    assert set(meta.dataset_features(tmp_path / "multi").tasks) == {r["task"] for r in rows}


def test_appending_different_features_is_refused_before_any_work(dataset_copy: Path) -> None:
    before = _hashes(dataset_copy)
    with pytest.raises(
        ValueError, match=r"observation.images.front: dataset \(64, 64, 3\) vs now \(32, 32, 3\)"
    ):
        record_dataset(ENV_ID, dataset_copy, 1, env_kwargs={**ENV_KWARGS, "image_size": 32}, progress=False)
    assert _hashes(dataset_copy) == before


@pytest.mark.slow
def test_two_workers_write_the_same_dataset_as_one(recorded: Path, tmp_path: Path) -> None:
    record_dataset(
        ENV_ID, tmp_path / "w2", 4, "train", 0, env_kwargs=ENV_KWARGS, num_workers=2, progress=False
    )
    ours, theirs = (
        read_vectors(tmp_path / "w2", [OBS_STATE, ACTION]),
        read_vectors(recorded, [OBS_STATE, ACTION]),
    )
    for key in (OBS_STATE, ACTION):
        np.testing.assert_array_equal(ours[key], theirs[key])
    assert meta.read_sidecar(tmp_path / "w2") == meta.read_sidecar(recorded)


def test_video_files_roll_over_at_the_size_limit(recorded: Path, tmp_path: Path, monkeypatch) -> None:
    """lerobot rewrites the whole current video file to append an episode (quadratic in its length);
    VIDEO_FILE_MB caps the file. Episodes split over many files must decode to the same frames."""
    # the session dataset was written in two commits: create and resume both set the limit
    assert meta.read_info(recorded)["video_files_size_in_mb"] == writer.VIDEO_FILE_MB
    monkeypatch.setattr(writer, "VIDEO_FILE_MB", 1e-6)  # any episode fills a file: one file each
    record_dataset(ENV_ID, tmp_path / "split", 4, "train", 0, env_kwargs=ENV_KWARGS, progress=False)
    n_cameras = len(ENV_KWARGS["cameras"])
    assert len(list((tmp_path / "split").glob("videos/**/*.mp4"))) == 4 * n_cameras
    # the session dataset: a new file per commit (resume never appends to a committed file), 2 commits
    assert len(list(recorded.glob("videos/**/*.mp4"))) == 2 * n_cameras
    split, whole = load_frames(tmp_path / "split"), load_frames(recorded)
    for key, frames in whole.images.items():
        assert torch.equal(split.images[key], frames), key


def test_after_success_extends_each_demo_past_its_success(recorded: Path, tmp_path: Path) -> None:
    """The same seeds as `recorded` (which end on success) go on 0.5 s (5 steps at 10 Hz) past it: the
    frames up to success are the same, and the PickCube lift ends above the success height."""
    from envs.tabletop.pick_cube import LIFT_Z

    root = tmp_path / "after"
    record_dataset(ENV_ID, root, 2, "train", 0, env_kwargs=ENV_KWARGS, after_success_s=0.5, progress=False)
    ended, going_on = meta.read_sidecar(recorded)[:2], meta.read_sidecar(root)
    assert [r["length"] for r in going_on] == [r["length"] + 5 for r in ended]
    assert [r["success_step"] + 1 for r in going_on] == [r["length"] for r in ended]
    assert all(r["success"] and r["after_success_steps"] == 5 for r in going_on)
    old, new = read_vectors(recorded, [ACTION])[ACTION], read_vectors(root, [ACTION])[ACTION]
    env = make_env(ENV_ID, {**ENV_KWARGS, "split": "train"})
    for row, sl_old, sl_new in zip(ended, _episode_slices(recorded), _episode_slices(root), strict=False):
        np.testing.assert_array_equal(new[sl_new][: row["length"]], old[sl_old])
        replay(env, row["seed"], new[sl_new])
        assert env.unwrapped.data.body("cube0").xpos[2] > LIFT_Z + 0.01  # the lift finished above it
    env.close()


def test_after_success_out_of_range_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="after_success_s=-1"):
        record_dataset(ENV_ID, tmp_path / "x", 1, env_kwargs=ENV_KWARGS, after_success_s=-1, progress=False)
    assert not (tmp_path / "x").exists()
