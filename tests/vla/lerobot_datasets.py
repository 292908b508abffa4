"""Datasets written by lerobot's own writer (`LeRobotDataset.create`), not ours: what a user brings from
a real robot. Shaped like an SO-101 recording made with lerobot's `lerobot-record`: two 480x640 cameras
(`laptop`, `phone`), 6 joints named `<joint>.pos`, 30 fps, lerobot's default video encoding (AV1, a
keyframe every 2 frames) unless `video` says otherwise."""

from pathlib import Path

import numpy as np

SO101_NAMES = [
    f"{j}.pos" for j in ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll")
]
SO101_NAMES.append("gripper.pos")
TASK = "put the block in the bin"


def so101_features(
    height: int = 480, width: int = 640, cameras: tuple[str, ...] = ("laptop", "phone")
) -> dict:
    image = {"dtype": "video", "shape": (height, width, 3), "names": ["height", "width", "channels"]}
    features = {f"observation.images.{cam}": dict(image) for cam in cameras}
    features["observation.state"] = {"dtype": "float32", "shape": (6,), "names": SO101_NAMES}
    features["action"] = {"dtype": "float32", "shape": (6,), "names": SO101_NAMES}
    return features


def frame_image(t: float, cam: int, height: int, width: int) -> np.ndarray:
    """A smooth picture (cheap to encode) with a bright square that moves with time."""
    img = np.zeros((height, width, 3), np.uint8)
    img[..., 0] = np.linspace(0, 120, width, dtype=np.uint8)[None]
    img[..., 2] = 60 + 40 * cam
    x = int((0.5 + 0.4 * np.sin(t)) * (width - 40))
    img[height // 3 : height // 3 + 40, x : x + 40] = 250
    return img


def write_so101_dataset(
    root: Path, episodes: int = 3, frames: int = 12, height: int = 480, width: int = 640, **create_kwargs
) -> Path:
    """Episode e, frame k: state = sin(t + j/2) of joint j at t = k/30 + e/3 s; action = state 1/30 s on."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ds = LeRobotDataset.create(
        "local/so101",
        30,
        so101_features(height, width),
        root=root,
        robot_type="so101_follower",
        **create_kwargs,
    )
    joints = np.arange(6) / 2
    for e in range(episodes):
        for k in range(frames):
            t = k / 30 + e / 3
            frame = {
                f"observation.images.{c}": frame_image(t, i, height, width)
                for i, c in enumerate(("laptop", "phone"))
            }
            frame["observation.state"] = np.sin(t + joints).astype(np.float32)
            frame["action"] = np.sin(t + 1 / 30 + joints).astype(np.float32)
            ds.add_frame({**frame, "task": TASK})
        ds.save_episode()
    ds.finalize()
    return root
