"""Bad input to `vla record source=ros2`, over real DDS in this process (a writer per topic on a private
domain): a silent topic is named with what is published instead, other image encodings, unknown joint
names and clocks that disagree are refused or dropped, counted and named once; control commands from
the topic and from single keys on a terminal (a pseudo-terminal here)."""

import logging
import os
import re
import sys
import time

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from tests.bridge import harness
from vla.apps.record_ros2 import stream_specs
from vla.apps.record_ros2_control import Controls, single_keys
from vla.apps.record_ros2_streams import Streams
from vla.bridge import dds
from vla.config import CONF_DIR
from vla.data.align import Aligner

STATE, FRONT, ACTION = "observation.state", "observation.images.front", "action"


def _config(*overrides: str):
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        return compose("record", overrides=["source=ros2", "ros2.cameras=[front]", *overrides])


@pytest.fixture
def wire():
    """The recorder's node, a writer factory on the robot's node that waits until the recorder's reader
    matched (a sample written before discovery would be lost), and the robot's node; a fresh domain."""
    domain = harness.fresh_domain()
    recorder, robot = dds.Node(domain), dds.Node(domain)

    def writer(topic: str, msg_type: type, qos: dds.QosSpec | None = None):
        w = robot.writer(topic, msg_type, qos or dds.QosSpec())
        deadline = time.monotonic() + 10
        while dds.publication_matched(w) < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        return w

    return recorder, writer, robot


def _streams(node: dds.Node, *overrides: str) -> Streams:
    cfg = _config(*overrides)
    return Streams(node, stream_specs(cfg.bridge, cfg.ros2), float(cfg.ros2.max_age_s))


def _poll_until(streams: Streams, done, timeout: float = 10.0) -> dict:
    got: dict = {}
    deadline = time.monotonic() + timeout
    while not done(streams) and time.monotonic() < deadline:
        for key, pairs in streams.poll().items():
            got.setdefault(key, []).extend(pairs)
        time.sleep(0.005)
    return got


def _image(encoding: str, stamp: float, h: int = 4, w: int = 6) -> dds.Image:
    return dds.Image(dds.header_now(stamp), h, w, encoding, 0, 3 * w, bytes(range(3 * w)) * h)


def test_a_silent_topic_is_named_with_the_topics_published_instead(wire) -> None:
    node, writer, robot = wire
    streams = _streams(node, "ros2.leader_topic=/leeder/joint_states")  # a typo
    js, img = writer("/joint_states", dds.JointState), writer("/front/image_raw", dds.Image)
    robot.writer("/leader/joint_states", dds.JointState)  # what the user meant: published, never read
    js.write(dds.joint_state(time.time(), harness.JOINTS, np.zeros(6)))
    img.write(_image("rgb8", time.time()))
    with pytest.raises(SystemExit) as stop:
        streams.wait_for_all(timeout_s=2.0)
    message = str(stop.value)
    assert "nothing usable received in 2 s" in message and "/leeder/joint_states" in message
    assert (
        "nobody publishes it" in message
        and "/leader/joint_states [sensor_msgs/msg/JointState (reliable)]" in message
    )
    assert (
        "/front/image_raw" not in message.split("from")[1].split("nobody")[0]
    )  # the ones heard are not blamed


def test_other_image_encodings_are_refused_counted_and_named(wire, caplog) -> None:
    node, writer, _ = wire
    streams = _streams(node)
    img = writer("/front/image_raw", dds.Image, dds.QosSpec("best_effort", depth=1))
    (front,) = [s for s in streams.streams if s.spec.key == FRONT]
    with caplog.at_level(logging.WARNING):
        for encoding in ("mono8", "bgr8", "16UC1"):
            img.write(_image(encoding, time.time()))
            _poll_until(streams, lambda s, n=front.received + 1: front.received >= n)
    assert front.refused == {"encoding": 2} and FRONT in streams.latest  # bgr8 converted, kept
    assert "image encoding 'mono8' (6x4) is not supported: publish rgb8 or bgr8" in caplog.text
    assert "16UC1" not in caplog.text  # named once per stream and reason, then counted
    assert "all refused" not in front.diagnosis(streams.directory)  # one usable image: not silent


def test_unknown_joint_names_are_named_with_the_joints_seen(wire) -> None:
    node, writer, _ = wire
    streams = _streams(node)
    js = writer("/joint_states", dds.JointState)
    names = ["shoulder_pan", "shoulder_lift", "elbow", "wrist_flex", "wrist_roll", "gripper"]
    js.write(dds.joint_state(time.time(), names, np.zeros(6)))
    (state,) = [s for s in streams.streams if s.spec.key == STATE]
    _poll_until(streams, lambda s: state.received >= 1)
    diagnosis = state.diagnosis(streams.directory)
    assert state.refused == {"joint_names": 1} and "1 message(s), all refused (1 joint_names)" in diagnosis
    assert "no joint(s) ['elbow_flex']" in diagnosis and "'elbow'" in diagnosis  # missing one and those seen


@pytest.mark.parametrize("offset_s", [-0.5, 0.5])
def test_a_clock_off_by_more_than_max_age_drops_frames_and_names_the_offset(wire, caplog, offset_s) -> None:
    """A robot clock 0.5 s behind: its samples are stale at every frame; 0.5 s ahead: refused (taken at
    a frame 0.5 s late otherwise). Either way no frame is kept and the warning names the offset."""
    node, writer, _ = wire
    streams = _streams(node, "ros2.cameras=[]")
    js, leader = writer("/joint_states", dds.JointState), writer("/leader/joint_states", dds.JointState)
    aligner = Aligner(streams.keys, max_age_s=0.1)
    with caplog.at_level(logging.WARNING):
        for _ in range(15):
            now = time.time()
            js.write(dds.joint_state(now + offset_s, harness.JOINTS, np.zeros(6)))
            leader.write(dds.joint_state(now, harness.JOINTS, np.ones(6)))
            time.sleep(0.02)
            for key, pairs in streams.poll().items():
                for stamp, value in pairs:
                    aligner.push(key, stamp, value)
            aligner.sample(time.time() - 0.01)
    where = "behind" if offset_s < 0 else "ahead of"
    assert re.search(
        rf"/joint_states \(observation.state\): header stamps are 0\.[45]\d\d s {where} this PC", caplog.text
    )
    assert aligner.report.frames == 0
    reason = "stale" if offset_s < 0 else "missing"  # refused future stamps never reach the aligner
    assert aligner.report.dropped[(reason, STATE)] >= 10
    assert "/leader/joint_states" not in caplog.text  # the leader's clock agrees


def test_control_commands_from_the_topic_and_single_keys_on_a_terminal(wire, monkeypatch, caplog) -> None:
    node, writer, _ = wire
    master, slave = os.openpty()
    monkeypatch.setattr(sys, "stdin", os.fdopen(slave, "r"))
    controls = Controls(node, "/vla/record/control", dds.QosSpec(), keyboard=True)
    control = writer("/vla/record/control", dds.String)
    with single_keys(True), caplog.at_level(logging.WARNING):
        for text in ("start", " Stop ", "rewind", "discard"):
            control.write(dds.String(text))
        os.write(master, b"\nxd q")
        got, deadline = [], time.monotonic() + 10
        while len(got) < 7 and time.monotonic() < deadline:
            got += controls.poll()
            time.sleep(0.01)
    assert got == ["start", "stop", "discard", "toggle", "discard", "toggle", "quit"]
    assert "unknown command 'rewind' ignored" in caplog.text
    os.close(master)


def test_commands_have_no_header_so_are_stamped_on_receipt_and_checked_for_size(wire) -> None:
    """ros2.action=command: the controller's Float64MultiArray as the action (no leader arm)."""
    node, writer, _ = wire
    streams = _streams(node, "ros2.cameras=[]", "ros2.action=command")
    cmd = writer("/forward_position_controller/commands", dds.Float64MultiArray)
    before = time.time()
    cmd.write(dds.float64_array(np.arange(6.0)))
    cmd.write(dds.float64_array(np.arange(5.0)))
    (action,) = [s for s in streams.streams if s.spec.key == ACTION]
    ((stamp, value),) = _poll_until(streams, lambda s: action.received >= 2)[ACTION]
    assert before <= stamp <= time.time() and value.tolist() == list(range(6))
    assert action.refused == {"invalid": 1} and "command has 5 values, the robot has 6" in action.last_refusal


def test_images_are_read_with_their_pixels_as_bytes_equal_to_cyclonedds_own_decoding(wire) -> None:
    """dds.image_from_cdr against cyclonedds' decoder (every padding case of the two strings and the
    byte before `step`), then a 480x640 image over the wire through the recorder's image reader."""
    for frame_id in ("", "a", "ab", "abc", "front_camera"):
        for encoding, width in (("rgb8", 1), ("bgr8", 3), ("mono16", 5), ("x", 2)):
            msg = dds.Image(
                dds.Header(dds.Time(-3, 123), frame_id), 2, width, encoding, width % 2, 3 * width + 1, b""
            )
            msg.data = bytes(range(2 * msg.step))
            ours, theirs = dds.image_from_cdr(dds.to_cdr(msg)), dds.from_cdr(dds.Image, dds.to_cdr(msg))
            assert ours.data == bytes(theirs.data) and ours.header == theirs.header
            assert [getattr(ours, f) for f in ("height", "width", "encoding", "is_bigendian", "step")] == [
                getattr(theirs, f) for f in ("height", "width", "encoding", "is_bigendian", "step")
            ]
    node, writer, _ = wire
    streams = _streams(node)
    pixels = np.random.default_rng(0).integers(0, 256, (480, 640, 3), np.uint8)
    img = writer("/front/image_raw", dds.Image, dds.QosSpec("best_effort", depth=1))
    img.write(dds.Image(dds.header_now(time.time()), 480, 640, "rgb8", 0, 1920, pixels.tobytes()))
    _poll_until(streams, lambda s: FRONT in s.latest)
    assert np.array_equal(streams.latest[FRONT][1], pixels)
