"""Light, fast reading of a LeRobotDataset v3.0 folder's metadata (no lerobot import).

Importing `lerobot.datasets` costs ~10 s on a 2-core CPU, so the inspection CLI, the feature query
and the in-memory loader read the few metadata files themselves with pyarrow/json. Writing is
always done by lerobot (vla/data/writer.py); these readers follow its v3.0 layout:
    meta/info.json, meta/stats.json, meta/tasks.parquet, meta/episodes/chunk-*/file-*.parquet,
    data/chunk-*/file-*.parquet, videos/<key>/chunk-*/file-*.mp4
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from vla.constants import ACTION, OBS_IMAGES, OBS_STATE, camera_of

SIDECAR = "meta/vla_episodes.jsonl"  # one JSON line per episode: env id, seed, split, success, ...
RECORD_HINT = "record one with `vla record` (see docs/datasets.md)"
# Columns lerobot adds to every frame itself (not features a recorder provides).
LEROBOT_COLUMNS = ("timestamp", "frame_index", "episode_index", "index", "task_index")


# One dataset folder, or several read as one (their concatenation; see dataset_features, load_stats,
# make_dataloader). A one-element list is the same as its folder.
Roots = str | Path | Sequence[str | Path]


def as_roots(roots: Roots) -> list[Path]:
    """The dataset folders of a Roots value, as a non-empty list of paths."""
    paths = [Path(roots)] if isinstance(roots, str | Path) else [Path(r) for r in roots]
    if not paths:
        raise ValueError("no dataset folder given: pass a root or a non-empty list of roots")
    return [p.expanduser() for p in paths]


class DatasetError(ValueError):
    """A dataset folder is missing, incomplete or corrupt; the message names the file and the fix."""


@dataclass(frozen=True)
class DatasetFeatures:
    """What a policy needs to know about a dataset to be built for it."""

    cameras: tuple[str, ...]  # camera names, e.g. ("front", "wrist"); batch key image_key(camera)
    image_shapes: dict[str, tuple[int, int, int]]  # camera -> (C, H, W) as batches hold them
    state_dim: int
    action_dim: int
    fps: int
    num_episodes: int
    num_frames: int
    tasks: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "cameras": list(self.cameras),
            "image_shapes": {k: list(v) for k, v in self.image_shapes.items()},
            "state_dim": self.state_dim,
            "action_dim": self.action_dim,
            "fps": self.fps,
            "num_episodes": self.num_episodes,
            "num_frames": self.num_frames,
            "tasks": list(self.tasks),
        }


def read_info(root: str | Path) -> dict[str, Any]:
    """meta/info.json, with a clear error when the folder is not a LeRobot v3 dataset."""
    root = Path(root)
    path = root / "meta" / "info.json"
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist; {RECORD_HINT}")
    if not path.is_file():
        raise DatasetError(f"{path} is missing: {root} is not a LeRobotDataset v3 folder; {RECORD_HINT}")
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"{path} is not valid JSON ({exc}); restore it from a backup or re-record"
        ) from exc
    version = str(info.get("codebase_version", ""))
    if not version.startswith("v3"):
        raise DatasetError(
            f"{path}: codebase_version {version!r} is not v3.x; convert older datasets with lerobot's "
            "`convert_dataset_v21_to_v30` script first"
        )
    return info


def read_table(path: Path, columns: list[str] | None = None) -> pa.Table:
    """A parquet file, or a DatasetError naming it when it is truncated or corrupt."""
    if not path.is_file():
        raise DatasetError(f"{path} is missing; the dataset is incomplete: re-record it or restore the file")
    try:
        return pq.read_table(path, columns=columns)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DatasetError(
            f"{path} is truncated or corrupt ({exc}); re-record the dataset or restore this file"
        ) from exc


def read_episodes(root: str | Path) -> list[dict[str, Any]]:
    """Rows of meta/episodes/*.parquet (without the per-episode stats columns), by episode_index."""
    root = Path(root)
    files = sorted((root / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
    if not files:
        raise DatasetError(
            f"{root}/meta/episodes/ holds no parquet file: the dataset has no episode; {RECORD_HINT}"
        )
    rows: list[dict[str, Any]] = []
    for path in files:
        if path.stat().st_size == 0:
            raise DatasetError(f"{path} is empty; re-record the dataset or restore this file")
        try:
            schema = pq.read_schema(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DatasetError(
                f"{path} is truncated or corrupt ({exc}); re-record the dataset or restore this file"
            ) from exc
        columns = [c for c in schema.names if not c.startswith("stats/")]
        rows += read_table(path, columns).to_pylist()
    rows.sort(key=lambda r: r["episode_index"])
    indices = [r["episode_index"] for r in rows]
    if indices != list(range(len(rows))):
        raise DatasetError(f"{root}/meta/episodes: episode indices are not 0..{len(rows) - 1} contiguous")
    return rows


def read_tasks(root: str | Path) -> list[str]:
    """Task strings by task_index (meta/tasks.parquet keeps the task text as the pandas index)."""
    table = read_table(Path(root) / "meta" / "tasks.parquet")
    names = table.schema.names
    text_col = "task" if "task" in names else next((n for n in names if n != "task_index"), None)
    if text_col is None or "task_index" not in names:
        raise DatasetError(
            f"{root}/meta/tasks.parquet has columns {names}; expected task text and task_index"
        )
    pairs = sorted(
        zip(table.column("task_index").to_pylist(), table.column(text_col).to_pylist(), strict=True)
    )
    return [task for _, task in pairs]


def read_sidecar(root: str | Path) -> list[dict[str, Any]]:
    """Per-episode recording facts written by `vla record` (empty for datasets recorded elsewhere)."""
    path = Path(root) / SIDECAR
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def image_keys(info: dict[str, Any]) -> list[str]:
    return [
        k
        for k, ft in info["features"].items()
        if ft["dtype"] in ("video", "image") and k.startswith(OBS_IMAGES)
    ]


def dataset_features(roots: Roots) -> DatasetFeatures:
    """Cameras, image shapes, state/action dims, fps and tasks of a dataset folder; of several folders:
    the features they share (a DatasetError names the first folder and key that differ), with their
    episodes and frames summed and their tasks in first-seen order."""
    paths = as_roots(roots)
    first = _features(paths[0])
    episodes, frames, tasks = first.num_episodes, first.num_frames, dict.fromkeys(first.tasks)
    for path in paths[1:]:
        other = _features(path)
        for key in ("cameras", "image_shapes", "state_dim", "action_dim", "fps"):
            if getattr(other, key) != getattr(first, key):
                raise DatasetError(
                    f"dataset {path} has {key} {getattr(other, key)} but dataset {paths[0]} has "
                    f"{getattr(first, key)}: datasets trained on together must share cameras, image "
                    "sizes, state/action dims and fps; re-record one with the other's env settings"
                )
        episodes, frames = episodes + other.num_episodes, frames + other.num_frames
        tasks |= dict.fromkeys(other.tasks)
    return replace(first, num_episodes=episodes, num_frames=frames, tasks=tuple(tasks))


def _features(root: Path) -> DatasetFeatures:
    info = read_info(root)
    features = info["features"]
    for key in (OBS_STATE, ACTION):
        if key not in features:
            raise DatasetError(
                f"{Path(root) / 'meta/info.json'} has no feature {key!r} (it has {sorted(features)}); "
                f"the loader needs {OBS_STATE!r} and {ACTION!r}: re-record with `vla record` or rename the "
                "feature with lerobot's dataset tools"
            )
    shapes = {}
    for key in image_keys(info):
        shape = features[key]["shape"]
        names = features[key].get("names") or ["height", "width", "channels"]
        h, w, c = (
            (shape[names.index(n)] for n in ("height", "width", "channels")) if len(shape) == 3 else shape
        )
        shapes[camera_of(key)] = (int(c), int(h), int(w))
    return DatasetFeatures(
        cameras=tuple(shapes),
        image_shapes=shapes,
        state_dim=int(features[OBS_STATE]["shape"][0]),
        action_dim=int(features[ACTION]["shape"][0]),
        fps=int(info["fps"]),
        num_episodes=int(info["total_episodes"]),
        num_frames=int(info["total_frames"]),
        tasks=tuple(read_tasks(root)) if (Path(root) / "meta" / "tasks.parquet").exists() else (),
    )
