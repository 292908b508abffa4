"""Bad input fails before any work, with an error naming the file or key and the fix (faults 14-15)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vla.constants import ACTION, OBS_STATE
from vla.data.checks import check_dataset
from vla.data.dataset import make_dataloader
from vla.data.meta import DatasetError
from vla.data.writer import Episode, EpisodeWriter, check_episode, make_features

pytestmark = pytest.mark.filterwarnings("ignore:Cannot enable progress bars")  # lerobot vs our quiet default


def _truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


@pytest.mark.parametrize("mode", ["memory", "video"])
def test_truncated_parquet_is_named(dataset_copy: Path, mode: str) -> None:
    bad = dataset_copy / "data/chunk-000/file-001.parquet"
    _truncate(bad)
    with pytest.raises(DatasetError, match=rf"{bad}.*truncated or corrupt.*re-record"):
        make_dataloader(dataset_copy, 4, 4, mode=mode)


@pytest.mark.parametrize("mode", ["memory", "video"])
def test_truncated_mp4_is_named(dataset_copy: Path, mode: str) -> None:
    bad = dataset_copy / "videos/observation.images.wrist/chunk-000/file-000.mp4"
    _truncate(bad)
    with pytest.raises(DatasetError, match=rf"{bad} \('observation.images.wrist'\) is truncated or corrupt"):
        make_dataloader(dataset_copy, 4, 4, mode=mode)


def test_missing_video_file_is_named(dataset_copy: Path) -> None:
    bad = dataset_copy / "videos/observation.images.front/chunk-000/file-001.mp4"
    bad.unlink()
    with pytest.raises(DatasetError, match=rf"{bad} \('observation.images.front'\) is missing"):
        check_dataset(dataset_copy)


def _edit_info(root: Path, edit: object) -> None:
    path = root / "meta/info.json"
    info = json.loads(path.read_text())
    edit(info)
    path.write_text(json.dumps(info))


def test_missing_feature_key_is_named(dataset_copy: Path) -> None:
    _edit_info(dataset_copy, lambda info: info["features"].pop(ACTION))
    with pytest.raises(DatasetError, match=r"has no feature 'action'.*re-record with `vla record`"):
        make_dataloader(dataset_copy, 4, 4)


def test_shape_mismatch_between_metadata_and_data_is_named(dataset_copy: Path) -> None:
    _edit_info(dataset_copy, lambda info: info["features"][OBS_STATE].update(shape=[7]))
    with pytest.raises(
        DatasetError, match=r"file-000.parquet: column 'observation.state' has 6 values.*shape \(7,\)"
    ):
        make_dataloader(dataset_copy, 4, 4)


def test_not_a_dataset_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"meta/info.json is missing.*not a LeRobotDataset v3 folder"):
        make_dataloader(tmp_path, 4, 4)


def test_cli_reports_a_corrupt_file_without_traceback(dataset_copy: Path) -> None:
    bad = dataset_copy / "data/chunk-000/file-000.parquet"
    _truncate(bad)
    run = subprocess.run(
        [sys.executable, "-m", "vla.cli", "dataset", "check", str(dataset_copy)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert f"{bad} is truncated or corrupt" in run.stderr


def _episode(n: int = 3, size: int = 8) -> Episode:
    rng = np.random.default_rng(0)
    images = {"front": rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8)}
    return Episode(images, np.zeros((n, 6), np.float32), np.zeros((n, 6), np.float32), "touch the red cube")


def test_writer_rejects_bad_episodes_naming_the_key() -> None:
    features = make_features({"front": (8, 8, 3)}, 6, 6)
    bad = _episode(size=16)
    with pytest.raises(
        ValueError, match=r"'observation.images.front' has shape \(3, 16, 16, 3\).*expects \(3, 8, 8, 3\)"
    ):
        check_episode(bad, features)
    bad = _episode()
    bad.action[1, 2] = np.nan
    with pytest.raises(ValueError, match="'action' contains NaN/Inf"):
        check_episode(bad, features)
    bad = _episode()
    bad.images["wrist"] = bad.images["front"]
    with pytest.raises(ValueError, match="do not match the dataset features"):
        check_episode(bad, features)


def test_second_writer_on_the_same_root_is_refused(tmp_path: Path) -> None:
    features = make_features({"front": (8, 8, 3)}, 6, 6)
    with (
        EpisodeWriter(tmp_path / "ds", 10, features),
        pytest.raises(RuntimeError, match="another process is writing"),
    ):
        EpisodeWriter(tmp_path / "ds", 10, features)
