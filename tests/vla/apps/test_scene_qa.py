"""`vla dataset qa` on a dataset recorded by `vla record` (4 PickCube episodes, 64 px): the file it
writes, answers checked against the dataset's own images and the simulator, the same rows every time,
and clear errors for datasets it cannot ask about."""

import json
import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

import envs  # noqa: F401
from envs.tabletop.scene import COLORS
from tests.envs.tabletop.test_describe import chroma
from vla.apps.scene_qa import _recorded, episode_scenes, frames_to_ask, generate
from vla.cli import main as vla
from vla.data import meta
from vla.data.inspect import _parser
from vla.data.inspect import main as dataset_main
from vla.data.memory import load_frames
from vla.data.qa_format import read_qa

pytestmark = pytest.mark.filterwarnings("ignore:Cannot enable progress bars")
PALETTE = ("red", "green", "blue", "yellow", "purple", "orange")
SIDE = re.compile(r"\b(left|middle|right)\b")


@pytest.fixture(scope="module")
def asked(recorded: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A copy of the session's PickCube dataset after `vla dataset qa --frames-per-episode 3`; its output."""
    import shutil

    root = Path(shutil.copytree(recorded, tmp_path_factory.mktemp("qa") / "pick"))
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        vla(["dataset", "qa", str(root), "--frames-per-episode", "3"])
    return root, out.getvalue()


def _cube_colours(row: dict) -> list[str]:
    """The episode's cube colours, read off the simulator's model after the recorded reset."""
    env = gym.make(row["env_id"], **row["env_kwargs"])
    env.reset(seed=row["seed"])
    model = env.unwrapped.model
    rgb = [model.geom_rgba[model.geom(f"cube{i}_geom").id, :3] for i in range(env.unwrapped.n_cubes)]
    env.close()
    return [next(n for n, v in COLORS.items() if np.allclose(c, v)) for c in rgb]


def _cubes_left_to_right(image: np.ndarray, colours: list[str]) -> list[str]:
    """`colours` ordered by the column of their blobs in a decoded (H, W, 3) frame. Pixels are given the
    nearest of these colours only: video compression shifts shaded and clipped pixels between hues."""
    palette = chroma(np.array([COLORS[c] for c in colours]))  # (k, 3)
    gaps = np.abs(chroma(image)[..., None, :] - palette).sum(axis=-1)  # (H, W, k)
    saturated = image.max(axis=-1).astype(int) - image.min(axis=-1) > 60
    label = np.where(saturated & (gaps.min(axis=-1) < 0.3), gaps.argmin(axis=-1), -1)
    columns = {c: np.nonzero(label == i)[1] for i, c in enumerate(colours)}
    assert all(len(cols) >= 6 for cols in columns.values()), {c: len(v) for c, v in columns.items()}
    return sorted(colours, key=lambda c: columns[c].mean())


def test_writes_the_file_and_prints_a_summary(asked: tuple[Path, str]) -> None:
    root, out = asked
    table = read_qa(root)
    assert out.splitlines()[0].split() == ["type", "train", "heldout"]
    assert re.search(r"nearest_to\s+0\s+0\s+none: no bowl or zone", out)  # PickCube has no bowl
    assert f"wrote {len(table)} rows to {root / 'meta/vla_qa.parquet'}" in out and "examples" in out
    lengths = {e["episode_index"]: e["length"] for e in meta.read_episodes(root)}
    for episode, length in lengths.items():
        assert set(table[table["episode_index"] == episode]["frame_index"]) <= set(frames_to_ask(length, 3))
        assert 0 in set(table[table["episode_index"] == episode]["frame_index"])
    assert (table["split"] == "train").sum() == (table["split"] == "heldout").sum()


def test_first_frame_answers_match_the_recorded_images(asked: tuple[Path, str]) -> None:
    """Left, middle and right as the dataset's front camera shows them; the count; the instruction's cube."""
    root, _ = asked
    table = read_qa(root)
    for row in meta.read_sidecar(root):
        episode = row["episode_index"]
        frame0 = load_frames(root, [episode]).images["observation.images.front"][0].permute(1, 2, 0).numpy()
        order = _cubes_left_to_right(frame0, _cube_colours(row))
        rows = table[(table["episode_index"] == episode) & (table["frame_index"] == 0)]
        sides = {"left": order[0], "middle": order[1], "right": order[2]}
        for r in rows[rows["type"] == "colour_at_position"].itertuples():
            assert r.answer == sides[SIDE.search(r.question).group(1)], r.question
        assert set(rows[rows["type"] == "count"]["answer"]) == {"3"}
        instructed = next(c for c in PALETTE if c in row["task"])
        assert set(rows[rows["type"] == "referent"]["answer"]) <= {instructed}
        for r in rows[rows["type"] == "left_of"].itertuples():
            a, b = (c for c in sorted(PALETTE, key=r.question.find) if c in r.question)
            assert r.answer == ("yes" if order.index(a) < order.index(b) else "no"), r.question


def test_holding_answers_match_the_replayed_cube_height(asked: tuple[Path, str]) -> None:
    """The instructed cube 3 cm up can only be in the gripper; on the table at the start it is not."""
    root, _ = asked
    table = read_qa(root)
    recorded = _recorded(root)
    holding = table[(table["type"] == "holding") & (table["split"] == "train")]
    for row in meta.read_sidecar(root):
        env = gym.make(row["env_id"], **row["env_kwargs"])
        env.reset(seed=row["seed"])
        _, actions = recorded[row["episode_index"]]
        heights = [env.unwrapped.data.body("cube0").xpos[2]]
        for action in actions[:-1]:
            env.step(action)
            heights.append(env.unwrapped.data.body("cube0").xpos[2])
        env.close()
        for r in holding[holding["episode_index"] == row["episode_index"]].itertuples():
            if r.frame_index == 0:
                assert r.answer == "no"
            elif heights[r.frame_index] > 0.045:
                assert r.answer == "yes", (row["episode_index"], r.frame_index)
    assert {"yes", "no"} <= set(holding["answer"])  # the last frames are lifts: both answers occur


def test_regenerating_gives_identical_rows(asked: tuple[Path, str]) -> None:
    root, _ = asked
    pd.testing.assert_frame_equal(generate(root, frames_per_episode=3), read_qa(root))


def test_replay_that_diverges_from_the_recording_is_refused(asked: tuple[Path, str]) -> None:
    root, _ = asked
    row = meta.read_sidecar(root)[1]
    states, actions = _recorded(root)[1]
    env = gym.make(row["env_id"], **row["env_kwargs"])
    with pytest.raises(ValueError, match=r"episode 1 frame 3: replaying the recorded actions .* re-record"):
        episode_scenes(env, row, [0, 3], (states, actions + 0.2))
    env.close()


def _edit_sidecar(root: Path, **changes) -> None:
    path = root / meta.SIDECAR
    rows = [{**json.loads(line), **changes} for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_bad_inputs_exit_with_a_clear_message(dataset_copy: Path, tmp_path: Path) -> None:
    root = str(dataset_copy)
    with pytest.raises(SystemExit, match=r"--frames-per-episode 0: use 1 or more"):
        vla(["dataset", "qa", root, "--frames-per-episode", "0"])
    with pytest.raises(SystemExit, match=r"does not exist; record one with `vla record`"):
        vla(["dataset", "qa", str(tmp_path / "nothing")])
    _edit_sidecar(dataset_copy, env_kwargs={"cameras": ["wrist"], "image_size": 64})
    with pytest.raises(SystemExit, match=r"cameras \['wrist'\]: scene questions are about the 'front'"):
        vla(["dataset", "qa", root])
    _edit_sidecar(dataset_copy, env_id="vla/GoneCube-v0")
    with pytest.raises(SystemExit, match=r"'vla/GoneCube-v0', which no longer exists"):
        vla(["dataset", "qa", root])
    (dataset_copy / meta.SIDECAR).unlink()  # as a real robot's or a rosbag's dataset
    with pytest.raises(
        SystemExit, match=r"only datasets recorded by `vla record` in simulation .* real robot"
    ):
        vla(["dataset", "qa", root])
    assert not (dataset_copy / "meta/vla_qa.parquet").exists()


def test_dataset_command_lists_qa_and_the_library_points_to_it(
    dataset_copy: Path, capsys: pytest.CaptureFixture
) -> None:
    assert "scene questions with exact answers" in _parser().format_help()
    with pytest.raises(SystemExit) as exit_:
        vla(["dataset", "qa", "--help"])
    help_text = capsys.readouterr().out
    assert exit_.value.code == 0 and "--frames-per-episode N" in help_text and "nearest_to" in help_text
    with pytest.raises(SystemExit, match=r"run it as `vla dataset qa PATH`"):
        dataset_main(["qa", str(dataset_copy)])
