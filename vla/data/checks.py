"""The one dataset validator: `vla dataset check`, `vla dataset info`, `vla train` (through the loader) and
`vla record` (before appending) all call it, so a dataset is judged the same way everywhere.

It reports every problem it finds, one line each naming the file or key and the fix, instead of stopping
at the first: a user fixing a dataset they did not write sees all of it at once.
- every file readable: meta/info.json, meta/tasks.parquet, meta/episodes/*, meta/stats.json, the data
  parquet footers (not the data: cheap) and their columns and shapes;
- every video present and decodable to the frame count its episodes need (a truncated mp4 keeps its
  header at the front, lerobot writes with faststart, so only decoding the last frame finds it);
- the features the job needs (`train`: observation.state, action, at least one camera);
- encoding safety, a warning: video with keyframes farther apart than every frame, or AV1, lets later
  frames into earlier ones on decoding (docs/datasets.md, "Video encoding"); `vla dataset reencode` fixes it.
"""

import json
import logging
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from vla.constants import ACTION, OBS_IMAGES, OBS_STATE
from vla.data import meta

log = logging.getLogger(__name__)

JOBS = ("info", "train", "record")  # what the dataset is checked for
SAFE_CODECS = ("h264", "hevc")  # with every frame a keyframe, a decoded frame depends on itself alone
_KEYFRAME_PACKETS = 60  # packets looked at per video stream for the keyframe interval
_warned: set[tuple[str, str]] = set()  # (root, message) already logged by this process


@dataclass(frozen=True)
class Problem:
    message: str  # names the file or key, what is wrong and the fix
    warning: bool = False  # the dataset works, but not as well as it should

    def __str__(self) -> str:
        return f"{'warning' if self.warning else 'error'}: {self.message}"


def check_dataset(root: str | Path, episodes: list[int] | None = None, job: str = "train") -> list[Problem]:
    """Raises meta.DatasetError listing every error (one per line); logs and returns the warnings."""
    problems = find_problems(root, job, episodes)
    errors = [p.message for p in problems if not p.warning]
    if errors:
        raise meta.DatasetError("\n".join(errors))
    warnings = [p for p in problems if p.warning]
    for p in warnings:
        if (str(root), p.message) not in _warned:
            _warned.add((str(root), p.message))
            log.warning("%s", p.message)
    return warnings


def find_problems(root: str | Path, job: str = "train", episodes: list[int] | None = None) -> list[Problem]:
    """Every problem of the dataset folder for `job` (one of JOBS); [] when it is fine."""
    if job not in JOBS:
        raise ValueError(f"job={job!r} is not one of {JOBS}")
    root = Path(root)
    try:
        info = meta.read_info(root)
    except meta.DatasetError as exc:
        return [Problem(str(exc))]  # nothing else can be read without it
    problems = list(_feature_problems(root, info, job))
    problems += _meta_problems(root)
    try:
        rows = meta.read_episodes(root)
    except meta.DatasetError as exc:
        return [*problems, Problem(str(exc)), *_parquet_problems(root, info)]
    if len(rows) != int(info["total_episodes"]):
        problems.append(Problem(
            f"{root}/meta/episodes lists {len(rows)} episodes but meta/info.json says "
            f"{info['total_episodes']}; the dataset was not finalised (a recording killed with lerobot's "
            "own writer?): re-record it"
        ))  # fmt: skip
    if episodes is not None:
        bad = sorted(set(episodes) - set(range(len(rows))))
        if bad:
            raise ValueError(f"episodes {bad} do not exist in {root} (it has episodes 0..{len(rows) - 1})")
    problems += _parquet_problems(root, info)
    needs = _video_needs(root, info, rows)
    problems += [p for path, (frames, key) in needs.items() if (p := _video_problem(path, frames, key))]
    problems += _encoding_problems(root, info, needs)
    return problems


# ---------------------------------------------------------------- features and metadata


def _feature_problems(root: Path, info: dict, job: str) -> Iterator[Problem]:
    if job != "train":
        return
    features = info["features"]
    where = root / "meta" / "info.json"
    fix = (
        "rename the feature with lerobot's dataset tools, or re-record (`vla record` in sim, lerobot's "
        "`lerobot-record` on a robot: docs/real_robot.md)"
    )
    for key in (OBS_STATE, ACTION):
        ft = features.get(key)
        if ft is None:
            yield Problem(
                f"{where} has no feature {key!r} (it has {sorted(features)}); training needs "
                f"{OBS_STATE!r}, {ACTION!r} and at least one camera '{OBS_IMAGES}.<name>': {fix}"
            )
        elif not str(ft["dtype"]).startswith("float") or len(ft["shape"]) != 1:
            yield Problem(
                f"{where}: feature {key!r} is {ft['dtype']} {tuple(ft['shape'])}; training needs a float "
                f"vector (one value per joint): {fix}"
            )
    cameras = meta.image_keys(info)
    if not cameras:
        yield Problem(
            f"{where} has no camera (no '{OBS_IMAGES}.<name>' video or image feature; it has "
            f"{sorted(features)}); the policies act on images: {fix}"
        )
    for key in cameras:
        shape = tuple(features[key]["shape"])
        if len(shape) != 3 or 3 not in (shape[0], shape[-1]):
            yield Problem(
                f"{where}: camera {key!r} has shape {shape}; an RGB image (H, W, 3) is needed: {fix}"
            )


def _meta_problems(root: Path) -> Iterator[Problem]:
    tasks = root / "meta" / "tasks.parquet"
    try:
        meta.read_tasks(root)
    except meta.DatasetError as exc:
        yield Problem(
            str(exc) if tasks.exists() else f"{tasks} is missing; re-record the dataset or restore it"
        )
    stats = root / "meta" / "stats.json"
    if stats.exists():
        try:
            json.loads(stats.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            yield Problem(
                f"{stats} is not valid JSON ({exc}); delete it (the loader recomputes the state and action "
                "statistics) or restore it"
            )


def _check_shapes(path: Path, schema: pa.Schema, info: dict) -> Iterator[Problem]:
    """Vector columns (fixed-size lists) must have the length meta/info.json declares."""
    for key, ft in info["features"].items():
        kind = schema.field(key).type if key in schema.names else None
        if isinstance(kind, pa.FixedSizeListType) and (kind.list_size,) != tuple(ft["shape"]):
            yield Problem(
                f"{path}: column {key!r} has {kind.list_size} values per frame but meta/info.json "
                f"declares shape {tuple(ft['shape'])}; the metadata and the data disagree: "
                "re-record the dataset or fix info.json"
            )


def _parquet_problems(root: Path, info: dict) -> list[Problem]:
    problems: list[Problem] = []
    total, readable = 0, True
    needed = [k for k, ft in info["features"].items() if ft["dtype"] != "video"]
    files = sorted(root.glob("data/chunk-*/file-*.parquet"))
    if not files:
        return [Problem(f"{root}/data/ holds no parquet file; the dataset has no frames: {meta.RECORD_HINT}")]
    for path in files:
        try:
            footer = pq.read_metadata(path)
        except (pa.ArrowInvalid, OSError) as exc:
            problems.append(Problem(
                f"{path} is truncated or corrupt ({exc}); re-record the dataset or restore this file"
            ))  # fmt: skip
            readable = False
            continue
        schema = footer.schema.to_arrow_schema()
        missing = [k for k in needed if k not in schema.names]
        if missing:
            problems.append(Problem(
                f"{path} has no column {missing} that meta/info.json declares; the file does not belong to "
                "this dataset: re-record it or restore the file"
            ))  # fmt: skip
        problems += _check_shapes(path, schema, info)
        total += footer.num_rows
    if readable and total != int(info["total_frames"]):
        problems.append(Problem(
            f"{root}/data holds {total} frames but meta/info.json says {info['total_frames']}; "
            "a data file is missing or was replaced: re-record the dataset or restore the files"
        ))  # fmt: skip
    return problems


# ---------------------------------------------------------------- videos


def _video_needs(root: Path, info: dict, episodes: list[dict]) -> dict[Path, tuple[int, str]]:
    """video file -> (frames its episodes need, i.e. index of the last one + 1; feature key)."""
    needs: dict[Path, tuple[int, str]] = defaultdict(lambda: (0, ""))
    fps = float(info["fps"])
    for key in meta.image_keys(info):
        if info["features"][key]["dtype"] != "video":
            continue
        for ep in episodes:
            path = root / info["video_path"].format(
                video_key=key,
                chunk_index=ep[f"videos/{key}/chunk_index"],
                file_index=ep[f"videos/{key}/file_index"],
            )
            frames = round(float(ep[f"videos/{key}/to_timestamp"]) * fps)
            needs[path] = (max(needs[path][0], frames), key)
    return needs


def _video_problem(path: Path, frames: int, key: str) -> Problem | None:
    from torchcodec.decoders import VideoDecoder

    if not path.is_file():
        return Problem(f"{path} ({key!r}) is missing; re-record the dataset or restore the file")
    last = frames - 1  # index of the last frame an episode of this file uses
    try:
        decoder = VideoDecoder(str(path), seek_mode="exact")
        decoder.get_frame_at(last)
    except (RuntimeError, ValueError, IndexError) as exc:
        return Problem(
            f"{path} ({key!r}) is truncated or corrupt: frame {last} cannot be decoded "
            f"({str(exc).splitlines()[0]}); re-record the dataset or restore the file"
        )
    return None


def video_encoding(path: Path) -> tuple[str, int]:
    """(codec name, frames between keyframes at most) of a video file's first packets (1 = every frame)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec = stream.codec_context.codec.name.removeprefix("lib").replace("dav1d", "av1")
        gap = longest = 0
        for i, packet in enumerate(container.demux(stream)):
            if packet.size == 0 or i >= _KEYFRAME_PACKETS:
                continue
            gap = 1 if packet.is_keyframe else gap + 1
            longest = max(longest, gap)
    return codec, longest


def _encoding_problems(root: Path, info: dict, needs: dict[Path, tuple[int, str]]) -> list[Problem]:
    """One warning per camera whose first readable video file is not causal (module doc)."""
    problems = []
    for key in sorted({k for _, k in needs.values()}):
        path = next((p for p, (_, k) in sorted(needs.items()) if k == key and p.is_file()), None)
        if path is None:
            continue
        try:
            codec, gap = video_encoding(path)
        except (OSError, ValueError, IndexError):  # unreadable: already reported as truncated
            continue
        if codec in SAFE_CODECS and gap <= 1:
            continue
        how = f"a keyframe every {gap} frames" if gap > 1 else "an encoder that blends later frames in"
        problems.append(Problem(
            f"{path} ({key!r}) is {codec} with {how}: decoding lets later frames into "
            "earlier ones, so a policy trained on it can read where the arm goes next from the current image "
            f"(docs/datasets.md, 'Video encoding'); fix: `vla dataset reencode {root}` (h264, every frame a "
            "keyframe; the parquet files stay as they are)",
            warning=True,
        ))  # fmt: skip
    return problems
