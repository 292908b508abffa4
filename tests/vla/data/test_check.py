"""`vla dataset check`, the one validator (info, train and record call it): every problem at once, one line
each naming the file and the fix; lerobot's default encoding warned about and fixed by `reencode`."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.vla.lerobot_datasets import write_so101_dataset
from vla.constants import ACTION
from vla.data import meta
from vla.data.checks import check_dataset, find_problems
from vla.data.memory import load_frames
from vla.data.reencode import reencode
from vla.data.writer import EpisodeWriter

pytestmark = pytest.mark.filterwarnings("ignore:Cannot enable progress bars")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vla.cli", "dataset", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def lerobot_default(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """By lerobot's LeRobotDataset.create, in its default encoding (AV1, a keyframe every 2 frames)."""
    return write_so101_dataset(
        tmp_path_factory.mktemp("lerobot") / "so101", episodes=2, frames=8, height=64, width=96
    )


def test_lerobot_default_encoding_is_warned_about_and_reencode_fixes_it(
    lerobot_default: Path, tmp_path: Path
):
    root = Path(shutil.copytree(lerobot_default, tmp_path / "so101"))
    warnings = check_dataset(root)  # no error: the dataset trains, but leaks later frames into earlier ones
    assert len(warnings) == 2 and all("av1 with a keyframe every 2 frames" in w.message for w in warnings)
    assert all(f"fix: `vla dataset reencode {root}`" in w.message for w in warnings)
    before = load_frames(root)
    parquet = {p: p.read_bytes() for p in root.glob("data/**/*.parquet")}
    assert len(reencode(root)) == 2
    assert find_problems(root) == []
    after = load_frames(root)
    info = meta.read_info(root)["features"]["observation.images.laptop"]["info"]
    assert (info["video.codec"], info["video.g"]) == ("h264", 1)
    assert all(p.read_bytes() == data for p, data in parquet.items())  # the parquet files are untouched
    for key, frames in before.images.items():  # every frame at its index: the same picture, re-encoded
        diff = (frames.float() - after.images[key].float()).abs().mean(dim=(1, 2, 3))  # (N,)
        assert len(diff) == 16 and float(diff.max()) < 3.0, diff
    assert reencode(root) == []  # nothing left to do


def test_check_lists_every_problem_with_its_file(dataset_copy: Path) -> None:
    parquet = dataset_copy / "data/chunk-000/file-001.parquet"
    os.truncate(parquet, parquet.stat().st_size // 2)
    video = dataset_copy / "videos/observation.images.front/chunk-000/file-000.mp4"
    video.unlink()
    run = _cli("check", str(dataset_copy))
    assert run.returncode == 1 and "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 2, run.stderr
    assert f"{parquet} is truncated or corrupt" in lines[0] and "re-record the dataset or restore" in lines[0]
    assert f"{video} ('observation.images.front') is missing" in lines[1]


def test_info_fails_on_a_missing_video_and_check_on_a_missing_feature(dataset_copy: Path) -> None:
    (dataset_copy / "videos/observation.images.wrist/chunk-000/file-001.mp4").unlink()
    run = _cli("info", str(dataset_copy))
    assert run.returncode == 1 and "episodes  4" in run.stdout  # what can be shown is, then the problem
    assert "file-001.mp4 ('observation.images.wrist') is missing" in run.stderr


def test_a_dataset_without_action_is_ok_to_look_at_but_not_to_train_on(dataset_copy: Path) -> None:
    path = dataset_copy / "meta/info.json"
    info = json.loads(path.read_text())
    info["features"].pop(ACTION)
    path.write_text(json.dumps(info))
    run = _cli("check", str(dataset_copy))
    assert run.returncode == 1
    assert f"{path} has no feature 'action'" in run.stderr and "training needs" in run.stderr
    assert _cli("check", "--job", "info", str(dataset_copy)).returncode == 0


def test_truncated_episodes_metadata_is_named(dataset_copy: Path) -> None:
    bad = dataset_copy / "meta/episodes/chunk-000/file-000.parquet"
    os.truncate(bad, bad.stat().st_size // 2)
    with pytest.raises(meta.DatasetError, match=rf"{bad} is truncated or corrupt"):
        meta.read_episodes(dataset_copy)
    run = _cli("info", str(dataset_copy))
    assert (
        run.returncode == 1
        and f"{bad} is truncated or corrupt" in run.stderr
        and "Traceback" not in run.stderr
    )


def test_recording_refuses_to_append_to_a_broken_dataset(dataset_copy: Path) -> None:
    bad = dataset_copy / "data/chunk-000/file-000.parquet"
    os.truncate(bad, bad.stat().st_size // 2)
    features = meta.read_info(dataset_copy)["features"]
    with pytest.raises(meta.DatasetError, match=rf"{bad} is truncated or corrupt"):
        EpisodeWriter(dataset_copy, 10, {k: v for k, v in features.items() if k not in meta.LEROBOT_COLUMNS})
