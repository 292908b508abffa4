"""In-memory training samples: every frame decoded once into uint8 tensors, chunks sliced by index.

Decoding an mp4 frame per sample (lerobot's LeRobotDataset does a seek + decode per camera per
sample) dominates the step time of a tiny VLA on a 2-core CPU. For datasets that fit in RAM
(96x96 RGB is 27.6 KB per camera per frame: 10k frames x 2 cameras = 0.55 GB) decoding everything
once and slicing tensors is far faster; benchmarks/bench_data.py measures both.

Frames are matched exactly as lerobot does (video frame index = round((from_timestamp + timestamp)
* average_fps), checked against the decoded pts), so both modes yield identical pixels.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from vla.constants import ACTION, ACTION_IS_PAD, OBS_STATE, TASK
from vla.data import meta
from vla.data.stats import column_array, data_files

_TOLERANCE_S = 1e-4  # lerobot's default tolerance_s between a query timestamp and a decoded pts


@dataclass
class FrameTable:
    """All frames of the selected episodes, in global frame order."""

    state: torch.Tensor  # (N, D_s) float32
    action: torch.Tensor  # (N, D_a) float32
    ep_start: torch.Tensor  # (N,) int64 row of the first frame of the frame's episode
    ep_end: torch.Tensor  # (N,) int64 row one past the last frame of the frame's episode
    task_index: torch.Tensor  # (N,) int64
    tasks: list[str]
    images: dict[str, torch.Tensor]  # image key -> (N, 3, H, W) uint8

    def __len__(self) -> int:
        return len(self.action)


def _read_rows(root: Path, info: dict, episodes: set[int] | None) -> dict[str, np.ndarray]:
    keys = [OBS_STATE, ACTION]
    cols: dict[str, list[np.ndarray]] = {
        k: [] for k in [*keys, "index", "episode_index", "task_index", "timestamp"]
    }
    for path in data_files(root):
        table = meta.read_table(path, columns=list(cols))
        if episodes is not None:
            mask = np.isin(table.column("episode_index").to_numpy(), list(episodes))
            table = table.filter(pa.array(mask))
        for key in keys:
            cols[key].append(column_array(table, key, int(info["features"][key]["shape"][0]), path))
        for key in ("index", "episode_index", "task_index", "timestamp"):
            cols[key].append(table.column(key).to_numpy())
    rows = {k: np.concatenate(v) for k, v in cols.items()}
    order = np.argsort(rows["index"], kind="stable")
    return {k: v[order] for k, v in rows.items()}


def _episode_bounds(episode_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row start/end rows of its episode (rows of one episode are contiguous)."""
    change = np.flatnonzero(np.diff(episode_index)) + 1
    starts, ends = np.r_[0, change], np.r_[change, len(episode_index)]
    lengths = ends - starts
    return np.repeat(starts, lengths), np.repeat(ends, lengths)


def _decode_episode(path: Path, timestamps: np.ndarray) -> torch.Tensor:
    """Frames at the given absolute timestamps of one video file -> (T, 3, H, W) uint8."""
    from torchcodec.decoders import VideoDecoder

    try:
        decoder = VideoDecoder(str(path), seek_mode="exact")
        fps = decoder.metadata.average_fps
        indices = [round(float(ts) * fps) for ts in timestamps]
        batch = decoder.get_frames_at(indices=indices)
    except (RuntimeError, ValueError, IndexError) as exc:
        raise meta.DatasetError(
            f"{path} is truncated or corrupt ({str(exc).splitlines()[0]}); "
            "re-record the dataset or restore the file"
        ) from exc
    gap = np.abs(batch.pts_seconds.numpy() - timestamps).max()
    if gap >= _TOLERANCE_S:
        raise meta.DatasetError(f"{path}: decoded frames are {gap:.4f} s away from the requested timestamps")
    return batch.data


def _decode_images(root: Path, info: dict, rows: dict[str, np.ndarray], key: str) -> torch.Tensor:
    ep_rows = {r["episode_index"]: r for r in meta.read_episodes(root)}
    episode_index = rows["episode_index"]
    out = None
    for ep in np.unique(episode_index):
        sel = np.flatnonzero(episode_index == ep)
        row = ep_rows[int(ep)]
        path = root / info["video_path"].format(
            video_key=key,
            chunk_index=row[f"videos/{key}/chunk_index"],
            file_index=row[f"videos/{key}/file_index"],
        )
        if not path.is_file():
            raise meta.DatasetError(
                f"{path} is missing (episode {ep}, {key!r}); re-record or restore the file"
            )
        frames = _decode_episode(path, row[f"videos/{key}/from_timestamp"] + rows["timestamp"][sel])
        if out is None:
            out = torch.empty((len(episode_index), *frames.shape[1:]), dtype=torch.uint8)
        out[sel] = frames
    return out


def load_frames(root: str | Path, episodes: list[int] | None = None) -> FrameTable:
    """Reads state/action from parquet and decodes every camera frame once (uint8)."""
    root = Path(root)
    info = meta.read_info(root)
    rows = _read_rows(root, info, None if episodes is None else set(episodes))
    if len(rows["index"]) == 0:
        raise meta.DatasetError(f"{root}: no frame in episodes {episodes}; the dataset has episodes 0..")
    start, end = _episode_bounds(rows["episode_index"])
    images = {}
    for key in meta.image_keys(info):
        if info["features"][key]["dtype"] != "video":
            raise meta.DatasetError(
                f"{root}: {key!r} is stored as images, not video; use mode='video' (lerobot decodes it)"
            )
        images[key] = _decode_images(root, info, rows, key)
    return FrameTable(
        state=torch.from_numpy(rows[OBS_STATE]),
        action=torch.from_numpy(rows[ACTION]),
        ep_start=torch.from_numpy(start),
        ep_end=torch.from_numpy(end),
        task_index=torch.from_numpy(rows["task_index"].astype(np.int64)),
        tasks=meta.read_tasks(root),
        images=images,
    )


def load_frames_concat(roots: Sequence[str | Path]) -> FrameTable:
    """The frames of several datasets as one table, in order: each dataset's episodes stay whole and
    keep their instructions. Decoded one dataset at a time into preallocated tensors, so the peak is
    the whole table plus one dataset's frames (not twice the table)."""
    parts: list[FrameTable] = []
    images: dict[str, torch.Tensor] = {}
    total = sum(int(meta.read_info(r)["total_frames"]) for r in roots)
    row = 0
    for root in roots:
        part = load_frames(root)
        for key, frames in part.images.items():
            if key not in images:
                images[key] = torch.empty((total, *frames.shape[1:]), dtype=torch.uint8)
            images[key][row : row + len(part)] = frames
        row += len(part)
        parts.append(FrameTable(**{**vars(part), "images": {}}))  # the copy above is all that is kept
    offsets = np.cumsum([0, *(len(p) for p in parts)])[:-1]  # first row of each dataset
    task_offsets = np.cumsum([0, *(len(p.tasks) for p in parts)])[:-1]  # its first task_index
    return FrameTable(
        state=torch.cat([p.state for p in parts]),
        action=torch.cat([p.action for p in parts]),
        ep_start=torch.cat([p.ep_start + int(o) for p, o in zip(parts, offsets, strict=True)]),
        ep_end=torch.cat([p.ep_end + int(o) for p, o in zip(parts, offsets, strict=True)]),
        task_index=torch.cat([p.task_index + int(o) for p, o in zip(parts, task_offsets, strict=True)]),
        tasks=[task for p in parts for task in p.tasks],
        images={key: frames[:row] for key, frames in images.items()},
    )


class InMemoryDataset(torch.utils.data.Dataset):
    """Samples as lerobot's LeRobotDataset gives them with delta_timestamps on the action.

    __getitems__ builds a whole batch with tensor indexing (no per-sample Python loop); use it with
    `collate` below, which passes such a batch through.
    """

    def __init__(self, frames: FrameTable, chunk_size: int):
        self.frames, self.chunk_size = frames, chunk_size
        self._offsets = torch.arange(chunk_size)  # (T,)

    def episode_starts(self) -> torch.Tensor:
        """(N,) bool: which samples are the first frame of their episode."""
        return self.frames.ep_start == torch.arange(len(self.frames.ep_start))

    def __len__(self) -> int:
        return len(self.frames)

    def __getitems__(self, indices: list[int]) -> dict[str, Any]:
        f = self.frames
        idx = torch.as_tensor(indices, dtype=torch.int64)  # (B,)
        wanted = idx[:, None] + self._offsets[None, :]  # (B, T)
        is_pad = wanted >= f.ep_end[idx][:, None]  # (B, T) past the episode end, as lerobot pads
        chunk_idx = torch.minimum(wanted, f.ep_end[idx][:, None] - 1)  # (B, T) last frame repeated
        batch: dict[str, Any] = {key: imgs[idx].float().div_(255.0) for key, imgs in f.images.items()}
        batch[OBS_STATE] = f.state[idx]  # (B, D_s)
        batch[ACTION] = f.action[chunk_idx]  # (B, T, D_a)
        batch[ACTION_IS_PAD] = is_pad
        batch[TASK] = [f.tasks[i] for i in f.task_index[idx].tolist()]
        return batch

    def __getitem__(self, index: int) -> dict[str, Any]:
        batch = self.__getitems__([index])
        return {k: v[0] for k, v in batch.items()}
