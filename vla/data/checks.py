"""Checks a dataset folder before any work starts, so a bad file fails fast and by name.

Cheap: parquet footers (not the data), and for each video file its header plus one decode of the
last frame an episode needs (a truncated mp4 keeps its header at the front, lerobot writes with
faststart, so only decoding the end finds the truncation).
"""

from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from vla.data import meta


def _check_shapes(path: Path, schema: pa.Schema, info: dict) -> None:
    """Vector columns (fixed-size lists) must have the length meta/info.json declares."""
    for key, ft in info["features"].items():
        kind = schema.field(key).type if key in schema.names else None
        if isinstance(kind, pa.FixedSizeListType) and (kind.list_size,) != tuple(ft["shape"]):
            raise meta.DatasetError(
                f"{path}: column {key!r} has {kind.list_size} values per frame but meta/info.json "
                f"declares shape {tuple(ft['shape'])}; the metadata and the data disagree: "
                "re-record the dataset or fix info.json"
            )


def _check_parquet(root: Path, info: dict) -> None:
    total = 0
    needed = [k for k, ft in info["features"].items() if ft["dtype"] != "video"]
    for path in sorted(root.glob("data/chunk-*/file-*.parquet")):
        try:
            footer = pq.read_metadata(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise meta.DatasetError(
                f"{path} is truncated or corrupt ({exc}); re-record the dataset or restore this file"
            ) from exc
        schema = footer.schema.to_arrow_schema()
        missing = [k for k in needed if k not in schema.names]
        if missing:
            raise meta.DatasetError(
                f"{path} has no column {missing} that meta/info.json declares; the file does not belong to "
                "this dataset: re-record it or restore the file"
            )
        _check_shapes(path, schema, info)
        total += footer.num_rows
    if total != int(info["total_frames"]):
        raise meta.DatasetError(
            f"{root}/data holds {total} frames but meta/info.json says {info['total_frames']}; "
            "a data file is missing or was replaced: re-record the dataset or restore the files"
        )


def _video_needs(root: Path, info: dict, episodes: list[dict]) -> dict[Path, tuple[float, str]]:
    """video file -> (latest to_timestamp an episode needs, feature key)."""
    needs: dict[Path, tuple[float, str]] = defaultdict(lambda: (0.0, ""))
    for key in meta.image_keys(info):
        if info["features"][key]["dtype"] != "video":
            continue
        for ep in episodes:
            path = root / info["video_path"].format(
                video_key=key,
                chunk_index=ep[f"videos/{key}/chunk_index"],
                file_index=ep[f"videos/{key}/file_index"],
            )
            needs[path] = (max(needs[path][0], float(ep[f"videos/{key}/to_timestamp"])), key)
    return needs


def _check_video(path: Path, end_s: float, key: str, fps: int) -> None:
    from torchcodec.decoders import VideoDecoder

    if not path.is_file():
        raise meta.DatasetError(f"{path} ({key!r}) is missing; re-record the dataset or restore the file")
    last = round((end_s - 1 / fps) * fps)  # index of the last frame an episode of this file uses
    try:
        decoder = VideoDecoder(str(path), seek_mode="exact")
        decoder.get_frame_at(last)
    except (RuntimeError, ValueError, IndexError) as exc:
        raise meta.DatasetError(
            f"{path} ({key!r}) is truncated or corrupt: frame {last} cannot be decoded "
            f"({str(exc).splitlines()[0]}); re-record the dataset or restore the file"
        ) from exc


def check_dataset(root: str | Path, episodes: list[int] | None = None) -> None:
    """Raises meta.DatasetError naming the first missing, truncated or inconsistent file."""
    root = Path(root)
    info = meta.read_info(root)
    rows = meta.read_episodes(root)
    if len(rows) != int(info["total_episodes"]):
        raise meta.DatasetError(
            f"{root}/meta/episodes lists {len(rows)} episodes but meta/info.json says "
            f"{info['total_episodes']}; "
            "the dataset was not finalised (a recording killed with lerobot's own writer?): re-record it"
        )
    if episodes is not None:
        bad = sorted(set(episodes) - set(range(len(rows))))
        if bad:
            raise ValueError(f"episodes {bad} do not exist in {root} (it has episodes 0..{len(rows) - 1})")
    _check_parquet(root, info)
    for path, (end_s, key) in _video_needs(root, info, rows).items():
        _check_video(path, end_s, key, int(info["fps"]))
