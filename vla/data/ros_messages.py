"""ROS 2 messages -> arrays, one set of rules for the live bridge, `vla record source=ros2` and
`vla dataset from-rosbag` (their messages: ours from vla/bridge/dds.py, or rosbags' classes; both have
the ROS field names).

Images: rgb8 as is, bgr8 reversed to RGB, row padding (`step` > 3 x width) cut off; any other encoding
is refused with its name (convert it upstream, e.g. image_transport / cv_bridge to rgb8).
Joint states: positions picked by joint name, in the order the dataset or robot config lists them.
"""

from collections.abc import Sequence

import numpy as np

SUPPORTED_ENCODINGS = ("rgb8", "bgr8")


class UnsupportedImageError(ValueError):
    """An image this project cannot turn into RGB; the message names the encoding and the fix."""


def image_to_rgb(msg) -> np.ndarray:
    """A sensor_msgs/Image -> (H, W, 3) uint8 RGB."""
    h, w, step, enc = int(msg.height), int(msg.width), int(msg.step), str(msg.encoding)
    if enc not in SUPPORTED_ENCODINGS:
        raise UnsupportedImageError(
            f"image encoding {enc!r} ({w}x{h}) is not supported: publish {' or '.join(SUPPORTED_ENCODINGS)} "
            "(e.g. convert upstream with cv_bridge or an image_proc node)"
        )
    raw = msg.data  # bytes when written by us, a list from DDS, an array from rosbags
    data = np.frombuffer(raw, np.uint8) if isinstance(raw, bytes | bytearray) else np.asarray(raw, np.uint8)
    if step < 3 * w or data.size != h * step:
        raise UnsupportedImageError(
            f"image {w}x{h} {enc}: {data.size} bytes, step {step}; expected {h} rows of >= {3 * w} bytes"
        )
    rgb = data.reshape(h, step)[:, : 3 * w].reshape(h, w, 3)
    return np.ascontiguousarray(rgb[..., ::-1] if enc == "bgr8" else rgb)


def positions_by_name(msg, wanted: Sequence[str]) -> np.ndarray:
    """A sensor_msgs/JointState's positions for `wanted` joints, in that order (float32)."""
    names = list(msg.name)
    index = {n: i for i, n in enumerate(names)}
    missing = [n for n in wanted if n not in index]
    if missing:
        raise KeyError(f"joint state has no joint(s) {missing}; it names {names}")
    position = np.asarray(msg.position, dtype=np.float64)
    if len(position) != len(names):
        raise ValueError(f"joint state names {len(names)} joints but carries {len(position)} positions")
    return position[[index[n] for n in wanted]].astype(np.float32)
