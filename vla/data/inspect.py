"""`vla dataset`: look at a LeRobotDataset v3 folder without writing code.

vla dataset info outputs/datasets/vla/PickCube-v0
vla dataset show outputs/datasets/vla/PickCube-v0 --episode 3 --out outputs/show
vla dataset check outputs/datasets/vla/PickCube-v0 [--job train|record|info]
vla dataset reencode PATH          # videos rewritten with every frame a keyframe (h264), parquet kept
vla dataset from-rosbag BAG OUT task="..." [key=value ...]   # a rosbag2 recording -> a dataset
vla dataset qa PATH [--types count caption] [--frames-per-episode 4]   # scene QA (vla/apps/scene_qa.py)
"""

import argparse
import json
import logging
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from vla.data import meta
from vla.data.checks import JOBS, find_problems

_EPILOG = (
    "Datasets recorded with `vla record` or any LeRobotDataset v3.0 folder on disk. See docs/datasets.md."
)


def _size(root: Path) -> str:
    n = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    return next(
        f"{n / 1024**i:.1f} {u}"
        for i, u in enumerate(("B", "KB", "MB", "GB"))
        if n < 1024 ** (i + 1) or u == "GB"
    )


def _feature_line(key: str, ft: dict) -> str:
    extra = ""
    if ft["dtype"] == "video":
        extra = f"codec {ft.get('info', {}).get('video.codec', '?')}"
    elif ft.get("names"):
        names = ft["names"] if isinstance(ft["names"], list) else next(iter(ft["names"].values()))
        extra = ", ".join(map(str, names))
    return f"  {key:<32} {ft['dtype']:<8} {tuple(ft['shape'])!s:<14} {extra}"


def info_text(root: str | Path) -> str:
    """The text `vla dataset info` prints."""
    root = Path(root)
    info = meta.read_info(root)
    episodes = meta.read_episodes(root)
    fps, frames = int(info["fps"]), int(info["total_frames"])
    lines = [
        f"dataset   {root.resolve()}",
        f"format    LeRobotDataset {info['codebase_version']}, robot {info.get('robot_type')}, "
        f"{_size(root)} on disk",
        f"episodes  {len(episodes)}   frames {frames}   fps {fps}   duration {frames / fps:.1f} s",
        f"length    min {min(e['length'] for e in episodes)}  mean {frames / max(len(episodes), 1):.1f}  "
        f"max {max(e['length'] for e in episodes)} frames",
        "features",
    ]
    lines += [_feature_line(k, ft) for k, ft in info["features"].items() if k not in meta.LEROBOT_COLUMNS]
    ep_count = Counter(t for e in episodes for t in e["tasks"])
    frame_count = Counter()
    for e in episodes:
        frame_count.update({t: e["length"] for t in e["tasks"]})
    width = max([36, *map(len, ep_count)])
    lines.append(f"{f'tasks ({len(ep_count)})':<{width + 3}}{'episodes':>8}  {'frames':>6}")
    lines += [f"  {task:<{width}} {n:>8}  {frame_count[task]:>6}" for task, n in sorted(ep_count.items())]
    rows = [r for r in meta.read_sidecar(root) if "seed" in r]  # rows of `vla record` (a bag's have none)
    if rows:
        envs = Counter(r.get("env_id") for r in rows)
        seeds = [r["seed"] for r in rows if "seed" in r]
        lines.append(
            f"recorded  by `vla record`: {dict(envs)}; seeds {min(seeds)}..{max(seeds)}; "
            f"policy {sorted({r.get('policy') for r in rows})}; "
            f"splits {sorted({str(r.get('split')) for r in rows})}"
        )
    return "\n".join(lines)


def _overlay(frames: dict[str, np.ndarray], task: str, t: int, n: int, scale: int) -> np.ndarray:
    """Cameras side by side (each (3, H, W) uint8), upscaled, with the instruction on a banner."""
    from PIL import Image, ImageDraw, ImageFont

    tiles = [
        np.kron(f.transpose(1, 2, 0), np.ones((scale, scale, 1), dtype=np.uint8)) for f in frames.values()
    ]
    row = np.concatenate(tiles, axis=1)  # (H*s, W*s*cams, 3)
    banner = 40
    canvas = Image.new("RGB", (row.shape[1], row.shape[0] + banner), (0, 0, 0))
    canvas.paste(Image.fromarray(row), (0, banner))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=14)
    draw.text((6, 3), task, fill=(255, 255, 255), font=font)
    draw.text((6, 21), f"{'  |  '.join(frames)}    frame {t + 1}/{n}", fill=(180, 180, 180), font=font)
    image = np.asarray(canvas)
    return image[: image.shape[0] // 2 * 2, : image.shape[1] // 2 * 2]  # even sizes for yuv420p


def write_video(path: Path, images: list[np.ndarray], fps: int) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = images[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for image in images:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())


def plot_episode(
    path: Path, state: np.ndarray, action: np.ndarray, names: list[str], title: str, fps: int
) -> None:
    """One subplot per joint: recorded state and commanded action against time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dims = action.shape[1]
    cols = 3 if dims > 4 else dims
    rows = -(-dims // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), squeeze=False, sharex=True)
    t = np.arange(len(action)) / fps
    for d, ax in enumerate(axes.flat):
        if d >= dims:
            ax.axis("off")
            continue
        if d < state.shape[1]:
            ax.plot(t, state[:, d], label="observation.state")
        ax.plot(t, action[:, d], "--", label="action")
        ax.set_title(names[d] if d < len(names) else f"dim {d}", fontsize=10)
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("time [s]")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def show(root: str | Path, episode: int, out: str | Path, scale: int = 3) -> tuple[Path, Path]:
    """Writes <out>/episode_<K>.mp4 (cameras + instruction) and episode_<K>.png (curves)."""
    from vla.data.memory import load_frames

    root, out = Path(root), Path(out)
    info = meta.read_info(root)
    if not 0 <= episode < int(info["total_episodes"]):
        raise ValueError(
            f"episode {episode} does not exist in {root}: it has episodes 0..{info['total_episodes'] - 1}"
        )
    frames = load_frames(root, [episode])
    task = frames.tasks[int(frames.task_index[0])]
    out.mkdir(parents=True, exist_ok=True)
    n = len(frames)
    cams = {meta_key.rsplit(".", 1)[-1]: imgs.numpy() for meta_key, imgs in frames.images.items()}
    video = out / f"episode_{episode:06d}.mp4"
    if cams:
        images = [_overlay({c: v[t] for c, v in cams.items()}, task, t, n, scale) for t in range(n)]
        write_video(video, images, int(info["fps"]))
    names = info["features"]["action"].get("names") or []
    plot = out / f"episode_{episode:06d}.png"
    title = f"{root.name} episode {episode}: {task}"
    plot_episode(plot, frames.state.numpy(), frames.action.numpy(), list(names), title, int(info["fps"]))
    return (video if cams else None), plot


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vla dataset", description="Inspect a LeRobotDataset v3 folder.", epilog=_EPILOG
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="{info,show,check,reencode,from-rosbag,qa}"
    )
    text = "episodes, frames, fps, features, tasks and counts"
    p = sub.add_parser("info", help=text, description=f"Print a dataset's {text}.", epilog=_EPILOG)
    p.add_argument("path", help="dataset folder (holds meta/info.json)")
    p.add_argument("--json", action="store_true", help="print dataset_features() as JSON instead")
    text = "an mp4 of an episode's cameras with the instruction overlaid + a PNG of its state/action curves"
    p = sub.add_parser("show", help=text, description=f"Write {text}.", epilog=_EPILOG)
    p.add_argument("path", help="dataset folder (holds meta/info.json)")
    p.add_argument("--episode", "-e", type=int, default=0, help="episode index (default 0)")
    p.add_argument(
        "--out", "-o", default=None, help="output folder (default outputs/dataset_show/<dataset name>)"
    )
    p.add_argument("--scale", type=int, default=3, help="integer upscaling of the camera images (default 3)")
    text = "every file readable, videos decodable, the features a job needs, video encoding safety"
    p = sub.add_parser("check", help=text, description=f"Check {text}; one line per problem.", epilog=_EPILOG)
    p.add_argument("path", help="dataset folder (holds meta/info.json)")
    p.add_argument(
        "--job", choices=JOBS, default="train", help="what the dataset must be fit for (default train)"
    )
    text = "rewrite the videos with every frame a keyframe (h264), keeping the parquet files"
    p = sub.add_parser("reencode", help=text, description=text.capitalize() + ".", epilog=_EPILOG)
    p.add_argument("path", help="dataset folder (holds meta/info.json)")
    p.add_argument(
        "--force", action="store_true", help="also files that are every-frame-keyframe h264 already"
    )
    _add_from_rosbag(sub)
    text = "scene questions with exact answers from the simulator -> meta/vla_qa.parquet"
    add_qa_arguments(
        sub.add_parser("qa", help=text, description=text[0].upper() + text[1:] + ".", epilog=_EPILOG)
    )
    return parser


def add_qa_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `vla dataset qa`, whose body is an app (vla/apps/scene_qa.py: it resets envs)."""
    from vla.data.qa import QA_TYPES

    parser.add_argument(
        "path", help="dataset folder recorded by `vla record` (holds meta/vla_episodes.jsonl)"
    )
    parser.add_argument(
        "--types", nargs="+", choices=QA_TYPES, default=None, metavar="TYPE",
        help=f"question types (default all): {', '.join(QA_TYPES)}",
    )  # fmt: skip
    parser.add_argument(
        "--frames-per-episode", type=int, default=1, metavar="N",
        help="frames asked about per episode: the first, then spread evenly to the last (default 1)",
    )  # fmt: skip
    parser.add_argument("--examples", type=int, default=8, help="example rows to print (default 8)")


_ROSBAG_EPILOG = """\
The config (conf/rosbag/so101.yaml unless --config says otherwise) maps topics to features; any key
can be overridden as key=value (Hydra's syntax: +key=value adds a key, ~key removes one):

  vla dataset from-rosbag bags/demo_01 outputs/datasets/so101_bin task="put the block in the bin"
  vla dataset from-rosbag bags/demo_01 OUT task=pick fps=15 ~cameras.wrist +cameras.top=/top/image_raw
  vla dataset from-rosbag bags/demo_01 OUT task=pick 'episodes.ranges=[[0,12.5],[14,30]]'
  vla dataset from-rosbag bags/demo_01 OUT task=pick episodes.topic=/vla/episode
  vla dataset from-rosbag bags/demo_01 OUT task=pick action.topic=/forward_position_controller/commands

Frames are aligned by header stamps: every 1/fps s each stream's newest sample at or before that
instant; a frame whose sample is older than max_age_s is dropped and counted. The report of what was
dropped is printed and written to OUT/meta/vla_rosbag_report.json. Nothing is written on failure.
See docs/real_robot.md, "Convert a rosbag2". The keys:

"""


def _add_from_rosbag(sub) -> None:
    from vla.config import CONF_DIR  # not vla.data.rosbag: `vla dataset info` need not import rosbags

    text = "convert a rosbag2 recording (sqlite3 or mcap) into a LeRobotDataset v3"  # not .capitalize()d
    keys = (Path(CONF_DIR) / "rosbag" / "so101.yaml").read_text()
    p = sub.add_parser(
        "from-rosbag", help=text, description="C" + text[1:] + ".",
        epilog=_ROSBAG_EPILOG + keys, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument(
        "bag", help="rosbag2 folder (holds metadata.yaml and *.db3 / *.mcap), or one .db3/.mcap file"
    )
    p.add_argument("out", help="the dataset folder to create")
    p.add_argument(
        "overrides", nargs="*", metavar="key=value", help="config overrides, e.g. task='...' fps=15"
    )
    p.add_argument("--config", default="so101", help="a conf/rosbag/ name or a .yaml path (default so101)")
    p.add_argument("--append", action="store_true", help="add the episodes to an existing dataset at OUT")


def _from_rosbag(args: argparse.Namespace) -> None:
    """Converts, prints the report (stdout), and the dataset's folder last."""
    try:
        from vla.data.rosbag import REPORT, convert, load_config
    except ModuleNotFoundError as exc:  # rosbags: a dependency of the package since from-rosbag
        raise ValueError(f"{exc}: `pip install rosbags` (or reinstall vla: `make setup`)") from None

    try:
        report = convert(args.bag, args.out, load_config(args.config, args.overrides), append=args.append)
    except OSError as exc:  # unreadable bag, full disk: the file and the reason, no traceback
        raise ValueError(str(exc)) from None
    for note in report["notes"]:
        print(f"note: {note}")
    header = [f"{t} ({how})" for t, how in report["stamps"].items() if how != "header"]
    if header:
        print(f"stamps: header.stamp, except {', '.join(header)}")
    for row in report["episodes"]:
        index = "skipped" if row["episode_index"] is None else f"episode {row['episode_index']}"
        gaps = ", ".join(f"{a:.3f}-{b:.3f} s" for a, b in row["gaps_s"])
        print(
            f"{index}: {row['start_s']:.3f}-{row['end_s']:.3f} s: {row['summary']}"
            + (f"; gaps {gaps}" if gaps else "")
        )
    print(f"total: {report['total']['summary']}")
    print(f"report: {Path(args.out) / REPORT}")
    print(Path(args.out).resolve())


def _check(path: str, job: str) -> int:
    """Prints one line per problem (stderr) and `ok` (stdout) when there is no error; the exit code."""
    problems = find_problems(path, job)
    for problem in problems:
        print(f"vla dataset check: {problem}", file=sys.stderr)
    if any(not p.warning for p in problems):
        return 1
    print(f"ok for {job}: {path}" + (f" ({len(problems)} warning(s))" if problems else ""))
    return 0


def _info(path: str, as_json: bool) -> int:
    """Prints the info, then every problem of the dataset; exit code 1 if one is an error."""
    problems = find_problems(path, "info")
    try:
        print(json.dumps(meta.dataset_features(path).to_dict(), indent=2) if as_json else info_text(path))
    except ValueError:  # the problems below name what could not be read
        if not problems:
            raise
    for problem in problems:
        print(f"vla dataset info: {problem}", file=sys.stderr)
    return 1 if any(not p.warning for p in problems) else 0


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    code = 0
    try:
        if args.command == "info":
            code = _info(args.path, args.json)
        elif args.command == "show":
            out = args.out or Path("outputs/dataset_show") / Path(args.path).resolve().name
            for path in show(args.path, args.episode, out, args.scale):
                if path is not None:
                    print(path)
        elif args.command == "check":
            code = _check(args.path, args.job)
        elif args.command == "qa":  # `vla dataset qa` runs vla.apps.scene_qa (vla/cli.py): it needs the envs
            raise ValueError("run it as `vla dataset qa PATH`: the questions come from the simulator's envs")
        elif args.command == "from-rosbag":
            logging.basicConfig(level=logging.WARNING, format="%(message)s")
            _from_rosbag(args)
        else:
            from vla.data.reencode import reencode

            logging.basicConfig(level=logging.INFO, format="%(message)s")
            done = reencode(args.path, force=args.force)
            print(f"re-encoded {len(done)} video file(s) of {args.path}")
            code = _check(args.path, "info")
    except (ValueError, RuntimeError) as exc:  # DatasetError included: a clear message, no traceback
        sys.exit(f"vla dataset {args.command}: {exc}")
    if code:
        sys.exit(code)
