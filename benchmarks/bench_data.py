"""Data throughput: recording frames/s (`vla record` path) and loading samples/s (batch 32).

    python -m benchmarks.bench_data                # writes the "data" section of BENCHMARKS.md
    python -m benchmarks.bench_data --episodes 10 --long-episodes 100 --batches 20 --no-write

A long recording (the demo's TouchCube, one commit, as training records) compares lerobot's default
video file size (every episode re-muxes the whole file: quadratic) with vla's VIDEO_FILE_MB files.

Loading compares lerobot's LeRobotDataset decoding the mp4 frames of every sample (mode="video",
the baseline) with vla's in-memory mode (every frame decoded once, batches sliced from uint8
tensors), both through vla.data.dataset.make_dataloader with the same batches.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import markdown_table, write_section
from vla.apps.record import record_dataset
from vla.data import writer
from vla.data.dataset import make_dataloader
from vla.data.meta import dataset_features

ENV_ID = "vla/PickCube-v0"
VIDEO = "video: lerobot LeRobotDataset + torch DataLoader (baseline)"


def bench_record(root: Path, episodes: int, image_size: int, workers: int) -> dict[str, float]:
    kwargs = {"image_size": image_size, "cameras": ["front", "wrist"]}
    start = time.perf_counter()
    result = record_dataset(
        ENV_ID, root, episodes, "train", 0, env_kwargs=kwargs, num_workers=workers, progress=False
    )
    seconds = time.perf_counter() - start
    frames = dataset_features(root).num_frames
    return {"episodes": result.recorded, "frames": frames, "seconds": seconds, "frames_s": frames / seconds}


def bench_long_record(root: Path, episodes: int, file_mb: int) -> dict[str, float]:
    """The demo's recording: TouchCube slots, front camera, 2 workers, one commit; video files of file_mb."""
    default, writer.VIDEO_FILE_MB = writer.VIDEO_FILE_MB, file_mb
    try:
        kwargs = {"cameras": ["front"], "layout": "slots"}
        start = time.perf_counter()
        result = record_dataset(
            "vla/TouchCube-v0", root, episodes, "train", 1000, env_kwargs=kwargs, num_workers=2,
            commit_every=episodes, commit_every_s=None, progress=False,
        )  # fmt: skip
        seconds = time.perf_counter() - start
    finally:
        writer.VIDEO_FILE_MB = default
    frames = dataset_features(root).num_frames
    files = len(list(root.glob("videos/**/*.mp4")))
    return {"episodes": result.recorded, "frames": frames, "seconds": seconds, "files": files}


def bench_load(root: Path, mode: str, workers: int, batches: int, chunk: int = 10) -> dict[str, float]:
    """Samples/s over `batches` batches of 32 after one warm-up batch; setup time separately."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    loader = make_dataloader(
        root, chunk, 32, num_workers=workers, mode=mode, drop_last=True, persistent_workers=True
    )
    it, n = iter(loader), 0
    next(it)  # warm-up: workers started, decoders opened
    setup = time.perf_counter() - start
    start = time.perf_counter()
    while n < batches:
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            continue
        n += 1
    seconds = time.perf_counter() - start
    assert batch["action"].shape[0] == 32
    return {"setup_s": setup, "samples_s": n * 32 / seconds}


def _record_table(rows: list[tuple[str, dict]]) -> str:
    baseline = rows[0][1]["frames_s"]
    return markdown_table(
        ["recording", "episodes", "frames", "wall s", "frames/s", "vs 1 process"],
        [
            [
                name,
                r["episodes"],
                r["frames"],
                f"{r['seconds']:.1f}",
                f"{r['frames_s']:.1f}",
                f"{r['frames_s'] / baseline:.2f}x",
            ]
            for name, r in rows
        ],
    )


def _long_table(rows: list[tuple[str, dict]]) -> str:
    baseline = rows[0][1]["seconds"]
    body = [
        [
            name,
            r["episodes"],
            r["frames"],
            r["files"],
            f"{r['seconds']:.1f}",
            f"{baseline / r['seconds']:.2f}x",
        ]
        for name, r in rows
    ]
    return markdown_table(["video files", "episodes", "frames", "mp4 files", "wall s", "speed-up"], body)


def _load_table(rows: list[tuple[str, int, dict]], baseline: float) -> str:
    body = [
        [mode, workers, f"{r['setup_s']:.1f}", f"{r['samples_s']:.0f}", f"{r['samples_s'] / baseline:.1f}x"]
        for mode, workers, r in rows
    ]
    return markdown_table(
        ["loading (batch 32)", "workers", "setup s", "samples/s", "vs video, 2 workers"], body
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--episodes", type=int, default=30, help="episodes recorded (default 30)")
    parser.add_argument(
        "--long-episodes", type=int, default=600, help="episodes of the long recording (default 600)"
    )
    parser.add_argument("--image-size", type=int, default=96, help="camera image size (default 96)")
    parser.add_argument("--batches", type=int, default=40, help="timed batches per loader (default 40)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    import lerobot.datasets.lerobot_dataset  # noqa: F401  (~10 s import, not part of any timing)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "pick"
        records = [("1 process (inline)", bench_record(root, args.episodes, args.image_size, 1))]
        records.append(
            ("2 rollout workers", bench_record(Path(tmp) / "w2", args.episodes, args.image_size, 2))
        )
        from lerobot.datasets.utils import DEFAULT_VIDEO_FILE_SIZE_IN_MB

        lerobot_mb = DEFAULT_VIDEO_FILE_SIZE_IN_MB
        longs = [
            (
                f"{lerobot_mb} MB (lerobot's default; baseline)",
                bench_long_record(Path(tmp) / "l200", args.long_episodes, lerobot_mb),
            ),
            (
                f"{writer.VIDEO_FILE_MB} MB (vla)",
                bench_long_record(Path(tmp) / "l1", args.long_episodes, writer.VIDEO_FILE_MB),
            ),
        ]
        loads = [
            (VIDEO, 2, bench_load(root, "video", 2, args.batches)),
            (VIDEO, 0, bench_load(root, "video", 0, args.batches)),
            ("memory (decode once, uint8 in RAM)", 2, bench_load(root, "memory", 2, args.batches)),
            ("memory (decode once, uint8 in RAM)", 0, bench_load(root, "memory", 0, args.batches)),
        ]
    body = (
        f"{ENV_ID}, expert policy, cameras front+wrist at {args.image_size}x{args.image_size}, "
        "h264 with every frame a keyframe (vla's default), 10 fps; commit every 10 episodes. Wall time "
        "covers the whole `record_dataset` call (env probe, spawning the worker processes, rollouts, "
        "encoding, commits).\n\n"
        f"{_record_table(records)}\n\n"
        f"Long recording: vla/TouchCube-v0 (layout slots), front camera at 96x96, {args.long_episodes} "
        "episodes, 2 rollout workers, one commit (as `vla train` records its dataset). lerobot appends each "
        "episode to the current video file by rewriting the file; the file size limit bounds that.\n\n"
        f"{_long_table(longs)}\n\n"
        f"Loading: chunk_size 10, batch 32, {args.batches} timed batches after a warm-up batch; 'setup' = "
        "building the loader + first batch (memory mode decodes every frame then).\n\n"
        f"{_load_table(loads, loads[0][2]['samples_s'])}\n\n"
        "The machine's 2 cores are shared with other jobs "
        f"(load average {os.getloadavg()[0]:.1f} at the end of this run), so figures vary run to run; "
        "on 2 busy cores, extra processes (rollout or loader workers) mostly add start-up and IPC cost.\n"
    )
    argv = sys.argv[1:] if argv is None else argv
    command = "python -m benchmarks.bench_data" + (f" {' '.join(argv)}" if argv else "")
    if args.no_write:
        print(body)
    else:
        write_section("data", "Data: recording and loading", command, body)


if __name__ == "__main__":
    main()
