"""`vla dataset from-rosbag`: a rosbag2 recording -> a LeRobotDataset v3, by the alignment rule of
vla/data/align.py and the message conversions of vla/data/ros_messages.py (the ones live recording uses).

Two passes over the bag, so that memory holds one episode's images, not the bag's:
1. index: every message of the mapped topics is read once; joint positions are kept, images only
   as a reference (receive time) after their encoding and size are checked; each message's stamp
   is its header.stamp (the bag's receive time for types without a header, or with `stamps=receive`).
2. per episode: the Aligner picks, every 1/fps s, each stream's newest sample at or before that
   instant (dropping and counting frames whose sample is older than max_age_s); the images those
   frames took are read again and decoded, and the episode goes to an EpisodeWriter that commits
   once at the end: a failure anywhere leaves no dataset (or the existing one as it was).

The topic -> feature mapping is a Hydra config (conf/rosbag/so101.yaml); the report of what was
dropped is printed and written to <dataset>/meta/vla_rosbag_report.json.
"""

import json
import os
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from vla.config import CONF_DIR
from vla.constants import ACTION, OBS_STATE, image_key
from vla.data.align import AlignReport
from vla.data.bag import Bag, BagError
from vla.data.ros_messages import SUPPORTED_ENCODINGS, image_to_rgb, positions_by_name
from vla.data.rosbag_episodes import EpisodePlan, align_episode, clock_notes, episode_ranges, marker_of
from vla.data.writer import Episode, EpisodeWriter, make_features

REPORT = "meta/vla_rosbag_report.json"
CONF = Path(CONF_DIR) / "rosbag"
JOINT_STATE, IMAGE = "sensor_msgs/msg/JointState", "sensor_msgs/msg/Image"
ARRAYS = ("std_msgs/msg/Float64MultiArray", "std_msgs/msg/Float32MultiArray")
MARKERS = ("std_msgs/msg/Bool", "std_msgs/msg/String")
ROLE_TYPES = {
    "state": (JOINT_STATE,),
    "action": (JOINT_STATE, *ARRAYS),
    "camera": (IMAGE,),
    "episodes": MARKERS,
}


@dataclass(frozen=True)
class Stream:
    key: str  # the dataset feature, also the Aligner's stream name
    topic: str
    role: str  # state | action | camera
    joints: tuple[str, ...] = ()


@dataclass
class Index:
    """Pass 1: every stream's samples as (stamp ns, value) in bag order; images as (receive ns, k)."""

    samples: dict[str, list[tuple[int, object]]]
    offsets_ns: dict[str, list[int]]  # stamp - receive time, per stream: how far its clock is from the bag's
    stamp_source: dict[str, str]  # topic -> "header" | why the receive time
    markers: list[tuple[int, bool]] = field(default_factory=list)  # (receive ns, True = start)
    shapes: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # camera key -> (H, W, 3)
    t0_ns: int = 0  # the first message read: the bag's start, time 0 of episode ranges
    end_ns: int = 0  # the last one (a bag cut mid-write: where its readable part ends)


def load_config(config: str = "so101", overrides: list[str] | None = None) -> DictConfig:
    """conf/rosbag/<config>.yaml, or a YAML file at the path `config`, with key=value overrides (Hydra)."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    path = Path(config)
    folder, name = (path.resolve().parent, path.stem) if path.suffix in (".yaml", ".yml") else (CONF, config)
    if not (folder / f"{name}.yaml").exists():
        known = ", ".join(sorted(p.stem for p in CONF.glob("*.yaml")))
        raise BagError(f"no config {config!r}: name one of conf/rosbag/ ({known}) or a .yaml file")
    try:
        with initialize_config_dir(config_dir=str(folder), version_base="1.3"):
            return compose(name, overrides=list(overrides or []))
    except (HydraException, OmegaConfBaseException) as exc:
        cause = f" ({exc.__cause__})".replace("\n", " ") if exc.__cause__ else ""
        raise BagError(f"config {config!r}: {exc}{cause}".replace("\n", " ")) from None


def streams_of(cfg: DictConfig) -> list[Stream]:
    """The mapping in the config as streams; a config error names the key to set."""
    streams = []
    for role, key in (("state", OBS_STATE), ("action", ACTION)):
        spec = cfg.get(role) or {}
        if not spec.get("topic") or not spec.get("joints"):
            raise BagError(f"{role}.topic and {role}.joints must be set (conf/rosbag/so101.yaml shows how)")
        streams.append(Stream(key, str(spec["topic"]), role, tuple(map(str, spec["joints"]))))
    for camera, topic in (cfg.get("cameras") or {}).items():
        streams.append(Stream(image_key(str(camera)), str(topic), "camera"))
    return streams


def check_config(cfg: DictConfig) -> None:
    if not cfg.get("task"):
        raise BagError(
            "task is not set: every episode needs its instruction, e.g. task='put the block in the bin'"
        )
    numbers = (cfg.fps, cfg.max_age_s)
    if not all(isinstance(x, int | float) and x > 0 for x in numbers) or cfg.fps != int(cfg.fps):
        raise BagError(
            f"fps={cfg.fps} must be a whole number > 0 (LeRobot's fps) and max_age_s={cfg.max_age_s} > 0"
        )
    if cfg.stamps not in ("header", "receive"):
        raise BagError(f"stamps={cfg.stamps!r}: use header (each message's header.stamp) or receive")


def check_topics(bag: Bag, streams: list[Stream], episode_topic: str | None) -> None:
    """Every mapped topic is in the bag with a type its role can use."""
    if not bag.topics:
        raise BagError(f"{bag.path} is empty: it holds no topic")
    have = "\n".join(f"  {t}  ({m})" for t, m in sorted(bag.topics.items()))
    wanted = [(s.topic, s.role) for s in streams] + ([(episode_topic, "episodes")] if episode_topic else [])
    for topic, role in wanted:
        if topic not in bag.topics:
            raise BagError(
                f"topic {topic} ({role}) is not in {bag.path}; it has:\n{have}\nmap one of these instead"
            )
        if bag.topics[topic] not in ROLE_TYPES[role]:
            raise BagError(
                f"{topic} is {bag.topics[topic]}, which cannot be the {role}: it must be "
                f"{' or '.join(ROLE_TYPES[role])}"
            )


def _value(stream: Stream, msg, index: Index, recv_ns: int, k: int):
    """What the dataset keeps of one message (an image: a reference, after checking it)."""
    if stream.role == "camera":
        if msg.encoding not in SUPPORTED_ENCODINGS:
            image_to_rgb(msg)  # raises the one message for unsupported encodings
        shape = (int(msg.height), int(msg.width), 3)
        if index.shapes.setdefault(stream.key, shape) != shape:
            raise BagError(f"{stream.topic}: image size changes from {index.shapes[stream.key]} to {shape}")
        return (recv_ns, k)
    if hasattr(msg, "position"):
        try:
            return positions_by_name(msg, stream.joints)
        except KeyError as exc:
            raise KeyError(f"{exc.args[0]}: set {stream.role}.joints to names it has") from None
    data = np.asarray(msg.data, np.float32)
    if len(data) != len(stream.joints):
        raise BagError(
            f"{stream.topic} carries {len(data)} values, {stream.role}.joints names {len(stream.joints)}"
        )
    return data


def index_bag(bag: Bag, streams: list[Stream], episode_topic: str | None, stamps: str) -> Index:
    """Pass 1 (module doc)."""
    by_topic = {s.topic: s for s in streams}
    index = Index({s.key: [] for s in streams}, {s.key: [] for s in streams}, {})
    seen: Counter = Counter()  # (topic, receive ns) -> messages so far: tells same-time images apart
    first = last = None
    for topic, recv_ns, msg in bag.messages([*by_topic, *([episode_topic] if episode_topic else [])]):
        first, last = (recv_ns, recv_ns) if first is None else (min(first, recv_ns), max(last, recv_ns))
        if topic == episode_topic:
            index.markers.append((recv_ns, marker_of(topic, msg)))
            continue
        stream = by_topic[topic]
        header = getattr(msg, "header", None)
        stamp_ns = recv_ns
        if stamps == "header" and header is not None:
            stamp_ns = int(header.stamp.sec) * 10**9 + int(header.stamp.nanosec)
        index.stamp_source.setdefault(topic, _stamp_source(stamps, header, bag.topics[topic]))
        try:
            value = _value(stream, msg, index, recv_ns, seen[(topic, recv_ns)])
        except (KeyError, ValueError) as exc:
            text = exc.args[0] if isinstance(exc, KeyError) else str(exc)  # str(KeyError) adds quotes
            raise BagError(f"{topic} at {(recv_ns - first) / 1e9:.3f} s: {text}") from None
        seen[(topic, recv_ns)] += 1
        index.samples[stream.key].append((stamp_ns, value))
        index.offsets_ns[stream.key].append(stamp_ns - recv_ns)
    empty = [s.topic for s in streams if not index.samples[s.key]]
    if first is None or empty:
        raise BagError(
            f"{bag.path} has no message on {', '.join(empty)}: an empty recording cannot be converted"
        )
    index.t0_ns, index.end_ns = first, last
    return index


def _stamp_source(stamps: str, header, msgtype: str) -> str:
    if stamps == "receive":
        return "receive time (stamps=receive)"
    return "header" if header is not None else f"receive time ({msgtype} has no header)"


def plan_episodes(
    index: Index, streams: list[Stream], cfg: DictConfig
) -> tuple[list[EpisodePlan], list[str]]:
    """Pass 2's alignment for every episode; fails, naming streams and clock offsets, if no frame is kept."""
    ranges, notes = episode_ranges(index, cfg.episodes)
    fps, max_age_s = float(cfg.fps), float(cfg.max_age_s)
    plans = [align_episode(index, streams, start, end, fps, max_age_s) for start, end in ranges]
    if not any(p.frames for p in plans):
        raise BagError(_nothing_kept(index, streams, plans, cfg))
    skipped = [
        f"episode {p.asked[0]:.3f}-{p.asked[1]:.3f} s kept no frame: not written"
        for p in plans
        if not p.frames
    ]
    late = [
        f"the episode asked from {p.asked[0]:.3f} s starts at {p.start_s:.3f} s, the first instant every "
        "stream has a sample"
        for p in plans
        if p.frames and p.start_s - p.asked[0] > max_age_s
    ]
    return plans, [*notes, *clock_notes(index, streams, max_age_s), *late, *skipped]


def _nothing_kept(index: Index, streams: list[Stream], plans: list[EpisodePlan], cfg: DictConfig) -> str:
    total = total_report(plans)
    offsets = {s.topic: _median_s(index.offsets_ns[s.key]) for s in streams}
    middle = statistics.median(offsets.values())
    odd = max(offsets, key=lambda topic: abs(offsets[topic] - middle))
    if not total.dropped:
        asked = ", ".join(f"{p.asked[0]:.3f}-{p.asked[1]:.3f} s" for p in plans)
        spans = ", ".join(f"{s.topic} {_span(index, s)}" for s in streams)
        return (
            f"no frame kept: no episode ({asked}) has an instant at which every stream has a sample; "
            f"the streams' stamps span (from the bag's start): {spans}"
        )
    (reason, key), n = total.dropped.most_common(1)[0]
    return (
        f"no frame kept: all {total.dropped_frames} frames were dropped, {n} of them as {reason} {key}. "
        f"The stamps of {odd} run {offsets[odd]:+.3f} s from the bag's receive times, the median topic's "
        f"{middle:+.3f} s (per topic: {', '.join(f'{t} {o:+.3f} s' for t, o in offsets.items())}); "
        f"streams whose clocks differ by more than max_age_s={cfg.max_age_s} s never line up: sync the "
        "clocks (chrony, PTP), or align by the bag's receive times (stamps=receive)"
    )


def _span(index: Index, stream: Stream) -> str:
    stamps = [s for s, _ in index.samples[stream.key]]
    return f"{(min(stamps) - index.t0_ns) / 1e9:.3f}..{(max(stamps) - index.t0_ns) / 1e9:.3f} s"


def _median_s(offsets_ns: list[int]) -> float:
    return statistics.median(offsets_ns) / 1e9 if offsets_ns else float("nan")


def total_report(plans: list[EpisodePlan]) -> AlignReport:
    total = AlignReport()
    for p in plans:
        total.frames += p.report.frames
        total.dropped.update(p.report.dropped)
        total.out_of_order.update(p.report.out_of_order)
    return total


def _decode_images(bag: Bag, stream: Stream, refs: list[tuple[int, int]]) -> np.ndarray:
    """(T, H, W, 3) RGB for the image references a plan's frames took, read again from the bag."""
    wanted = set(refs)
    decoded: dict[tuple[int, int], np.ndarray] = {}
    seen: Counter = Counter()
    lo, hi = min(r[0] for r in refs), max(r[0] for r in refs)
    for _, recv_ns, msg in bag.messages([stream.topic], lo, hi + 1):
        ref = (recv_ns, seen[recv_ns])
        seen[recv_ns] += 1
        if ref in wanted:
            decoded[ref] = image_to_rgb(msg)
    return np.stack([decoded[r] for r in refs])


def _episode(bag: Bag, streams: list[Stream], plan: EpisodePlan, task: str) -> Episode:
    columns: dict[str, list] = defaultdict(list)
    for frame in plan.frames:
        for key, value in frame.items():
            columns[key].append(value)
    for stream in streams:
        if stream.role != "camera" and not np.isfinite(np.stack(columns[stream.key])).all():
            bad = next(i for i, v in enumerate(columns[stream.key]) if not np.isfinite(v).all())
            raise BagError(
                f"{stream.topic} gives {stream.key} NaN/Inf at {plan.times[bad]:.3f} s, in the episode "
                f"{plan.start_s:.3f}-{plan.end_s:.3f} s: a dataset cannot hold it; leave that time out "
                "with episodes.ranges"
            )
    cameras = [s for s in streams if s.role == "camera"]
    images = {s.key.rsplit(".", 1)[-1]: _decode_images(bag, s, columns[s.key]) for s in cameras}
    info = {"source": "rosbag", "bag": str(bag.path.resolve()), "start_s": round(plan.start_s, 6),
            "end_s": round(plan.end_s, 6), "frames_dropped": plan.report.dropped_frames}  # fmt: skip
    return Episode(images, np.stack(columns[OBS_STATE]), np.stack(columns[ACTION]), task, info)


def _features(index: Index, streams: list[Stream]) -> dict:
    by_role = {s.role: s for s in streams if s.role != "camera"}
    shapes = {s.key.rsplit(".", 1)[-1]: index.shapes[s.key] for s in streams if s.role == "camera"}
    features = make_features(shapes, len(by_role["state"].joints), len(by_role["action"].joints))
    features[OBS_STATE]["names"] = list(by_role["state"].joints)
    features[ACTION]["names"] = list(by_role["action"].joints)
    return features


def write_dataset(
    bag: Bag, index: Index, streams: list[Stream], plans: list[EpisodePlan], out: Path, cfg
) -> list:
    """Writes the episodes that kept frames; one commit at the end, none if anything fails."""
    video = OmegaConf.to_container(cfg.video) if cfg.get("video") else None
    writer = EpisodeWriter(
        out, int(cfg.fps), _features(index, streams), repo_id=str(cfg.repo_id), commit_every=10**9,
        commit_every_s=None, video=video, robot_type=cfg.get("robot_type"),
    )  # fmt: skip
    written = []
    try:
        for plan in plans:
            if plan.frames:
                written.append(writer.add_episode(_episode(bag, streams, plan, str(cfg.task))))
    except BaseException:
        writer.abort()
        raise
    finally:
        writer.close()
    return written


def convert(bag_path: str | Path, out: str | Path, cfg: DictConfig, append: bool = False) -> dict:
    """The whole conversion (module doc); returns the report, also written to <out>/meta/."""
    out = Path(out).expanduser().resolve()
    check_config(cfg)
    if out.exists() and not append:
        raise BagError(f"{out} exists: choose a new folder, or pass --append to add the bag's episodes to it")
    streams = streams_of(cfg)
    episode_topic = cfg.episodes.get("topic") if cfg.get("episodes") else None
    with Bag(bag_path) as bag:
        check_topics(bag, streams, episode_topic)
        index = index_bag(bag, streams, episode_topic, str(cfg.stamps))
        plans, notes = plan_episodes(index, streams, cfg)
        written = write_dataset(bag, index, streams, plans, out, cfg)
        report = _report(bag, index, streams, plans, written, [*bag.notes, *notes], cfg)
    _write_report(out, report)
    return report


def _report(bag, index, streams, plans, written, notes, cfg) -> dict:
    episodes, written = [], iter(written)
    for plan in plans:
        row = {"episode_index": next(written) if plan.frames else None, **plan.as_dict()}
        episodes.append(row)
    return {
        "bag": str(bag.path.resolve()),
        "bag_start_ns": index.t0_ns,
        "bag_end_ns": index.end_ns,
        "config": OmegaConf.to_container(cfg, resolve=True),
        "stamps": index.stamp_source,
        "stamp_offset_s": {s.topic: round(_median_s(index.offsets_ns[s.key]), 6) for s in streams},
        "notes": notes,
        "episodes": episodes,
        "total": {"summary": total_report(plans).summary(), **_counts(total_report(plans))},
    }


def _counts(report: AlignReport) -> dict:
    return {
        "frames": report.frames,
        "dropped": {f"{reason} {stream}": n for (reason, stream), n in sorted(report.dropped.items())},
        "out_of_order": dict(sorted(report.out_of_order.items())),
    }


def _write_report(out: Path, report: dict) -> None:
    """meta/vla_rosbag_report.json: a list, one entry per bag converted into this dataset."""
    path = out / REPORT
    previous = json.loads(path.read_text()) if path.exists() else []
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps([*previous, report], indent=2) + "\n")
    os.replace(tmp, path)
