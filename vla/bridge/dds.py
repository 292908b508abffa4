"""ROS 2 on the wire without ROS: message types and DDS plumbing (the only file importing cyclonedds).

Message types are ROS 2's `.msg` files written as IDL structs, field order exactly as ROS defines
them, with ROS's DDS type names (`sensor_msgs::msg::dds_::JointState_`): unkeyed and final, so
they serialise as XCDR1 (ROS's plain CDR). tests/bridge/test_msgs.py proves the bytes equal those
of `rosbags`, an independent implementation, both ways.

Topics follow ROS's mapping: ROS topic `/joint_states` is DDS topic `rt/joint_states`. The domain
is `ROS_DOMAIN_ID` (default 0) unless given. Participants talk over loopback only unless
`loopback_only=False` (the deploy config sets it for a real robot on the network).

Interoperation with ROS 2's default middleware (rmw_fastrtps_cpp, Fast DDS 3) needs two settings,
both in `cyclonedds_config` below and measured in docs/deploy.md "Middleware compatibility":
type information from Fast DDS participants is ignored (their XTypes type objects fail Cyclone's
validation, so no endpoint ever matched), and in loopback-only mode Cyclone re-announces itself
every second (Fast DDS announces only by multicast, which a loopback-only participant never hears).
"""

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cyclonedds.core import Policy as _Policy
from cyclonedds.core import Qos
from cyclonedds.domain import Domain, DomainParticipant
from cyclonedds.idl import IdlStruct
from cyclonedds.idl import types as t
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- message types (ROS 2 Humble .msg)


@dataclass
class Time(IdlStruct, typename="builtin_interfaces::msg::dds_::Time_"):
    sec: t.int32 = 0
    nanosec: t.uint32 = 0


@dataclass
class Duration(IdlStruct, typename="builtin_interfaces::msg::dds_::Duration_"):
    sec: t.int32 = 0
    nanosec: t.uint32 = 0


@dataclass
class Header(IdlStruct, typename="std_msgs::msg::dds_::Header_"):
    stamp: Time
    frame_id: str = ""


@dataclass
class String(IdlStruct, typename="std_msgs::msg::dds_::String_"):
    data: str = ""


@dataclass
class Bool(IdlStruct, typename="std_msgs::msg::dds_::Bool_"):
    data: bool = False


@dataclass
class MultiArrayDimension(IdlStruct, typename="std_msgs::msg::dds_::MultiArrayDimension_"):
    label: str = ""
    size: t.uint32 = 0
    stride: t.uint32 = 0


@dataclass
class MultiArrayLayout(IdlStruct, typename="std_msgs::msg::dds_::MultiArrayLayout_"):
    dim: t.sequence[MultiArrayDimension]
    data_offset: t.uint32 = 0


@dataclass
class Float64MultiArray(IdlStruct, typename="std_msgs::msg::dds_::Float64MultiArray_"):
    layout: MultiArrayLayout
    data: t.sequence[t.float64]


@dataclass
class JointState(IdlStruct, typename="sensor_msgs::msg::dds_::JointState_"):
    header: Header
    name: t.sequence[str]
    position: t.sequence[t.float64]
    velocity: t.sequence[t.float64]
    effort: t.sequence[t.float64]


@dataclass
class Image(IdlStruct, typename="sensor_msgs::msg::dds_::Image_"):
    header: Header
    height: t.uint32
    width: t.uint32
    encoding: str
    is_bigendian: t.uint8
    step: t.uint32
    # sequence<uint8>; writing accepts bytes (packed in one struct call), reading returns a list of ints.
    # (A plain `bytes` field would be faster but has no XTypes type object, so no topic can carry it.)
    data: t.sequence[t.uint8]


@dataclass
class JointTrajectoryPoint(IdlStruct, typename="trajectory_msgs::msg::dds_::JointTrajectoryPoint_"):
    positions: t.sequence[t.float64]
    velocities: t.sequence[t.float64]
    accelerations: t.sequence[t.float64]
    effort: t.sequence[t.float64]
    time_from_start: Duration


@dataclass
class JointTrajectory(IdlStruct, typename="trajectory_msgs::msg::dds_::JointTrajectory_"):
    header: Header
    joint_names: t.sequence[str]
    points: t.sequence[JointTrajectoryPoint]


# ROS type name -> our type; tests iterate over it to prove every type's bytes.
MESSAGE_TYPES: dict[str, type[IdlStruct]] = {
    "builtin_interfaces/msg/Time": Time,
    "builtin_interfaces/msg/Duration": Duration,
    "std_msgs/msg/Header": Header,
    "std_msgs/msg/String": String,
    "std_msgs/msg/Bool": Bool,
    "std_msgs/msg/MultiArrayDimension": MultiArrayDimension,
    "std_msgs/msg/MultiArrayLayout": MultiArrayLayout,
    "std_msgs/msg/Float64MultiArray": Float64MultiArray,
    "sensor_msgs/msg/JointState": JointState,
    "sensor_msgs/msg/Image": Image,
    "trajectory_msgs/msg/JointTrajectoryPoint": JointTrajectoryPoint,
    "trajectory_msgs/msg/JointTrajectory": JointTrajectory,
}


def stamp_from_seconds(seconds: float) -> Time:
    sec = int(seconds // 1)
    return Time(sec=sec, nanosec=min(round((seconds - sec) * 1e9), 999_999_999))


def seconds_from_stamp(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def header_now(clock_s: float, frame_id: str = "") -> Header:
    return Header(stamp=stamp_from_seconds(clock_s), frame_id=frame_id)


def to_cdr(msg: IdlStruct) -> bytes:
    """XCDR1 little-endian bytes with the 4-byte encapsulation header, as ROS 2 publishes them."""
    return msg.serialize(use_version_2=False)


def from_cdr(msg_type: type[IdlStruct], data: bytes) -> Any:
    return msg_type.deserialize(data)


# ---------------------------------------------------------------- QoS and participants


@dataclass(frozen=True)
class QosSpec:
    """Explicit QoS, as ROS 2 names it. A RELIABLE reader never matches a BEST_EFFORT writer."""

    reliability: str = "reliable"  # reliable | best_effort
    durability: str = "volatile"  # volatile | transient_local
    depth: int = 10  # KEEP_LAST depth

    def to_qos(self) -> Qos:
        # max_blocking_time in ns: a full writer history blocks write() at most 100 ms
        rel = {"reliable": _Policy.Reliability.Reliable(max_blocking_time=100_000_000), "best_effort": None}
        dur = {"volatile": _Policy.Durability.Volatile, "transient_local": _Policy.Durability.TransientLocal}
        if self.reliability not in rel or self.durability not in dur or self.depth < 1:
            raise ValueError(
                f"bad QoS {self}: reliability must be reliable|best_effort, durability volatile|"
                "transient_local, depth >= 1 (conf/bridge/*.yaml qos section)"
            )
        reliability = rel[self.reliability] or _Policy.Reliability.BestEffort
        return Qos(
            reliability,
            dur[self.durability],
            _Policy.History.KeepLast(self.depth),
            # XCDR1 only: ROS 2's plain CDR (rmw_cyclonedds writes and expects XCDR1)
            _Policy.DataRepresentation(use_cdrv0_representation=True),
        )


# Fast DDS's RTPS vendor id (eProsima, 0x010f). Its endpoints announce XTypes type information whose
# type objects Cyclone rejects ("invalid member flags 0": try-construct flags 0 on sequence elements),
# so the remote type never resolves and matching waits forever; with AllowInvalidTryConstruct they
# resolve but fail assignability (nested FINAL structs with other hashes are "not delimited").
# Ignoring the type information of this vendor only falls back to matching on the type name; our
# types keep ROS's exact names and bytes (tests/bridge/test_msgs.py), and Cyclone peers (ours
# included) still check assignability as before.
FASTDDS_VENDOR_ID = "1.15"
_COMPAT_XML = (
    f"<Compatibility><IgnoreTypeInformation>{FASTDDS_VENDOR_ID}</IgnoreTypeInformation></Compatibility>"
)

# Loopback only: no multicast (Linux `lo` has none), unicast discovery to the ports of participant
# indices 0..60 on 127.0.0.1. Fast DDS sends its announcements by multicast only, so it learns of
# us only from our unicast announcements; Cyclone's default period left a Fast DDS node started
# after us undiscovered for > 70 s (measured), a 1 s period finds it in ~1-2 s.
_LOOPBACK_XML = (
    "<General><Interfaces><NetworkInterface address='127.0.0.1'/></Interfaces>"
    "<AllowMulticast>false</AllowMulticast></General><Discovery>"
    "<ParticipantIndex>auto</ParticipantIndex><MaxAutoParticipantIndex>60</MaxAutoParticipantIndex>"
    "<Peers><Peer address='127.0.0.1'/></Peers><SPDPInterval>1s</SPDPInterval></Discovery>"
)


def cyclonedds_config(loopback_only: bool) -> str:
    """The Cyclone DDS configuration of our participants (a CYCLONEDDS_URI-style string).

    A configuration given to a Domain replaces CYCLONEDDS_URI, so on the network it is appended after
    ours (later sources win): a user's interface or peer settings still apply.
    """
    body = _COMPAT_XML + (_LOOPBACK_XML if loopback_only else "")
    xml = f"<CycloneDDS><Domain id='any'>{body}</Domain></CycloneDDS>"
    user = os.environ.get("CYCLONEDDS_URI", "").strip()
    return f"{xml},{user}" if user and not loopback_only else xml


def domain_id_from_env(domain_id: int | None = None) -> int:
    """The given id, else ROS_DOMAIN_ID, else 0 (ROS 2's rule). Valid ids are 0..232."""
    value = domain_id if domain_id is not None else int(os.environ.get("ROS_DOMAIN_ID", "0"))
    if not 0 <= value <= 232:
        raise ValueError(f"ROS domain id {value} is outside 0..232; set ROS_DOMAIN_ID or bridge.domain_id")
    return value


def dds_topic(ros_topic: str) -> str:
    """ROS topic `/joint_states` -> DDS topic `rt/joint_states`."""
    if not ros_topic.startswith("/"):
        raise ValueError(f"ROS topic {ros_topic!r} must be absolute (start with '/')")
    return "rt" + ros_topic


_DOMAINS: dict[int, Domain] = {}  # configured once per process and domain, kept alive


class Node:
    """One DDS participant with typed writers and polled readers for ROS 2 topics."""

    def __init__(self, domain_id: int | None = None, loopback_only: bool = True) -> None:
        self.domain_id = domain_id_from_env(domain_id)
        # A Domain object configures the domain for this process before the participant joins it
        # (the first Node of a process on a domain decides its configuration).
        if self.domain_id not in _DOMAINS:
            _DOMAINS[self.domain_id] = Domain(self.domain_id, cyclonedds_config(loopback_only))
        self.participant = DomainParticipant(self.domain_id)
        self._topics: dict[str, Topic] = {}

    def _topic(self, ros_topic: str, msg_type: type[IdlStruct]) -> Topic:
        if ros_topic not in self._topics:
            self._topics[ros_topic] = Topic(self.participant, dds_topic(ros_topic), msg_type)
        return self._topics[ros_topic]

    def writer(self, ros_topic: str, msg_type: type[IdlStruct], qos: QosSpec = QosSpec()) -> DataWriter:
        return DataWriter(self.participant, self._topic(ros_topic, msg_type), qos.to_qos())

    def reader(self, ros_topic: str, msg_type: type[IdlStruct], qos: QosSpec = QosSpec()) -> "Reader":
        return Reader(DataReader(self.participant, self._topic(ros_topic, msg_type), qos.to_qos()))

    def image_reader(self, ros_topic: str, qos: QosSpec = QosSpec()) -> "ImageReader":
        """A sensor_msgs/Image reader whose messages carry their pixels as bytes (image_from_cdr)."""
        return ImageReader(DataReader(self.participant, self._topic(ros_topic, Image), qos.to_qos()))


class Reader:
    """Polled reader: take() returns every sample received since the last call, oldest first."""

    def __init__(self, reader: DataReader) -> None:
        self._reader = reader

    def take(self, max_samples: int = 256) -> list[Any]:
        return [s for s in self._reader.take(N=max_samples) if s is not None and _is_valid(s)]

    def latest(self) -> Any | None:
        samples = self.take()
        return samples[-1] if samples else None

    def matched(self) -> int:
        """Number of writers currently matched (discovery finished)."""
        return self._reader.get_subscription_matched_status().current_count


class ImageReader(Reader):
    """Reader of sensor_msgs/Image that decodes the bytes itself: cyclonedds' decoder turns the pixels
    into a list of ints (measured: 8 ms to decode and 33 ms to convert a 480x640 image), too slow for
    two cameras at 30 fps on a small PC; image_from_cdr slices them out as bytes."""

    def take(self, max_samples: int = 256) -> list[Any]:
        from cyclonedds._clayer import ddspy_take  # the serialised samples DataReader.take decodes
        from cyclonedds.core import DDSException, InstanceState, SampleState, ViewState

        mask = SampleState.Any | ViewState.Any | InstanceState.Any
        taken = ddspy_take(self._reader._ref, mask, max_samples)
        if isinstance(taken, int):
            raise DDSException(taken, f"taking images from {self._reader!r}")
        return [image_from_cdr(data) for data, info in taken if info.valid_data]


def image_from_cdr(data: bytes) -> Image:
    """sensor_msgs/Image from its XCDR1 bytes (with the encapsulation header), `data` as one bytes object.
    Little-endian plain CDR is what ROS 2 sends; anything else goes to cyclonedds' own decoder."""
    if data[:2] != b"\x00\x01":
        return Image.deserialize(data)
    body, pos = memoryview(data)[4:], 0  # CDR aligns each field to its size from the start of the body

    def u32() -> int:
        nonlocal pos
        pos = (pos + 3) & ~3
        pos += 4
        return int.from_bytes(body[pos - 4 : pos], "little")

    def string() -> str:
        nonlocal pos
        n = u32()  # length with the terminating NUL
        pos += n
        return bytes(body[pos - n : pos - 1]).decode()

    sec = int.from_bytes(body[0:4], "little", signed=True)
    pos = 4
    stamp = Time(sec=sec, nanosec=u32())
    header = Header(stamp=stamp, frame_id=string())
    height, width, encoding = u32(), u32(), string()
    is_bigendian = body[pos]
    pos += 1
    step, size = u32(), u32()
    return Image(header, height, width, encoding, is_bigendian, step, bytes(body[pos : pos + size]))


def _is_valid(sample: Any) -> bool:
    info = getattr(sample, "sample_info", None)
    return info is None or bool(info.valid_data)


def publication_matched(writer: DataWriter) -> int:
    return writer.get_publication_matched_status().current_count


def joint_state(stamp_s: float, names: Sequence[str], position: Sequence[float], velocity=(), effort=()):
    return JointState(
        header=header_now(stamp_s),
        name=list(names),
        position=[float(x) for x in position],
        velocity=[float(x) for x in velocity],
        effort=[float(x) for x in effort],
    )


def float64_array(values: Sequence[float]) -> Float64MultiArray:
    return Float64MultiArray(layout=MultiArrayLayout(dim=[], data_offset=0), data=[float(v) for v in values])


class TopicDirectory:
    """What `ros2 topic list -t` would show, from DDS discovery: every topic another participant writes,
    with its ROS type and reliability. For error messages ("nothing on /x; these topics exist: ...")."""

    def __init__(self, node: Node) -> None:
        from cyclonedds.builtin import BuiltinDataReader, BuiltinTopicDcpsPublication

        self._reader = BuiltinDataReader(node.participant, BuiltinTopicDcpsPublication)

    def published(self) -> dict[str, str]:
        """ROS topic -> 'ROS type (reliability)', for ROS topics (DDS names starting `rt/`) only."""
        found = {}
        for sample in self._reader.read(N=1000):
            name, type_name = str(sample.topic_name), str(sample.type_name)
            if name.startswith("rt/"):
                reliability = "best_effort" if "BestEffort" in str(sample.qos) else "reliable"
                found[name[2:]] = f"{ros_type_name(type_name)} ({reliability})"
        return dict(sorted(found.items()))


def ros_type_name(dds_type: str) -> str:
    """`sensor_msgs::msg::dds_::JointState_` -> `sensor_msgs/msg/JointState` (other names unchanged)."""
    parts = dds_type.split("::")
    if len(parts) == 4 and parts[2] == "dds_" and parts[3].endswith("_"):
        return f"{parts[0]}/{parts[1]}/{parts[3][:-1]}"
    return dds_type
