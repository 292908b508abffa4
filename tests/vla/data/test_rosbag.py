"""`vla dataset from-rosbag`: bags written by rosbags' own writer (sqlite3 and mcap) -> datasets on disk,
read back and checked frame by frame against the alignment rule written out plainly below."""

import dataclasses
import json
import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tests.vla.data.rosbag_fixtures import COMMANDS, IMAGE, TYPES, Scene, add_markers, so101_scene, write_bag
from vla.constants import ACTION, OBS_STATE
from vla.data import meta
from vla.data.inspect import main
from vla.data.memory import load_frames
from vla.data.rosbag import REPORT, convert, load_config

pytestmark = pytest.mark.filterwarnings("ignore:Cannot enable progress bars")  # lerobot vs our quiet default

FPS, MAX_AGE = 10, 0.1
TASK = "put the block in the bin"
TOPICS = {  # in the config's order: the stream a drop is counted against is the first that fails
    OBS_STATE: "/joint_states",
    ACTION: "/leader/joint_states",
    "observation.images.front": "/front/image_raw",
    "observation.images.wrist": "/wrist/image_raw",
}


def expected(scene: Scene, start_s=None, end_s=None, topics=TOPICS) -> tuple[list, Counter]:
    """The rule of vla/data/align.py, written out: from the first instant in [start, end] at which every
    stream has a sample, every 1/FPS s, each stream's newest sample stamped at or before that instant;
    a frame is dropped (and counted against the first stream in order) if that sample is > MAX_AGE old."""
    t0 = min(s.recv_ns for s in scene.samples)
    series = {
        k: sorted(((s.time_ns - t0) / 1e9, i, s.value) for i, s in enumerate(scene.of(t)))
        for k, t in topics.items()
    }
    start_s = min(x[0][0] for x in series.values()) if start_s is None else start_s
    end_s = max(x[-1][0] for x in series.values()) if end_s is None else end_s
    series = {k: [x for x in xs if start_s - MAX_AGE <= x[0] <= end_s] for k, xs in series.items()}
    begin = max(start_s, max(xs[0][0] for xs in series.values()))
    end = min(end_s, max(xs[-1][0] for xs in series.values()))
    frames, dropped, k = [], Counter(), 0
    while (t := begin + k / FPS) <= end + 1e-9:
        k += 1
        frame = {}
        for key, xs in series.items():
            older = [x for x in xs if x[0] <= t]
            if not older or t - older[-1][0] > MAX_AGE:
                dropped[("stale" if older else "missing", key)] += 1
                break
            frame[key] = older[-1][2]
        else:
            frames.append(frame)
    return frames, dropped


def check_dataset(root: Path, episodes: list[list[dict]]) -> None:
    """State and action exactly, images within h264 crf 18's error, episode by episode."""
    table = load_frames(root)
    want = [f for ep in episodes for f in ep]
    assert len(table) == len(want)
    assert [int(i) for i in table.ep_start.unique()] == list(np.cumsum([0, *map(len, episodes)])[:-1])
    np.testing.assert_array_equal(table.state.numpy(), np.stack([f[OBS_STATE] for f in want]))
    np.testing.assert_array_equal(table.action.numpy(), np.stack([f[ACTION] for f in want]))
    for key, frames in table.images.items():
        decoded = frames.numpy().transpose(0, 2, 3, 1).astype(float)
        errors = np.abs(decoded - np.stack([f[key] for f in want])).mean(axis=(1, 2, 3))
        assert errors.max() < 4, f"{key}: frame {errors.argmax()} is off by {errors.max():.1f}"
    assert table.tasks == [TASK]


def config(*overrides: str):
    return load_config("so101", [f"task={TASK}", f"fps={FPS}", f"max_age_s={MAX_AGE}", *overrides])


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_a_bag_becomes_the_dataset_the_alignment_rule_says(tmp_path: Path, storage: str) -> None:
    scene = so101_scene()  # 8 s, stamps jittered, the wrist camera silent 3-5 s, 2 late follower states
    bag = write_bag(tmp_path / "bag", scene.samples, storage)
    report = convert(bag, tmp_path / "ds", config())
    frames, dropped = expected(scene)
    check_dataset(tmp_path / "ds", [frames])
    assert dropped[("stale", "observation.images.wrist")] >= 15  # ~2 s at 10 fps, minus max_age_s
    total = report["total"]
    assert total["frames"] == len(frames)
    assert total["dropped"] == {f"{r} {k}": n for (r, k), n in dropped.items()}
    assert total["out_of_order"] == {OBS_STATE: 2}
    [gap] = report["episodes"][0]["gaps_s"]  # the wrist camera's silence, between two kept frames
    assert 3.0 <= gap[0] + MAX_AGE < 3.2 and 5.0 <= gap[1] < 5.2
    assert report["stamps"] == dict.fromkeys(TOPICS.values(), "header")
    assert json.loads((tmp_path / "ds" / REPORT).read_text()) == [report]
    row = meta.read_sidecar(tmp_path / "ds")[0]
    assert row["source"] == "rosbag" and row["frames_dropped"] == sum(dropped.values())
    assert meta.read_info(tmp_path / "ds")["features"][OBS_STATE]["names"][0] == "shoulder_pan"


def test_time_ranges_split_episodes_and_append_adds_a_bag(tmp_path: Path) -> None:
    scene = so101_scene()
    bag = write_bag(tmp_path / "bag", scene.samples)
    ranges = [(0.5, 2.5), (4.0, 7.5)]
    convert(bag, tmp_path / "ds", config("episodes.ranges=[[0.5,2.5],[4.0,7.5]]"))
    episodes = [expected(scene, a, b)[0] for a, b in ranges]
    check_dataset(tmp_path / "ds", episodes)
    with pytest.raises(ValueError, match="exists: choose a new folder, or pass --append"):
        convert(bag, tmp_path / "ds", config())
    convert(bag, tmp_path / "ds", config("episodes.ranges=[[0.5,2.5]]"), append=True)
    check_dataset(tmp_path / "ds", [*episodes, episodes[0]])
    assert len(json.loads((tmp_path / "ds" / REPORT).read_text())) == 2


@pytest.mark.parametrize(("kind", "on", "off"), [("Bool", True, False), ("String", "start", "stop")])
def test_a_marker_topic_splits_episodes(tmp_path: Path, kind: str, on, off) -> None:
    scene = so101_scene()
    # a repeated start is ignored; the last episode has no stop and runs to the end of the bag
    add_markers(scene, "/vla/episode", [(1.0, on), (1.5, on), (3.0, off), (5.5, on)], kind)
    bag = write_bag(tmp_path / "bag", scene.samples, "mcap")
    report = convert(bag, tmp_path / "ds", config("episodes.topic=/vla/episode"))
    t0 = min(s.recv_ns for s in scene.samples)
    times = [(s.recv_ns - t0) / 1e9 for s in scene.of("/vla/episode")]
    episodes = [expected(scene, times[0], times[2])[0], expected(scene, times[3])[0]]
    check_dataset(tmp_path / "ds", episodes)
    assert any("start at" in n and "ignored" in n for n in report["notes"])
    assert any("has no stop" in n for n in report["notes"])


def test_a_command_topic_without_header_is_aligned_by_receive_time(tmp_path: Path) -> None:
    scene = so101_scene(command_action=True)
    bag = write_bag(tmp_path / "bag", scene.samples)
    report = convert(bag, tmp_path / "ds", config(f"action.topic={COMMANDS}"))
    frames, _ = expected(scene, topics={**TOPICS, ACTION: COMMANDS})
    check_dataset(tmp_path / "ds", [frames])
    assert report["stamps"][COMMANDS] == "receive time (std_msgs/msg/Float64MultiArray has no header)"


def test_a_camera_clock_half_a_second_behind_is_reported(tmp_path: Path) -> None:
    scene = so101_scene(clock_offsets={"front": -0.5}, wrist_gap=None)
    report = convert(write_bag(tmp_path / "bag", scene.samples), tmp_path / "ds", config())
    frames, dropped = expected(scene)
    check_dataset(tmp_path / "ds", [frames])
    assert dropped[("stale", "observation.images.front")] >= 3  # its last 0.5 s is missing at the end
    assert any(n.startswith("/front/image_raw: stamps run -0.50") for n in report["notes"])


def _fails(tmp_path: Path, bag: Path, capsys, *overrides: str) -> str:
    """Runs the CLI, expecting a one-message exit; nothing may be left where the dataset would be."""
    with pytest.raises(SystemExit) as exc:
        main(["from-rosbag", str(bag), str(tmp_path / "ds"), f"task={TASK}", f"fps={FPS}", *overrides])
    assert not (tmp_path / "ds").exists() and not (tmp_path / ".ds.staging").exists()
    assert "Traceback" not in capsys.readouterr().err
    return str(exc.value.code)


def test_a_clock_an_hour_off_fails_naming_it_and_stamps_receive_converts(tmp_path: Path, capsys) -> None:
    scene = so101_scene(clock_offsets={"wrist": -3600.0})
    bag = write_bag(tmp_path / "bag", scene.samples)
    message = _fails(tmp_path, bag, capsys)
    assert "no frame kept" in message and "stale observation.images.wrist" in message
    assert "/wrist/image_raw run -3600.00" in message and "stamps=receive" in message
    report = convert(bag, tmp_path / "ds", config("stamps=receive"))  # the fix the message names
    by_receipt = Scene([dataclasses.replace(s, stamp_s=None) for s in scene.samples])
    check_dataset(tmp_path / "ds", [expected(by_receipt)[0]])
    assert set(report["stamps"].values()) == {"receive time (stamps=receive)"}


def test_unknown_topics_and_types_are_named(tmp_path: Path, capsys) -> None:
    bag = write_bag(tmp_path / "bag", so101_scene(seconds=1).samples)
    message = _fails(tmp_path, bag, capsys, "+cameras.top=/top/image_raw")
    assert "topic /top/image_raw (camera) is not in" in message
    assert "/wrist/image_raw  (sensor_msgs/msg/Image)" in message  # the topics it has
    message = _fails(tmp_path, bag, capsys, "cameras.front=/joint_states")
    assert "/joint_states is sensor_msgs/msg/JointState, which cannot be the camera" in message
    assert "state.joints" in _fails(tmp_path, bag, capsys, "state.joints=[nope]")
    assert "Could not override 'nope'" in _fails(tmp_path, bag, capsys, "nope=1")
    assert "fps=7.5 must be a whole number" in _fails(tmp_path, bag, capsys, "fps=7.5")
    message = _fails(tmp_path, bag, capsys, "episodes.ranges=[[20,30]]")  # the bag lasts 1 s
    assert "no episode (20.000-30.000 s) has an instant" in message and "/joint_states 0.00" in message


def test_an_unsupported_image_encoding_is_refused_by_name(tmp_path: Path, capsys) -> None:
    scene = so101_scene(seconds=1)
    for s in scene.of("/wrist/image_raw"):
        h, w = s.msg.height, s.msg.width
        s.msg = TYPES.types[IMAGE](s.msg.header, h, w, "mono8", 0, w, np.zeros(h * w, np.uint8))
    message = _fails(tmp_path, write_bag(tmp_path / "bag", scene.samples), capsys)
    assert "/wrist/image_raw" in message and "image encoding 'mono8'" in message and "rgb8 or bgr8" in message


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_an_empty_bag_is_refused(tmp_path: Path, capsys, storage: str) -> None:
    assert "is empty: it holds no topic" in _fails(
        tmp_path, write_bag(tmp_path / "none", [], storage), capsys
    )
    scene = so101_scene(seconds=1)
    bag = write_bag(
        tmp_path / "bag", [s for s in scene.samples if s.topic != "/leader/joint_states"], storage
    )
    shutil.rmtree(tmp_path / "none")
    assert "topic /leader/joint_states (action) is not in" in _fails(tmp_path, bag, capsys)


def test_a_nan_in_a_later_episode_leaves_no_dataset(tmp_path: Path, capsys) -> None:
    scene = so101_scene()
    for sample in scene.of("/joint_states")[300:310]:  # 6.0-6.2 s: the second episode; frames take 1 in 5
        sample.msg.position[0] = np.nan
    bag = write_bag(tmp_path / "bag", scene.samples)
    message = _fails(tmp_path, bag, capsys, "episodes.ranges=[[0,2],[5,7]]")
    assert "/joint_states gives observation.state NaN/Inf at 6.0" in message and "episodes.ranges" in message


def test_a_sqlite3_bag_cut_mid_write_is_refused_naming_the_file(tmp_path: Path, capsys) -> None:
    bag = write_bag(tmp_path / "bag", so101_scene(seconds=2).samples)
    (tmp_path / "bag" / "metadata.yaml").unlink()  # the recorder never closed it
    db = tmp_path / "bag" / "bag.db3"
    os.truncate(db, db.stat().st_size * 2 // 3)
    message = _fails(tmp_path, bag, capsys)
    assert f"cannot read {db}" in message and "Record to mcap" in message


def test_an_mcap_bag_cut_mid_write_converts_what_it_holds(tmp_path: Path, capsys) -> None:
    scene = so101_scene(size=(48, 64))  # ~2.3 MB: 1 MB chunks, the cut falls in the third
    bag = write_bag(tmp_path / "bag", scene.samples, "mcap")
    (tmp_path / "bag" / "metadata.yaml").unlink()
    mcap = tmp_path / "bag" / "bag.mcap"
    os.truncate(mcap, mcap.stat().st_size * 95 // 100)
    main(["from-rosbag", str(bag), str(tmp_path / "ds"), f"task={TASK}", f"fps={FPS}"])
    out = capsys.readouterr().out
    assert "has no metadata.yaml" in out and "bag.mcap was not closed" in out
    kept = {s.recv_ns for s in scene.samples if s.recv_ns <= _last_readable(tmp_path / "ds")}
    frames, _ = expected(Scene([s for s in scene.samples if s.recv_ns in kept]))
    check_dataset(tmp_path / "ds", [frames])
    assert len(frames) > 40  # two of three chunks: more than 5 s of the 8


def _last_readable(root: Path) -> int:
    """The receive time of the last message the converter read (from its report, not recomputed)."""
    return json.loads((root / REPORT).read_text())[0]["bag_end_ns"]


def test_help_names_the_keys(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["from-rosbag", "--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0 and "episodes.topic=/vla/episode" in out and "max_age_s:" in out
