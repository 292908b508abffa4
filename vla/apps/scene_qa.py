"""`vla dataset qa PATH`: scene questions with exact answers for a dataset recorded by `vla record`,
from the simulator's privileged state, written to PATH/meta/vla_qa.parquet (vla/data/qa_format.py).

Nothing is recorded again: each episode's env id, seed and env kwargs come from the sidecar
(meta/vla_episodes.jsonl). The env is reset from that seed (frame 0) and the recorded actions are
replayed to reach later frames (--frames-per-episode); the replayed joint positions are checked
against the recorded `observation.state`, so a scene that no longer matches the recording stops the
run instead of yielding wrong answers. The questions themselves: vla/data/qa.py; the scene
description: envs/tabletop/describe.py. Left and right are the "front" camera's.
"""

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd

import envs
from vla.apps.rollout import make_env
from vla.constants import ACTION, OBS_STATE
from vla.data import meta, qa
from vla.data.inspect import add_qa_arguments
from vla.data.qa_format import QA_COLUMNS, write_qa
from vla.data.stats import column_array, data_files

CAMERA = "front"  # the view left/right refer to
STATE_TOLERANCE = 1e-4  # rad (m for the gripper): a replay farther than this from the recording diverged


def frames_to_ask(length: int, per_episode: int) -> list[int]:
    """`per_episode` frames spread over an episode: always the first, then evenly up to the last."""
    if per_episode < 1:
        raise ValueError(f"--frames-per-episode {per_episode}: use 1 or more (1: the first frame only)")
    return sorted({round(t) for t in np.linspace(0, length - 1, min(per_episode, length))})


def _sidecar(root: Path, num_episodes: int) -> dict[int, dict[str, Any]]:
    """Sidecar rows by episode index, with a clear error when the simulator's scene is not known."""
    rows = {r["episode_index"]: r for r in meta.read_sidecar(root) if "seed" in r and "env_id" in r}
    if not rows:
        raise ValueError(
            f"{root / meta.SIDECAR} is missing or names no env id and seed per episode: scene questions "
            "need each episode's simulator scene, which only datasets recorded by `vla record` in "
            "simulation have (not a real robot's or a rosbag's recording); record one with `vla record`"
        )
    missing = [i for i in range(num_episodes) if i not in rows]
    if missing:
        raise ValueError(
            f"{root / meta.SIDECAR} has no env id and seed for episodes {missing[:10]}"
            f"{' ...' if len(missing) > 10 else ''}: they were not recorded by `vla record` in simulation"
        )
    return rows


def _env(row: dict[str, Any], cache: dict[str, Any]) -> Any:
    """The episode's env (cached per env id and kwargs), rendering the front camera only: cameras do not
    change the physics, and the image size stays the dataset's for the visibility counts."""
    env_id, kwargs = row["env_id"], dict(row.get("env_kwargs") or {})
    key = json.dumps([env_id, kwargs], sort_keys=True)
    if key in cache:
        return cache[key]
    if env_id not in gym.registry:
        raise ValueError(
            f"episode {row['episode_index']} was recorded in env {env_id!r}, which no longer exists "
            f"(known tabletop ids: {list(envs.ALL_IDS)}); QA needs the env that recorded the dataset"
        )
    if CAMERA not in kwargs.get("cameras", [CAMERA]):
        raise ValueError(
            f"episode {row['episode_index']} was recorded with cameras {kwargs['cameras']}: scene "
            f"questions are about the {CAMERA!r} camera's view (left, right, what is in sight)"
        )
    env = make_env(env_id, {**kwargs, "cameras": [CAMERA]})
    if not hasattr(env.unwrapped, "describe_scene"):
        env.close()
        raise ValueError(
            f"env {env_id!r} has no scene description (describe_scene): QA covers the vla/ tabletop"
        )
    cache[key] = env
    return env


def _recorded(root: Path) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per episode: recorded (states (T, D), actions (T, D)) in frame order."""
    info = meta.read_info(root)
    dims = {k: int(info["features"][k]["shape"][0]) for k in (OBS_STATE, ACTION)}
    parts: dict[str, list[np.ndarray]] = {"episode_index": [], "frame_index": [], OBS_STATE: [], ACTION: []}
    for path in data_files(root):
        table = meta.read_table(path, columns=list(parts))
        for key in ("episode_index", "frame_index"):
            parts[key].append(table.column(key).to_numpy())
        for key, dim in dims.items():
            parts[key].append(column_array(table, key, dim, path))
    columns = {k: np.concatenate(v) for k, v in parts.items()}
    order = np.lexsort((columns["frame_index"], columns["episode_index"]))
    columns = {k: v[order] for k, v in columns.items()}
    episodes = {}
    for e in np.unique(columns["episode_index"]):
        rows = columns["episode_index"] == e
        episodes[int(e)] = (columns[OBS_STATE][rows], columns[ACTION][rows])
    return episodes


def episode_scenes(env: Any, row: dict[str, Any], frames: list[int], recorded: tuple) -> list[dict]:
    """Scene descriptions at `frames` of one episode: reset from its seed, then its actions replayed."""
    states, actions = recorded
    obs, _ = env.reset(seed=int(row["seed"]))
    unwrapped = env.unwrapped
    if "task" in row and unwrapped.task_description != row["task"]:
        raise ValueError(
            f"episode {row['episode_index']}: {row['env_id']} with seed {row['seed']} now gives the "
            f"instruction {unwrapped.task_description!r}, the dataset has {row['task']!r}: the env "
            "changed since recording, so its scene is not the recorded one; re-record the dataset"
        )
    scenes = []
    for t in range(max(frames) + 1):
        if t > 0:
            obs, *_ = env.step(actions[t - 1])
        if t in frames:
            drift = float(np.abs(obs["agent_pos"] - states[t]).max())
            if drift > STATE_TOLERANCE:
                raise ValueError(
                    f"episode {row['episode_index']} frame {t}: replaying the recorded actions gives joint "
                    f"positions {drift:.2g} from the recorded ones: the env changed since recording; "
                    "re-record the dataset, or ask about the first frames only (--frames-per-episode 1)"
                )
            scenes.append(unwrapped.describe_scene(CAMERA))
    return scenes


def generate(root: str | Path, types: list[str] | None = None, frames_per_episode: int = 1) -> pd.DataFrame:
    """QA rows of every episode of the dataset at `root` (not written; see `main`)."""
    root = Path(root)
    types = qa.check_types(types or qa.QA_TYPES)
    frames_to_ask(1, frames_per_episode)  # a bad count is named before any work
    meta.read_info(root)  # a missing folder or a folder that is no dataset, named
    episodes = meta.read_episodes(root)
    sidecar = _sidecar(root, len(episodes))
    recorded = _recorded(root)
    cache: dict[str, Any] = {}
    rows = []
    try:
        for episode in episodes:
            index = int(episode["episode_index"])
            frames = frames_to_ask(int(episode["length"]), frames_per_episode)
            scenes = episode_scenes(_env(sidecar[index], cache), sidecar[index], frames, recorded[index])
            for frame, scene in zip(frames, scenes, strict=True):
                rows += qa.scene_rows(scene, index, frame, types)
    finally:
        for env in cache.values():
            env.close()
    return pd.DataFrame(rows, columns=list(QA_COLUMNS))


# why a requested type can have no row at all
_WHY_NONE = {
    "nearest_to": "no bowl or zone in these scenes (PlaceInBowl has bowls, PushCube zones)",
}


def summary(rows: pd.DataFrame, types: list[str], examples: int) -> str:
    """Rows per type and split (a type without rows says why), then one example row of each type."""
    counts = Counter(zip(rows["type"], rows["split"], strict=True))
    width = max(20, *map(len, types))
    lines = [f"{'type':<{width}} {'train':>7} {'heldout':>7}"]
    for qa_type in types:
        line = f"{qa_type:<{width}} {counts[qa_type, 'train']:>7} {counts[qa_type, 'heldout']:>7}"
        if not counts[qa_type, "train"]:
            line += f"   none: {_WHY_NONE.get(qa_type, 'no frame where the answer is unambiguous')}"
        lines.append(line)
    lines.append(f"{'total':<{width}} {counts_of(rows, 'train'):>7} {counts_of(rows, 'heldout'):>7}")
    if frames_first_only(rows) and "holding" in types:
        lines.append(
            "note: at first frames the gripper holds nothing; --frames-per-episode 4 asks later ones too"
        )
    shown = rows.drop_duplicates("type").head(examples)
    if len(shown):
        lines.append("examples")
    lines += [
        f"  ep {r.episode_index} frame {r.frame_index} [{r.split}] {r.question} -> {r.answer}"
        for r in shown.itertuples()
    ]
    return "\n".join(lines)


def frames_first_only(rows: pd.DataFrame) -> bool:
    return bool((rows["frame_index"] == 0).all())


def counts_of(rows: pd.DataFrame, split: str) -> int:
    return int((rows["split"] == split).sum())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="vla dataset qa", description=__doc__.split("\n\n")[0])
    add_qa_arguments(parser)
    args = parser.parse_args(sys.argv[2:] if argv is None else argv)  # sys.argv: ["vla dataset", "qa", ...]
    try:
        rows = generate(args.path, args.types, args.frames_per_episode)
        if rows.empty:
            raise ValueError(f"no question could be asked about {args.path} (every frame ambiguous?)")
        path = write_qa(args.path, rows)
    except (ValueError, RuntimeError) as exc:  # DatasetError included: a clear message, no traceback
        sys.exit(f"vla dataset qa: {exc}")
    print(summary(rows, qa.check_types(args.types or qa.QA_TYPES), args.examples))
    print(f"wrote {len(rows)} rows to {path}")
