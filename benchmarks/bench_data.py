"""Data throughput: recording frames/s (`vla record` path) and loading samples/s (batch 32).

    python -m benchmarks.bench_data                # writes results/data.json, BENCHMARKS.md "data"
    python -m benchmarks.bench_data --episodes 5 --long-episodes 4 --batches 2 --no-write   # smoke test

A long recording (the demo's TouchCube, one commit, as training records) compares lerobot's default
video file size (every episode re-muxes the whole file: quadratic) with vla's VIDEO_FILE_MB files.

Loading compares lerobot's LeRobotDataset decoding the mp4 frames of every sample (mode="video",
the baseline) with vla's in-memory mode (every frame decoded once, batches sliced from uint8
tensors), both through vla.data.dataset.make_dataloader with the same batches.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf

from benchmarks.common import command_line, markdown_table, write_section
from benchmarks.figures import FIGURES, speedup
from vla.apps.record import record_dataset
from vla.config import CONF_DIR
from vla.data import writer
from vla.data.dataset import make_dataloader
from vla.data.meta import dataset_features

ENV_ID = "vla/PickCube-v0"
CAMERAS = ["front", "wrist"]
LOAD_MODES = {
    "video": "video: lerobot LeRobotDataset + torch DataLoader (baseline)",
    "memory": "memory (decode once, uint8 in RAM)",
}


def record_defaults() -> dict:
    """`vla record`'s commit cadence and video settings (conf/record.yaml), so the benchmark records
    as the command does and says so."""
    cfg = OmegaConf.load(Path(CONF_DIR) / "record.yaml")
    return {
        "commit_every": cfg.commit_every,
        "commit_every_s": cfg.commit_every_s,
        "video": OmegaConf.to_container(cfg.video),
    }


def bench_record(root: Path, episodes: int, image_size: int, workers: int) -> dict[str, float]:
    kwargs = {"image_size": image_size, "cameras": CAMERAS}
    start = time.perf_counter()
    result = record_dataset(
        ENV_ID, root, episodes, "train", 0, env_kwargs=kwargs, num_workers=workers, progress=False,
        **record_defaults(),
    )  # fmt: skip
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
            commit_every=episodes, commit_every_s=None, video=record_defaults()["video"], progress=False,
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


def _long_table(rows: list[tuple[str, dict]], figures: dict) -> str:
    speedups = ["1.00x", FIGURES["data"]["long_speedup"](figures)]  # baseline, then vla's files
    body = [
        [name, r["episodes"], r["frames"], r["files"], f"{r['seconds']:.1f}", speedup]
        for (name, r), speedup in zip(rows, speedups, strict=True)
    ]
    return markdown_table(["video files", "episodes", "frames", "mp4 files", "wall s", "speed-up"], body)


def _load_table(rows: list[tuple[str, int, dict]], baseline: float) -> str:
    body = [
        [
            LOAD_MODES[mode],
            workers,
            f"{r['setup_s']:.1f}",
            f"{r['samples_s']:.0f}",
            speedup(r["samples_s"], baseline),
        ]
        for mode, workers, r in rows
    ]
    return markdown_table(
        ["loading (batch 32)", "workers", "setup s", "samples/s", "vs video, 2 workers"], body
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--episodes", type=int, default=30, help="episodes recorded (default 30)")
    parser.add_argument(
        "--long-episodes",
        type=int,
        default=1800,
        help="episodes of the long recording (default: the demo's 1800)",
    )
    parser.add_argument("--image-size", type=int, default=96, help="camera image size (default 96)")
    parser.add_argument("--batches", type=int, default=40, help="timed batches per loader (default 40)")
    parser.add_argument("--no-write", action="store_true", help="print only; write no results file")
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
            (mode, workers, bench_load(root, mode, workers, args.batches))
            for mode, workers in (("video", 2), ("video", 0), ("memory", 2), ("memory", 0))
        ]
    defaults = record_defaults()
    load = {f"{mode}_{workers}w": r["samples_s"] for mode, workers, r in loads}
    figures = {
        "env_id": ENV_ID,
        "cameras": CAMERAS,
        "image_size": args.image_size,
        "record_frames_s": {"inline": records[0][1]["frames_s"], "workers2": records[1][1]["frames_s"]},
        "long": {
            "episodes": args.long_episodes,
            "frames": longs[1][1]["frames"],
            "baseline_mb": lerobot_mb,
            "baseline_s": longs[0][1]["seconds"],
            "vla_mb": writer.VIDEO_FILE_MB,
            "vla_s": longs[1][1]["seconds"],
        },
        "load_samples_s": load,
        "commit_every": defaults["commit_every"],
        "commit_every_s": defaults["commit_every_s"],
    }
    every_s = defaults["commit_every_s"]
    cadence = f"every {defaults['commit_every']} episodes" + (f" or {every_s} s" if every_s else "")
    video = ", ".join(f"{k} {v}" for k, v in defaults["video"].items())
    body = (
        f"{ENV_ID}, expert policy, cameras {'+'.join(CAMERAS)} at {args.image_size}x{args.image_size}, "
        f"as `vla record` records (conf/record.yaml): video {video}, commit {cadence}, "
        "10 fps. Wall time covers the whole `record_dataset` call (env probe, spawning the worker "
        "processes, rollouts, encoding, commits).\n\n"
        f"{_record_table(records)}\n\n"
        f"Long recording: vla/TouchCube-v0 (layout slots), front camera at 96x96, {args.long_episodes} "
        "episodes, 2 rollout workers, one commit (as `vla train` records its dataset). lerobot appends each "
        "episode to the current video file by rewriting the file; the file size limit bounds that.\n\n"
        f"{_long_table(longs, figures)}\n\n"
        f"Loading: chunk_size 10, batch 32, {args.batches} timed batches after a warm-up batch; 'setup' = "
        "building the loader + first batch (memory mode decodes every frame then).\n\n"
        f"{_load_table(loads, loads[0][2]['samples_s'])}\n\n"
        f"Load average {os.getloadavg()[0]:.1f} at the end of this run (other jobs on the machine slow "
        "the figures); on 2 cores, extra processes (rollout or loader workers) mostly add start-up and "
        "IPC cost.\n"
    )
    title = "Data: recording and loading"
    write_section("data", title, command_line("bench_data", argv), body, figures, dry_run=args.no_write)
    return figures


if __name__ == "__main__":
    main()
