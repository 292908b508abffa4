"""Batch and observation keys, as LeRobot names them. Every module imports keys from here."""

OBS_IMAGES = "observation.images"  # prefix: f"{OBS_IMAGES}.{camera}"
OBS_STATE = "observation.state"
ACTION = "action"
ACTION_IS_PAD = "action_is_pad"
TASK = "task"  # the language instruction

# Joint order of the SO-101 arm used by the tabletop suite and the bridge defaults.
SO101_JOINTS = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")


def image_key(camera: str) -> str:
    """Batch key of one camera: image_key("front") == "observation.images.front"."""
    return f"{OBS_IMAGES}.{camera}"


def camera_of(key: str) -> str:
    """Inverse of image_key."""
    if not key.startswith(OBS_IMAGES + "."):
        raise ValueError(f"{key!r} is not an image key (expected '{OBS_IMAGES}.<camera>')")
    return key[len(OBS_IMAGES) + 1 :]
