"""`vla dataset info|show|check` on a recorded dataset."""

import subprocess
import sys
from pathlib import Path

import av
import pytest
from PIL import Image

from vla.data import meta
from vla.data.inspect import info_text, main, show

pytestmark = pytest.mark.filterwarnings("ignore:Cannot enable progress bars")  # lerobot vs our quiet default


def test_info_lists_counts_features_and_tasks(recorded: Path) -> None:
    text = info_text(recorded)
    rows = meta.read_sidecar(recorded)
    frames = sum(r["length"] for r in rows)
    assert f"episodes  4   frames {frames}   fps 10" in text
    assert "observation.images.front         video    (64, 64, 3)    codec h264" in text
    assert "action                           float32  (6,)           shoulder_pan" in text
    for task in {r["task"] for r in rows}:
        n = sum(r["task"] == task for r in rows)
        assert f"  {task:<36} {n:>8}" in text
    assert "{'vla/PickCube-v0': 4}; seeds 0..3" in text


def test_show_writes_an_annotated_video_and_a_plot(recorded: Path, tmp_path: Path) -> None:
    video, plot = show(recorded, 2, tmp_path, scale=2)
    length = meta.read_episodes(recorded)[2]["length"]
    with av.open(str(video)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == length
    assert frames[0].shape == (40 + 128, 2 * 128, 3)  # banner + two 64 px cameras upscaled x2
    assert frames[0][:40].mean() < frames[0][40:].mean()  # dark banner carrying the instruction
    assert Image.open(plot).size[0] >= 800


def test_show_unknown_episode_exits_with_a_message(recorded: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit, match=r"episode 9 does not exist .* it has episodes 0..3"):
        main(["show", str(recorded), "--episode", "9"])


def test_help_and_json_through_the_vla_command(recorded: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "vla.cli", "dataset", "show", "--help"], capture_output=True, text=True
    )
    assert run.returncode == 0 and "--episode" in run.stdout and "instruction" in run.stdout
    run = subprocess.run(
        [sys.executable, "-m", "vla.cli", "dataset", "info", str(recorded), "--json"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0 and '"state_dim": 6' in run.stdout
