"""`vla dataset reencode PATH`: rewrite a dataset's videos with every frame a keyframe (h264, crf 18), keeping
the parquet files as they are.

Datasets in lerobot's default encoding (AV1, a keyframe every 2 frames) let later frames into earlier
ones on decoding (docs/datasets.md, "Video encoding"), so a policy trained on them can read the arm's
next move from the current image. Re-encoding keeps every frame at its index and timestamp, so the
episodes' `from_timestamp`/`to_timestamp` in meta/episodes stay valid: only the mp4 files and the codec
entries of meta/info.json change. Each file is replaced atomically once its copy decodes to the same
number of frames; a run that is killed leaves a mix of old and new files, and running it again finishes.
"""

import fcntl
import json
import logging
import os
from pathlib import Path

from vla.data import meta
from vla.data.checks import SAFE_CODECS, video_encoding
from vla.data.writer import CAUSAL_VIDEO, lock_path

log = logging.getLogger(__name__)


def _frame_count(path: Path) -> int:
    from torchcodec.decoders import VideoDecoder

    return int(VideoDecoder(str(path), seek_mode="exact").metadata.num_frames)


def reencode_file(path: Path, video: dict) -> None:
    """Re-encodes one mp4 in place (through a sibling temporary file); raises if frames would be lost."""
    import av
    from lerobot.configs import RGBEncoderConfig
    from lerobot.datasets.video_utils import reencode_video

    # libx264 warns once per frame that the source's frame type was overridden (g=1 makes each an I frame)
    av.logging.set_libav_level(av.logging.ERROR)
    tmp = path.with_name(f".{path.stem}.reencode.mp4")
    tmp.unlink(missing_ok=True)
    try:
        reencode_video(path, tmp, RGBEncoderConfig(**video), overwrite=True, log_level=av.logging.ERROR)
        before, after = _frame_count(path), _frame_count(tmp)
        if before != after:
            raise meta.DatasetError(
                f"re-encoding {path} gave {after} frames instead of {before}; the file is left as it was: "
                "check it with `vla dataset check`"
            )
        tmp.chmod(0o644)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def reencode(root: str | Path, video: dict | None = None, force: bool = False) -> list[Path]:
    """Rewrites every video file of `root` that is not causal already (or all with force); returns them."""
    root = Path(root).expanduser().resolve()
    info = meta.read_info(root)
    video = {**CAUSAL_VIDEO, **(video or {})}
    with open(lock_path(root), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another process is writing to {root}; wait for it to finish") from None
        done = []
        for path in sorted(root.glob("videos/*/chunk-*/file-*.mp4")):
            codec, gap = video_encoding(path)
            if not force and codec in SAFE_CODECS and gap <= 1:
                continue
            log.info("re-encoding %s (%s, keyframe every %d frames)", path.relative_to(root), codec, gap)
            reencode_file(path, video)
            done.append(path)
        _update_info(root, info, video)
    return done


def _update_info(root: Path, info: dict, video: dict) -> None:
    """The codec entries of every video feature say what the files now hold."""
    for key in meta.image_keys(info):
        ft = info["features"][key]
        if ft["dtype"] == "video":
            ft.setdefault("info", {}).update({
                "video.codec": "h264" if video["vcodec"] in ("h264", "libx264") else video["vcodec"],
                "video.pix_fmt": "yuv420p", "video.g": video["g"], "video.crf": video["crf"],
            })  # fmt: skip
    path = root / "meta" / "info.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(info, indent=4))
    os.replace(tmp, path)
