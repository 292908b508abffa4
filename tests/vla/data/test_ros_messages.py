"""ROS message -> array rules (vla/data/ros_messages.py), on our messages and on rosbags' classes."""

import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore

from vla.bridge import dds
from vla.data.ros_messages import UnsupportedImageError, image_to_rgb, positions_by_name

TS = get_typestore(Stores.ROS2_HUMBLE)


def _image(enc: str, rgb: np.ndarray, pad: int = 0):
    h, w, _ = rgb.shape
    px = rgb[..., ::-1] if enc == "bgr8" else rgb
    rows = np.concatenate([px.reshape(h, 3 * w), np.zeros((h, pad), np.uint8)], axis=1)
    return dds.Image(dds.header_now(0.0), h, w, enc, 0, 3 * w + pad, rows.tobytes())


@pytest.mark.parametrize("enc", ["rgb8", "bgr8"])
@pytest.mark.parametrize("pad", [0, 4])
def test_rgb_and_bgr_images_come_out_rgb_with_row_padding_cut(enc: str, pad: int) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    assert np.array_equal(image_to_rgb(_image(enc, rgb, pad)), rgb)


def test_rosbags_image_messages_convert_the_same() -> None:
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    names = ("sensor_msgs/msg/Image", "std_msgs/msg/Header", "builtin_interfaces/msg/Time")
    image, header, time = (TS.types[n] for n in names)
    msg = image(header(time(0, 0), "cam"), 2, 3, "bgr8", 0, 9, rgb[..., ::-1].reshape(-1).copy())
    assert np.array_equal(image_to_rgb(msg), rgb)


def test_other_encodings_are_refused_by_name() -> None:
    msg = _image("rgb8", np.zeros((2, 2, 3), np.uint8))
    msg.encoding = "mono16"
    with pytest.raises(UnsupportedImageError, match=r"'mono16'.*rgb8 or bgr8"):
        image_to_rgb(msg)
    msg.encoding, msg.data = "rgb8", b"\0" * 5
    with pytest.raises(UnsupportedImageError, match="5 bytes"):
        image_to_rgb(msg)


def test_positions_are_picked_by_name_and_unknown_joints_named() -> None:
    msg = dds.joint_state(0.0, ["b", "a", "c"], [2.0, 1.0, 3.0])
    assert positions_by_name(msg, ["a", "b"]).tolist() == [1.0, 2.0]
    with pytest.raises(KeyError, match=r"no joint\(s\) \['z'\]"):
        positions_by_name(msg, ["a", "z"])
