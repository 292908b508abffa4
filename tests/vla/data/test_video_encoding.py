"""Decoded video frames must not depend on later frames (real lerobot writer, real h264/AV1 encoders).

A policy sees one live camera frame; if a training frame's pixels change with the frames after it,
the policy learns to read the future from them (it did: 97% of held-out episode starts "knew" the
target from compression artefacts alone, and 33% -- chance -- with live images).
"""

from pathlib import Path

import numpy as np

from vla.constants import image_key
from vla.data.memory import load_frames
from vla.data.writer import CAUSAL_VIDEO, Episode, EpisodeWriter, features_of

T, SIZE = 6, 32


def _moving_square(x0: int, dx: int) -> np.ndarray:
    """(T, SIZE, SIZE, 3) uint8: a red square moving by `dx` px per frame over a beige table."""
    frames = np.full((T, SIZE, SIZE, 3), (200, 190, 170), np.uint8)
    for t in range(T):
        x = int(np.clip(x0 + dx * t, 0, SIZE - 8))
        frames[t, 12:20, x : x + 8] = (200, 30, 30)
    return frames


def _future_changes(tmp_path: Path, video: dict) -> list[int]:
    """Per t: max pixel change of decoded frame t when only the frames after t differ."""
    left, right = _moving_square(12, -3), _moving_square(12, 3)
    state = action = np.zeros((T, 6), np.float32)
    episodes = []
    for t in range(T - 1):  # pair t: frames 0..t equal, the future goes left in one, right in the other
        mixed = right.copy()
        mixed[: t + 1] = left[: t + 1]
        episodes += [
            Episode({"front": left}, state, action, "a"),
            Episode({"front": mixed}, state, action, "b"),
        ]
    root = tmp_path / "ds"
    with EpisodeWriter(root, 10, features_of(episodes[0]), commit_every=len(episodes), video=video) as writer:
        for episode in episodes:
            writer.add_episode(episode)
    decoded = load_frames(root).images[image_key("front")].numpy().astype(int)  # (2 (T-1) T, 3, S, S)
    return [int(np.abs(decoded[2 * t * T + t] - decoded[(2 * t + 1) * T + t]).max()) for t in range(T - 1)]


def test_the_default_encoding_is_causal(tmp_path: Path) -> None:
    assert _future_changes(tmp_path, CAUSAL_VIDEO) == [0] * (T - 1)


def test_a_keyframe_every_2_frames_leaks_later_frames(tmp_path: Path) -> None:
    """lerobot's GOP (g=2): the reason for CAUSAL_VIDEO, and proof that the check above can fail."""
    assert max(_future_changes(tmp_path, {"vcodec": "h264", "g": 2, "crf": 30})) > 0
