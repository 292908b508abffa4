"""The topics `vla record source=ros2` reads: each a stream of (stamp, array) for the Aligner, with the
bad input counted and named once (wrong image encoding, unknown joint names, clocks that disagree) and
a diagnosis for a topic that stays silent (what discovery says is published instead).

Stamps: a message's header stamp (the robot's clock); a message without a header
(std_msgs/Float64MultiArray commands) is stamped with this PC's clock when it is taken from the reader.
"""

import logging
import statistics
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vla.bridge import dds
from vla.data.ros_messages import UnsupportedImageError, positions_by_name

log = logging.getLogger(__name__)

OFFSET_WINDOW = 50  # polls over which a stream's clock offset is taken (median: robust to one late one)
MIN_OFFSETS = 10  # polls with a message before an offset is judged


class FutureStampError(ValueError):
    """A header stamp ahead of this PC's clock by more than max_age_s."""


REFUSAL_REASONS = {
    UnsupportedImageError: "encoding",
    KeyError: "joint_names",
    FutureStampError: "future_stamp",
}


@dataclass
class StreamSpec:
    """One dataset key fed by one ROS topic."""

    key: str  # dataset feature: observation.state, observation.images.<cam>, action
    topic: str
    msg_type: type
    qos: dds.QosSpec
    convert: Callable[[Any], np.ndarray]  # message -> array; raises ValueError/KeyError on bad input
    has_header: bool = True
    # waited for at start-up (an image's shape is only known from one); a controller's command topic is
    # silent until someone moves the arm, so it is only watched while recording
    needed_at_start: bool = True

    @property
    def ros_type(self) -> str:
        return dds.ros_type_name(self.msg_type.__idl_typename__)  # type: ignore[attr-defined]


def joint_positions(names: list[str]) -> Callable[[Any], np.ndarray]:
    return lambda msg: positions_by_name(msg, names)


def command_positions(size: int) -> Callable[[Any], np.ndarray]:
    def convert(msg: Any) -> np.ndarray:
        data = np.asarray(msg.data, dtype=np.float32)
        if data.shape != (size,):
            raise ValueError(
                f"command has {data.size} values, the robot has {size} joints (bridge.joint_names)"
            )
        return data

    return convert


@dataclass
class Stream:
    """A reader plus what it has seen: usable samples, refusals by reason, the clock offset."""

    spec: StreamSpec
    reader: dds.Reader
    max_age_s: float
    received: int = 0
    refused: Counter = field(default_factory=Counter)  # reason -> messages
    last_refusal: str = ""
    last_usable_wall: float | None = None  # this PC's clock when the last usable sample was taken
    offsets: deque = field(default_factory=lambda: deque(maxlen=OFFSET_WINDOW))  # now - newest stamp (s)
    shape: tuple | None = None  # of the first usable sample: later ones must match (a dataset feature)
    _warned: set = field(default_factory=set)

    def poll(self, now_wall: float) -> list[tuple[float, np.ndarray]]:
        """Every usable sample received since the last call, as (stamp, array)."""
        out, newest = [], None
        for msg in self.reader.take():
            self.received += 1
            stamp = dds.seconds_from_stamp(msg.header.stamp) if self.spec.has_header else now_wall
            newest = stamp if newest is None else max(newest, stamp)
            try:
                self._check_stamp(stamp, now_wall)
                value = self._same_shape(self.spec.convert(msg))
            except (UnsupportedImageError, KeyError, ValueError) as err:
                self._refuse(err)
                continue
            self.last_usable_wall = now_wall
            out.append((stamp, value))
        # the newest only: older ones may have waited in the reader since the last poll
        if newest is not None:
            self.offsets.append(now_wall - newest)
            self._warn_clock()
        return out

    def _check_stamp(self, stamp: float, now_wall: float) -> None:
        if stamp > now_wall + self.max_age_s:
            # a frame at t takes samples stamped <= t: one from a clock running ahead would be taken
            # late and silently misplaced, so it is refused (counted) as a stale one is dropped
            raise FutureStampError(f"stamped {stamp - now_wall:.3f} s in the future of this PC's clock")

    def _same_shape(self, value: np.ndarray) -> np.ndarray:
        self.shape = value.shape if self.shape is None else self.shape
        if value.shape != self.shape:
            raise ValueError(f"shape {value.shape} differs from the first message's {self.shape}")
        return value

    def _refuse(self, err: Exception) -> None:
        reason = REFUSAL_REASONS.get(type(err), "invalid")
        self.refused[reason] += 1
        self.last_refusal = str(err).strip("'\"")
        if reason not in self._warned:
            self._warned.add(reason)
            log.warning("%s (%s): message refused and counted: %s", self.spec.topic, self.spec.key,
                        self.last_refusal)  # fmt: skip

    def clock_offset(self) -> float | None:
        """Median over the last polls of (this PC's clock - the newest header stamp taken): > 0 = behind.
        It includes the transport delay and up to one poll period; a stamp-less stream reads 0."""
        return statistics.median(self.offsets) if self.offsets else None

    def _warn_clock(self) -> None:
        offset = self.clock_offset()
        if len(self.offsets) < MIN_OFFSETS or abs(offset) <= self.max_age_s or "clock" in self._warned:
            return
        self._warned.add("clock")
        behind = offset > 0
        effect = "frames are dropped as stale" if behind else "its messages are refused (future_stamp)"
        log.warning(
            "%s (%s): header stamps are %.3f s %s this PC's clock (median over %d polls), more than "
            "max_age_s=%.3f: %s. Synchronise the clocks (chrony/PTP)%s",
            self.spec.topic, self.spec.key, abs(offset), "behind" if behind else "ahead of",
            len(self.offsets), self.max_age_s, effect,
            ", or raise ros2.max_age_s if this is real transport delay" if behind else "",
        )  # fmt: skip

    def silent_for(self, now_wall: float, since: float) -> float:
        """Seconds without a usable sample (counted from `since` if there never was one)."""
        return now_wall - (self.last_usable_wall if self.last_usable_wall is not None else since)

    def diagnosis(self, directory: dds.TopicDirectory) -> str:
        """Why nothing usable arrived: refusals, matched writers, and what is published instead."""
        spec = self.spec
        head = f"{spec.topic} ({spec.ros_type}, {spec.qos.reliability}) for {spec.key}: "
        if self.refused:
            counts = ", ".join(f"{n} {reason}" for reason, n in sorted(self.refused.items()))
            usable = self.received - sum(self.refused.values())
            verdict = "all refused" if usable == 0 else f"{usable} usable, the others refused"
            return head + f"{self.received} message(s), {verdict} ({counts}); last: {self.last_refusal}"
        published = directory.published()
        if spec.topic in published:
            return head + (
                f"no message, though a writer publishes it as {published[spec.topic]}; "
                f"{self.reader.matched()} matched (a type or QoS mismatch: `ros2 topic info -v {spec.topic}`)"
            )
        listing = "\n".join(f"    {topic} [{kind}]" for topic, kind in published.items()) or "    (none)"
        return head + (
            "nobody publishes it. Topics published on this domain (as `ros2 topic list -t`):\n" + listing
        )


def _reader(node: dds.Node, spec: StreamSpec) -> dds.Reader:
    """Images through the reader that keeps their pixels as bytes (a 480x640 image: 0.1 ms instead of 40)."""
    if spec.msg_type is dds.Image:
        return node.image_reader(spec.topic, spec.qos)
    return node.reader(spec.topic, spec.msg_type, spec.qos)


class Streams:
    """All streams of a recording, read together; the newest sample of each is kept between episodes."""

    def __init__(self, node: dds.Node, specs: list[StreamSpec], max_age_s: float) -> None:
        self.node = node
        self.streams = [Stream(s, _reader(node, s), max_age_s) for s in specs]
        self.directory = dds.TopicDirectory(node)
        self.latest: dict[str, tuple[float, np.ndarray]] = {}
        self._silent_warned: set[str] = set()

    @property
    def keys(self) -> list[str]:
        return [s.spec.key for s in self.streams]

    def poll(self) -> dict[str, list[tuple[float, np.ndarray]]]:
        now = time.time()
        out = {}
        for stream in self.streams:
            samples = stream.poll(now)
            if samples:
                newest = max(samples, key=lambda s: s[0])
                if stream.spec.key not in self.latest or newest[0] >= self.latest[stream.spec.key][0]:
                    self.latest[stream.spec.key] = newest
            out[stream.spec.key] = samples
        return out

    def wait_for_all(self, timeout_s: float, poll_s: float = 0.01) -> None:
        """Until every stream needed at start has a usable sample; else SystemExit naming each silent
        topic and why."""
        needed = [s for s in self.streams if s.spec.needed_at_start]
        start = time.time()
        while time.time() - start < timeout_s:
            self.poll()
            if all(s.spec.key in self.latest for s in needed):
                return
            time.sleep(poll_s)
        silent = [s.diagnosis(self.directory) for s in needed if s.spec.key not in self.latest]
        raise SystemExit(
            f"vla record: nothing usable received in {timeout_s:g} s on domain {self.node.domain_id} from\n  "
            + "\n  ".join(silent)
            + "\nFix: the topic names (bridge.topics, ros2.*), bridge.joint_names, ROS_DOMAIN_ID / "
            "bridge.domain_id, bridge.loopback_only=false for a robot on the network (docs/real_robot.md)"
        )

    def warn_silent(self, timeout_s: float, since: float) -> None:
        """While recording: name a stream once it is silent for timeout_s (again after it recovers)."""
        now = time.time()
        for stream in self.streams:
            key = stream.spec.key
            if stream.silent_for(now, since) > timeout_s and key not in self._silent_warned:
                self._silent_warned.add(key)
                log.warning("no usable message for %.1f s: %s", timeout_s, stream.diagnosis(self.directory))
            elif stream.silent_for(now, since) <= timeout_s:
                self._silent_warned.discard(key)

    def counters(self) -> dict[str, dict]:
        """Per stream: messages received and refused by reason, and the clock offset (for the sidecar)."""
        return {
            s.spec.key: {
                "received": s.received,
                "refused": dict(s.refused),
                "clock_offset_s": s.clock_offset(),
            }
            for s in self.streams
        }
