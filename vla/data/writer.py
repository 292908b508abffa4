"""Crash-safe episode writer on top of lerobot's LeRobotDataset v3.0 writer.

Why not call LeRobotDataset.create/add_frame/save_episode on the dataset folder directly: lerobot
keeps one ParquetWriter open for the whole session (the parquet footer is written only by
finalize()), buffers meta/episodes rows, and rewrites info.json/stats.json after every episode.
Measured with lerobot 0.6.1: a SIGKILL after 3 saved episodes but before finalize() leaves
info.json claiming 3 episodes, a data parquet without footer and no meta/episodes at all, and
LeRobotDataset then tries to download the dataset from the hub. Every recorded episode is lost.

So episodes go to a staging copy of the dataset (a sibling folder: data/ and videos/ hard-linked,
meta/ copied; lerobot's resume only ever adds new data/video files), and every `commit_every`
episodes (or `commit_every_s` seconds) the staging folder is finalised and atomically exchanged with
the dataset folder (renameat2 RENAME_EXCHANGE). The dataset folder is therefore always a complete,
finalised LeRobotDataset: a kill loses at most the episodes since the last commit, never the dataset.
"""

import contextlib
import ctypes
import fcntl
import importlib
import json
import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vla.constants import ACTION, OBS_STATE, SO101_JOINTS, image_key
from vla.data import meta
from vla.data.checks import check_dataset
from vla.data.stats import write_exact_stats

log = logging.getLogger(__name__)

DEFAULT_REPO_ID = "local/vla_dataset"  # only a name: datasets live in `root`, never on the hub

# lerobot appends each episode's video to the current video file by rewriting that whole file
# (concatenate_video_files), so recording time grows with the square of the file's length: with its
# 200 MB default, one file held all 1800 demo episodes and re-muxing took most of the recording.
# A new file every MB bounds the rewrite (a sim episode's video is a few KB; real ones roll over sooner).
VIDEO_FILE_MB = 1


# Every frame a keyframe, h264: a decoded frame depends on that frame alone. lerobot's defaults (AV1 or
# h264 with a keyframe every 2 frames) mix later frames into earlier ones (lookahead, B-frames, AV1's
# temporal filter): a policy trained on them reads where the arm goes next from the current image, a
# cue the live camera never gives (docs/datasets.md, "Video encoding").
CAUSAL_VIDEO = {"vcodec": "h264", "g": 1, "crf": 18}


@dataclass
class Episode:
    """One recorded episode, all arrays time-major with the same length T."""

    images: dict[str, np.ndarray]  # camera -> (T, H, W, 3) uint8
    state: np.ndarray  # (T, D_s) float32
    action: np.ndarray  # (T, D_a) float32
    task: str  # the language instruction
    info: dict[str, Any] = field(default_factory=dict)  # env_id, seed, split, success, ... (sidecar)

    def __len__(self) -> int:
        return len(self.action)


def make_features(image_shapes: dict[str, tuple[int, int, int]], state_dim: int, action_dim: int) -> dict:
    """lerobot feature spec: cameras as video (H, W, 3), state and action as float32 vectors."""
    names = list(SO101_JOINTS) if state_dim == action_dim == len(SO101_JOINTS) else None
    features: dict[str, dict] = {
        image_key(cam): {"dtype": "video", "shape": tuple(shape), "names": ["height", "width", "channels"]}
        for cam, shape in image_shapes.items()
    }
    features[OBS_STATE] = {"dtype": "float32", "shape": (state_dim,), "names": names}
    features[ACTION] = {"dtype": "float32", "shape": (action_dim,), "names": names}
    return features


def features_of(episode: Episode) -> dict:
    shapes = {cam: tuple(frames.shape[1:]) for cam, frames in episode.images.items()}
    return make_features(shapes, episode.state.shape[1], episode.action.shape[1])


def check_episode(episode: Episode, features: dict) -> None:
    """Raises ValueError naming the bad key before anything reaches the dataset."""
    n = len(episode.action)
    if n == 0:
        raise ValueError("episode has no frame; an episode needs at least one (observation, action) pair")
    arrays = {OBS_STATE: episode.state, ACTION: episode.action}
    arrays |= {image_key(cam): frames for cam, frames in episode.images.items()}
    expected = {k for k, ft in features.items() if ft["dtype"] in ("video", "float32")}
    if set(arrays) != expected:
        raise ValueError(
            f"episode keys {sorted(arrays)} do not match the dataset features {sorted(expected)}; "
            "record into a new root or use the same env cameras"
        )
    for key, array in arrays.items():
        shape = (n, *features[key]["shape"])
        if array.shape != shape:
            raise ValueError(f"episode {key!r} has shape {array.shape}, the dataset expects {shape}")
        if features[key]["dtype"] == "video" and array.dtype != np.uint8:
            raise ValueError(f"episode {key!r} is {array.dtype}; images must be uint8 (H, W, 3)")
        if features[key]["dtype"] == "float32" and not np.isfinite(array).all():
            raise ValueError(f"episode {key!r} contains NaN/Inf; refusing to write it")
    if not episode.task:
        raise ValueError("episode has an empty task (instruction); every episode needs one")


def _same_features(existing: dict, new: dict) -> list[str]:
    """Human-readable differences between the dataset's features and the ones being written."""
    diffs = []
    for key in sorted(set(existing) | set(new)):
        if key in meta.LEROBOT_COLUMNS:
            continue
        if key not in existing or key not in new:
            diffs.append(f"{key}: {'missing in dataset' if key not in existing else 'not produced now'}")
        elif tuple(existing[key]["shape"]) != tuple(new[key]["shape"]):
            diffs.append(f"{key}: dataset {tuple(existing[key]['shape'])} vs now {tuple(new[key]['shape'])}")
    return diffs


# ---- atomic folder exchange -------------------------------------------------------------------

_AT_FDCWD, _RENAME_EXCHANGE = -100, 2
_DEFERRED = (signal.SIGINT, signal.SIGTERM)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swaps two paths (Linux renameat2). False where the OS or filesystem cannot."""
    libc = ctypes.CDLL(None, use_errno=True)
    fn = getattr(libc, "renameat2", None)
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: fall back to two renames
        return False
    raise OSError(err, os.strerror(err), str(a))


def staging_dir(root: Path) -> Path:
    return root.parent / f".{root.name}.staging"


def lock_path(root: Path) -> Path:
    """The file a writer holds an exclusive lock on while it writes to `root`."""
    return root.parent / f".{root.name}.lock"


def _old_dir(root: Path) -> Path:
    return root.parent / f".{root.name}.old"


def recover(root: str | Path) -> None:
    """Undoes what a killed writer left: a half-written staging folder, or a half-done swap."""
    root = Path(root)
    old = _old_dir(root)
    if old.exists():  # the two-rename fallback was interrupted between its renames
        if root.exists():
            shutil.rmtree(old)
        else:
            os.rename(old, root)
    if staging_dir(root).exists():
        log.warning("removing %s left by an interrupted recording (uncommitted episodes)", staging_dir(root))
        shutil.rmtree(staging_dir(root))


def _swap_into_place(staging: Path, root: Path) -> None:
    if not root.exists():
        os.rename(staging, root)
    elif _exchange(staging, root):
        shutil.rmtree(staging)  # now holds the previous version (hard links only)
    else:
        os.rename(root, _old_dir(root))
        os.rename(staging, root)
        shutil.rmtree(_old_dir(root))


def _link_copy(root: Path, staging: Path) -> None:
    """staging = root with data/videos hard-linked (never modified by lerobot) and meta/ copied."""
    for src in root.rglob("*"):
        dst = staging / src.relative_to(root)
        if src.is_dir():
            dst.mkdir(parents=True, exist_ok=True)
        elif src.relative_to(root).parts[0] in ("data", "videos"):
            os.link(src, dst)
        else:
            shutil.copy2(src, dst)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Holds SIGINT/SIGTERM until the block ends, then re-delivers them to the previous handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _: caught.append(signum)) for sig in _DEFERRED}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(caught):
            signal.raise_signal(sig)


class EpisodeWriter:
    """Appends whole episodes to a LeRobotDataset folder, committing every `commit_every` episodes,
    or sooner once `commit_every_s` seconds have passed since the last commit (None: by count only).

    Each commit costs ~0.4 s (lerobot reloads the dataset's metadata on resume), so fast sim
    recording wants few commits while slow recording (teleoperation, a real arm) wants a commit
    after every long episode: the two limits bound a SIGKILL's loss in episodes and in time.

    Use as a context manager: leaving the block normally or through an exception raised outside the
    writer (Ctrl-C included) commits the complete episodes written so far; an error inside the
    writer discards the uncommitted ones. A second writer on the same root is refused.
    """

    def __init__(
        self,
        root: str | Path,
        fps: int,
        features: dict,
        repo_id: str = DEFAULT_REPO_ID,
        commit_every: int = 100,
        video: dict[str, Any] | None = None,
        robot_type: str | None = "so101",
        commit_every_s: float | None = 30.0,
    ):
        if commit_every < 1:
            raise ValueError(f"commit_every={commit_every} must be >= 1")
        if commit_every_s is not None and not commit_every_s > 0:
            raise ValueError(
                f"commit_every_s={commit_every_s} must be > 0 seconds, or null to commit by count only"
            )
        self.root = Path(root).expanduser().resolve()
        self.root.parent.mkdir(parents=True, exist_ok=True)
        self.fps, self.features, self.repo_id = int(fps), features, repo_id
        self.commit_every, self.commit_every_s, self.robot_type = commit_every, commit_every_s, robot_type
        self._last_commit = time.monotonic()
        self.video = {**CAUSAL_VIDEO, **(video or {})}
        self._lock = self._acquire_lock()
        recover(self.root)
        self._check_existing()
        self._ds = None  # lerobot LeRobotDataset in write mode on the staging folder
        self._rows: list[dict[str, Any]] = []  # sidecar rows of uncommitted episodes
        self._healthy = True

    def _acquire_lock(self) -> Any:
        lock = open(lock_path(self.root), "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise RuntimeError(
                f"another process is writing to {self.root}; wait for it or use another root"
            ) from None
        return lock

    def _check_existing(self) -> None:
        if not self.root.exists():
            self.num_episodes = 0
            return
        check_dataset(self.root, job="record")  # appending to a broken dataset would bury the damage
        info = meta.read_info(self.root)
        diffs = _same_features(info["features"], self.features)
        if diffs or int(info["fps"]) != self.fps:
            diffs += [f"fps: dataset {info['fps']} vs now {self.fps}"] if int(info["fps"]) != self.fps else []
            raise ValueError(
                f"cannot append to {self.root}: it was recorded with different features "
                f"({'; '.join(diffs)}); "
                "record into a new root, or use the env settings the dataset was recorded with"
            )
        self.num_episodes = int(info["total_episodes"])

    def _open(self) -> None:
        import av
        from lerobot.configs import RGBEncoderConfig
        from lerobot.datasets.lerobot_dataset import LeRobotDataset

        # ffmpeg prints "moving the moov atom" per concatenated video otherwise
        av.logging.set_libav_level(av.logging.ERROR)
        # `datasets` draws a progress bar per saved episode; lerobot's SuppressProgressBars
        # re-enables bars, unless this module flag (what HF_DATASETS_DISABLE_PROGRESS_BARS=1 sets
        # on import; lerobot may have imported `datasets` before vla.data) says the user forbade it.
        hf_tqdm = importlib.import_module("datasets.utils.tqdm")  # the module (the package exports a class)
        hf_tqdm.HF_DATASETS_DISABLE_PROGRESS_BARS = True
        hf_tqdm.disable_progress_bars()

        staging = staging_dir(self.root)
        encoder = RGBEncoderConfig(**self.video)
        # streaming encoding feeds frames to encoder threads (no PNG round trip); an unbounded
        # queue (maxsize 0) because lerobot drops frames when a bounded one is full.
        kwargs = {"rgb_encoder": encoder, "streaming_encoding": True, "encoder_queue_maxsize": 0}
        if self.root.exists():
            _link_copy(self.root, staging)
            self._ds = LeRobotDataset.resume(self.repo_id, root=staging, **kwargs)
            self._ds.meta.update_chunk_settings(video_files_size_in_mb=VIDEO_FILE_MB)  # meta/ is a copy
        else:
            self._ds = LeRobotDataset.create(
                self.repo_id, self.fps, self.features, root=staging, robot_type=self.robot_type,
                video_files_size_in_mb=VIDEO_FILE_MB, **kwargs,
            )  # fmt: skip

    def add_episode(self, episode: Episode) -> int:
        """Writes one episode; returns its episode_index. Commits when `commit_every` are pending."""
        check_episode(episode, self.features)
        with _signals_deferred():  # Ctrl-C waits for this episode (~0.1 s): it never half-writes one
            if self._ds is None:
                self._open()
            self._healthy = False  # an exception from here on leaves staging in an unknown state
            for t in range(len(episode)):
                frame = {image_key(cam): frames[t] for cam, frames in episode.images.items()}
                frame |= {OBS_STATE: episode.state[t], ACTION: episode.action[t], "task": episode.task}
                self._ds.add_frame(frame)
            self._ds.save_episode()
            self._healthy = True
            index = self.num_episodes + len(self._rows)
            row = {"episode_index": index, "length": len(episode), "task": episode.task, **episode.info}
            self._rows.append(row)
            if len(self._rows) >= self.commit_every or self._commit_is_due():
                self.commit()
        return index

    def _commit_is_due(self) -> bool:
        return self.commit_every_s is not None and time.monotonic() - self._last_commit >= self.commit_every_s

    def commit(self) -> None:
        """Finalises the staging dataset and swaps it into place atomically."""
        if self._ds is None:
            return
        with _signals_deferred():
            staging = staging_dir(self.root)
            self._ds.finalize()
            self._ds = None
            write_exact_stats(staging)
            for path in staging.rglob("*"):  # lerobot moves videos from mkstemp files (mode 0600)
                if path.is_file() and path.stat().st_mode & 0o777 == 0o600:
                    path.chmod(0o644)
            with open(staging / meta.SIDECAR, "a") as f:
                f.writelines(json.dumps(row) + "\n" for row in self._rows)
            _swap_into_place(staging, self.root)
            self.num_episodes += len(self._rows)
            n, total = len(self._rows), self.num_episodes
            log.info("committed %d episode(s) to %s (%d in all)", n, self.root, total)
            self._rows = []
            self._last_commit = time.monotonic()

    def abort(self) -> None:
        """Drops the uncommitted episodes; the dataset folder keeps its last committed state."""
        if self._ds is not None:
            if self._ds.writer is not None:
                self._ds.writer.cancel_pending_videos()
            self._ds = None
        self._rows = []
        if staging_dir(self.root).exists():
            shutil.rmtree(staging_dir(self.root))

    def close(self) -> None:
        try:
            self.commit() if self._healthy else self.abort()
        finally:
            self._lock.close()

    def __enter__(self) -> "EpisodeWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
