"""rosbag2 bags written by rosbags' own writer (sqlite3 or mcap), shaped like an SO-101 teleoperation
recording: follower /joint_states, leader /leader/joint_states, two cameras (front rgb8, wrist bgr8).

Every sample says which it is, so a test can tell from the dataset which sample a frame took:
joint positions are `index + joint / 10` (the leader's + 1000), and camera image k is a flat colour
(R, G) = ((37 k) % 200 + 20, (11 k) % 180 + 40), unique for k < 1800, with B fixed per camera.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

TYPES = get_typestore(Stores.LATEST)
JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
JOINT_STATE, IMAGE = "sensor_msgs/msg/JointState", "sensor_msgs/msg/Image"
FLOAT_ARRAY, COMMANDS = "std_msgs/msg/Float64MultiArray", "/forward_position_controller/commands"
CAMERA_BLUE = {"front": 90, "wrist": 160}
LEADER_OFFSET = 1000.0
T0 = 1_764_000_000  # seconds since the epoch at scene time 0 (stamps below are relative to it)


@dataclass
class Sample:
    topic: str
    msgtype: str
    recv_ns: int  # when the bag received it (its storage timestamp)
    msg: object
    stamp_s: float | None = None  # the header stamp in scene seconds (None: no header); stamp_ns() of it
    value: object = None  # what the dataset should hold for it (positions, RGB image)

    @property
    def time_ns(self) -> int:
        """The time the alignment uses: the header stamp, or the receive time without a header."""
        return self.recv_ns if self.stamp_s is None else stamp_ns(self.stamp_s)


@dataclass
class Scene:
    samples: list[Sample] = field(default_factory=list)

    def of(self, topic: str) -> list[Sample]:
        return [s for s in self.samples if s.topic == topic]


def stamp_ns(seconds: float) -> int:
    """Scene time in seconds -> nanoseconds since the epoch, as headers and the bag carry it."""
    return T0 * 10**9 + round(seconds * 1e9)


def _time(seconds: float):
    ns = stamp_ns(seconds)
    return TYPES.types["builtin_interfaces/msg/Time"](sec=ns // 10**9, nanosec=ns % 10**9)


def _header(seconds: float, frame: str = ""):
    return TYPES.types["std_msgs/msg/Header"](stamp=_time(seconds), frame_id=frame)


def joint_state(stamp_s: float, names: list[str], positions) -> object:
    zeros = np.zeros(len(names))
    cls = TYPES.types[JOINT_STATE]
    return cls(_header(stamp_s), list(names), np.asarray(positions, np.float64), zeros, zeros)


def image_colour(k: int, camera: str) -> np.ndarray:
    return np.array([(37 * k) % 200 + 20, (11 * k) % 180 + 40, CAMERA_BLUE[camera]], np.uint8)


def image(stamp_s: float, rgb: np.ndarray, encoding: str = "rgb8") -> object:
    h, w, _ = rgb.shape
    pixels = rgb[..., ::-1] if encoding == "bgr8" else rgb
    data = np.ascontiguousarray(pixels, np.uint8).reshape(-1)
    return TYPES.types[IMAGE](_header(stamp_s, "cam"), h, w, encoding, 0, 3 * w, data)


def std_msg(kind: str, value) -> object:
    return TYPES.types[f"std_msgs/msg/{kind}"](value)


def float_array(values) -> object:
    layout = TYPES.types["std_msgs/msg/MultiArrayLayout"]([], 0)
    return TYPES.types["std_msgs/msg/Float64MultiArray"](layout, np.asarray(values, np.float64))


def so101_scene(
    seconds: float = 8.0,
    joint_hz: float = 50.0,
    camera_hz: float = 15.0,
    size: tuple[int, int] = (24, 32),
    wrist_gap: tuple[float, float] | None = (3.0, 5.0),
    swapped: tuple[int, ...] = (20, 60),
    seed: int = 0,
    clock_offsets: dict[str, float] | None = None,
    command_action: bool = False,
) -> Scene:
    """Follower and leader joint states at `joint_hz`, cameras at `camera_hz`, all with +-3 ms jitter
    on their stamps and 1-6 ms of delivery latency; the wrist camera sends nothing during `wrist_gap`;
    follower states `k` and `k + 1` for k in `swapped` reach the bag in the other order (their stamps
    go backwards once each). `clock_offsets` {camera: s} shifts a camera's header stamps (not its
    receive times): a clock that differs. `command_action`: the action is a Float64MultiArray on
    /forward_position_controller/commands (no header) instead of the leader's joint states."""
    rng = np.random.default_rng(seed)
    scene = Scene()
    scrambled = [JOINTS[i] for i in (3, 0, 5, 1, 4, 2)] + ["extra_joint"]  # names by name, not order

    def add(topic, msgtype, stamp, msg, value, header_s=None):
        recv = stamp_ns(stamp + rng.uniform(0.001, 0.006))
        scene.samples.append(Sample(topic, msgtype, recv, msg, header_s, value))

    for k in range(int(seconds * joint_hz)):
        for topic, offset in (("/joint_states", 0.0), ("/leader/joint_states", LEADER_OFFSET)):
            stamp = k / joint_hz + rng.uniform(-0.003, 0.003)
            positions = offset + k + np.arange(len(JOINTS)) / 10
            by_name = dict(zip(JOINTS, positions, strict=True)) | {"extra_joint": -1.0}
            if command_action and topic != "/joint_states":
                add(COMMANDS, FLOAT_ARRAY, stamp, float_array(positions), positions.astype(np.float32))
                continue
            msg = joint_state(stamp, scrambled, [by_name[n] for n in scrambled])
            add(topic, JOINT_STATE, stamp, msg, positions.astype(np.float32), stamp)
    for k in range(int(seconds * camera_hz)):
        for camera, encoding in (("front", "rgb8"), ("wrist", "bgr8")):
            stamp = k / camera_hz + rng.uniform(-0.003, 0.003)
            if camera == "wrist" and wrist_gap and wrist_gap[0] <= stamp < wrist_gap[1]:
                continue
            rgb = np.broadcast_to(image_colour(k, camera), (*size, 3)).copy()
            header = stamp + (clock_offsets or {}).get(camera, 0.0)
            add(f"/{camera}/image_raw", IMAGE, stamp, image(header, rgb, encoding), rgb, header)
    scene.samples.sort(key=lambda s: s.recv_ns)
    follower = [i for i, s in enumerate(scene.samples) if s.topic == "/joint_states"]
    for k in (k for k in swapped if k + 1 < len(follower)):  # deliver follower state k + 1 before k
        a, b = follower[k], follower[k + 1]
        scene.samples[a], scene.samples[b] = scene.samples[b], scene.samples[a]
        scene.samples[a].recv_ns, scene.samples[b].recv_ns = (
            scene.samples[b].recv_ns,
            scene.samples[a].recv_ns,
        )
    return scene


def write_bag(path: Path, samples: list[Sample], storage: str = "sqlite3") -> Path:
    """A rosbag2 folder at `path` holding `samples` in list order (storage: sqlite3 | mcap)."""
    plugin = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}[storage]
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        connections = {}
        for s in samples:
            if s.topic not in connections:
                connections[s.topic] = writer.add_connection(s.topic, s.msgtype, typestore=TYPES)
            writer.write(connections[s.topic], s.recv_ns, TYPES.serialize_cdr(s.msg, s.msgtype))
    return path


def add_markers(scene: Scene, topic: str, events: list[tuple[float, object]], kind: str = "Bool") -> None:
    """Episode markers (std_msgs/Bool or String, no header) received at the given scene times."""
    for t, value in events:
        scene.samples.append(Sample(topic, f"std_msgs/msg/{kind}", stamp_ns(t), std_msg(kind, value)))
    scene.samples.sort(key=lambda s: s.recv_ns)
