"""Our ROS 2 message bytes are ROS 2's bytes: compared with `rosbags`, an independent CDR implementation.

For every type in vla.bridge.dds.MESSAGE_TYPES: our serialisation == rosbags' serialisation of the same
values, rosbags deserialises our bytes to those values, and we deserialise rosbags' bytes to ours.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rosbags.typesys import Stores, get_typestore

from vla.bridge import dds

TS = get_typestore(Stores.ROS2_HUMBLE)
R = TS.types


def _rb_time(sec: int, nanosec: int, name: str = "builtin_interfaces/msg/Time"):
    return R[name](sec=sec, nanosec=nanosec)


def _rb_header(sec: int, nanosec: int, frame: str):
    return R["std_msgs/msg/Header"](stamp=_rb_time(sec, nanosec), frame_id=frame)


def _header(sec: int, nanosec: int, frame: str) -> dds.Header:
    return dds.Header(stamp=dds.Time(sec, nanosec), frame_id=frame)


def _f64(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def _pairs() -> dict[str, tuple[object, object]]:
    """ROS type name -> (our message, rosbags message) holding the same values."""
    dim = [("rows", 2, 6), ("cols", 3, 3)]
    point = dict(positions=[0.1, -2.5], velocities=[], accelerations=[1e-9], effort=[math.pi])
    img = bytes(range(256)) * 3
    return {
        "builtin_interfaces/msg/Time": (dds.Time(-5, 999_999_999), _rb_time(-5, 999_999_999)),
        "builtin_interfaces/msg/Duration": (
            dds.Duration(7, 11),
            _rb_time(7, 11, "builtin_interfaces/msg/Duration"),
        ),
        "std_msgs/msg/Header": (_header(1, 2, "base_link"), _rb_header(1, 2, "base_link")),
        "std_msgs/msg/String": (
            dds.String("pick up the red cube ü"),
            R["std_msgs/msg/String"]("pick up the red cube ü"),
        ),
        "std_msgs/msg/Bool": (dds.Bool(True), R["std_msgs/msg/Bool"](True)),
        "std_msgs/msg/MultiArrayDimension": (
            dds.MultiArrayDimension("x", 4, 4),
            R["std_msgs/msg/MultiArrayDimension"]("x", 4, 4),
        ),
        "std_msgs/msg/MultiArrayLayout": (
            dds.MultiArrayLayout([dds.MultiArrayDimension(*d) for d in dim], 1),
            R["std_msgs/msg/MultiArrayLayout"]([R["std_msgs/msg/MultiArrayDimension"](*d) for d in dim], 1),
        ),
        "std_msgs/msg/Float64MultiArray": (
            dds.Float64MultiArray(
                dds.MultiArrayLayout([dds.MultiArrayDimension(*dim[0])], 0), [1.5, -0.0, 1e300]
            ),
            R["std_msgs/msg/Float64MultiArray"](
                R["std_msgs/msg/MultiArrayLayout"]([R["std_msgs/msg/MultiArrayDimension"](*dim[0])], 0),
                _f64([1.5, -0.0, 1e300]),
            ),
        ),
        "sensor_msgs/msg/JointState": (
            dds.JointState(_header(3, 4, ""), ["a", "bb", "ccc"], [1.0, 2.0, 3.0], [0.5], []),
            R["sensor_msgs/msg/JointState"](
                _rb_header(3, 4, ""), ["a", "bb", "ccc"], _f64([1, 2, 3]), _f64([0.5]), _f64([])
            ),
        ),
        "sensor_msgs/msg/Image": (
            dds.Image(_header(5, 6, "front"), 16, 16, "rgb8", 0, 48, img),
            R["sensor_msgs/msg/Image"](
                _rb_header(5, 6, "front"), 16, 16, "rgb8", 0, 48, np.frombuffer(img, np.uint8)
            ),
        ),
        "trajectory_msgs/msg/JointTrajectoryPoint": (
            dds.JointTrajectoryPoint(**point, time_from_start=dds.Duration(0, 20_000_000)),
            R["trajectory_msgs/msg/JointTrajectoryPoint"](
                **{k: _f64(v) for k, v in point.items()},
                time_from_start=_rb_time(0, 20_000_000, "builtin_interfaces/msg/Duration"),
            ),
        ),
        "trajectory_msgs/msg/JointTrajectory": (
            dds.JointTrajectory(
                _header(0, 0, "w"),
                ["j1", "j2"],
                [dds.JointTrajectoryPoint(**point, time_from_start=dds.Duration(1, 0))] * 2,
            ),
            R["trajectory_msgs/msg/JointTrajectory"](
                _rb_header(0, 0, "w"),
                ["j1", "j2"],
                [
                    R["trajectory_msgs/msg/JointTrajectoryPoint"](
                        **{k: _f64(v) for k, v in point.items()},
                        time_from_start=_rb_time(1, 0, "builtin_interfaces/msg/Duration"),
                    )
                ]
                * 2,
            ),
        ),
    }


def test_every_registered_type_is_covered() -> None:
    assert set(_pairs()) == set(dds.MESSAGE_TYPES)


def _same(ours: object, theirs: object) -> None:
    """Field-by-field equality between our message and a rosbags message."""
    if isinstance(theirs, np.ndarray):
        if theirs.dtype == np.uint8:
            assert bytes(ours) == theirs.tobytes()
        else:
            np.testing.assert_array_equal(np.asarray(ours, dtype=np.float64), theirs)
    elif isinstance(theirs, list):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            _same(a, b)
    elif hasattr(theirs, "__msgtype__"):
        for name in TS.fielddefs[theirs.__msgtype__][1]:
            _same(getattr(ours, name[0]), getattr(theirs, name[0]))
    else:
        assert ours == theirs


@pytest.mark.parametrize("ros_type", sorted(dds.MESSAGE_TYPES))
def test_bytes_equal_rosbags_both_ways(ros_type: str) -> None:
    ours, theirs = _pairs()[ros_type]
    our_bytes = dds.to_cdr(ours)
    their_bytes = bytes(TS.serialize_cdr(theirs, ros_type))
    assert our_bytes == their_bytes
    _same(ours, TS.deserialize_cdr(our_bytes, ros_type))  # rosbags reads ours
    back = dds.from_cdr(dds.MESSAGE_TYPES[ros_type], their_bytes)  # we read rosbags'
    assert dds.to_cdr(back) == their_bytes
    _same(back, theirs)


names = st.lists(st.text(max_size=12), max_size=8)
floats = st.lists(st.floats(allow_nan=False, width=64), max_size=8)


@settings(max_examples=60, deadline=None)
@given(
    sec=st.integers(-(2**31), 2**31 - 1),
    nanosec=st.integers(0, 2**32 - 1),
    frame=st.text(max_size=10),
    name=names,
    position=floats,
    velocity=floats,
    effort=floats,
)
def test_joint_state_bytes_equal_rosbags_for_any_values(
    sec, nanosec, frame, name, position, velocity, effort
) -> None:
    ours = dds.JointState(_header(sec, nanosec, frame), name, position, velocity, effort)
    theirs = R["sensor_msgs/msg/JointState"](
        _rb_header(sec, nanosec, frame), name, _f64(position), _f64(velocity), _f64(effort)
    )
    data = dds.to_cdr(ours)
    assert data == bytes(TS.serialize_cdr(theirs, "sensor_msgs/msg/JointState"))
    assert dds.to_cdr(dds.from_cdr(dds.JointState, data)) == data


@settings(max_examples=40, deadline=None)
@given(
    data=floats,
    labels=st.lists(st.tuples(st.text(max_size=5), st.integers(0, 99), st.integers(0, 99)), max_size=3),
)
def test_float64_multi_array_bytes_equal_rosbags_for_any_values(data, labels) -> None:
    ours = dds.Float64MultiArray(dds.MultiArrayLayout([dds.MultiArrayDimension(*d) for d in labels], 0), data)
    theirs = R["std_msgs/msg/Float64MultiArray"](
        R["std_msgs/msg/MultiArrayLayout"]([R["std_msgs/msg/MultiArrayDimension"](*d) for d in labels], 0),
        _f64(data),
    )
    assert dds.to_cdr(ours) == bytes(TS.serialize_cdr(theirs, "std_msgs/msg/Float64MultiArray"))


def test_topic_and_domain_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    assert dds.dds_topic("/joint_states") == "rt/joint_states"
    with pytest.raises(ValueError, match="absolute"):
        dds.dds_topic("joint_states")
    monkeypatch.setenv("ROS_DOMAIN_ID", "42")
    assert dds.domain_id_from_env() == 42
    assert dds.domain_id_from_env(7) == 7
    with pytest.raises(ValueError, match="ROS_DOMAIN_ID"):
        dds.domain_id_from_env(300)
    assert dds.JointState.__idl_typename__ == "sensor_msgs::msg::dds_::JointState_"
